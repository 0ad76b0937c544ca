#!/usr/bin/env bash
# testenv.sh CMD…: prepare the services the tests need on this machine, export
# where they are, then run CMD. Each service has its own script under
# scripts/env.d/ that installs it from Debian's packages when missing, starts
# it on loopback, and prints `export VAR=…` lines.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
for s in "$here"/env.d/*.sh; do
	[ -e "$s" ] || continue
	echo "testenv: $(basename "$s")" >&2
	eval "$(bash "$s")"
done
exec "$@"
