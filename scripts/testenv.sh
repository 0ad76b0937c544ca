#!/usr/bin/env bash
# testenv.sh CMD…: prepare the services the tests need on this machine, export
# where they are, then run CMD. Each service has its own script under
# scripts/env.d/ that installs it from Debian's packages when missing, starts
# it on loopback, and prints `export VAR=…` lines on stdout.
#
# A service script that fails stops the run with its name and exit status:
# its output is captured first and only evaluated when it succeeded, so a
# broken install never turns into silently skipped suites.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
for s in "$here"/env.d/*.sh; do
	[ -e "$s" ] || continue
	name="$(basename "$s")"
	echo "testenv: $name" >&2
	rc=0
	out="$(bash "$s")" || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "testenv: $name failed (exit $rc): the services the tests need are not ready; stopping" >&2
		exit 1
	fi
	eval "$out" || { echo "testenv: $name printed output that does not evaluate: $out" >&2; exit 1; }
done
exec "$@"
