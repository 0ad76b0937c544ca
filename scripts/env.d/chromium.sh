#!/usr/bin/env bash
# chromium.sh: make a headless Chromium available to the dashboard's browser
# tests (internal/web/browsertest) and print
#   export GRANARY_TEST_CHROMIUM=/path/to/chromium
# on stdout (everything else goes to stderr). Installs Debian's chromium
# package with apt-get when no chromium binary exists. Idempotent; concurrent
# runs serialize on apt's own lock.
set -euo pipefail
log() { echo "chromium.sh: $*" >&2; }

find_chromium() {
	local c
	for c in "${GRANARY_TEST_CHROMIUM:-}" chromium chromium-browser google-chrome; do
		[ -n "$c" ] && command -v "$c" >/dev/null 2>&1 && { command -v "$c"; return; }
	done
}

bin="$(find_chromium || true)"
if [ -z "$bin" ]; then
	log "no Chromium found; installing Debian's chromium package"
	sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo -n"
	$sudo apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold chromium fonts-dejavu-core >&2
	bin="$(find_chromium || true)"
	[ -n "$bin" ] || { log "installation did not provide a chromium binary"; exit 1; }
fi
log "using $bin ($("$bin" --version 2>/dev/null || echo unknown version))"
echo "export GRANARY_TEST_CHROMIUM=$bin"
