#!/usr/bin/env bash
# axe.sh: make the axe-core accessibility engine (pinned, from the npm
# registry) available to the dashboard's browser test and print
#   export GRANARY_TEST_AXE=/path/to/axe.min.js
# on stdout (everything else goes to stderr). Installs Debian's npm when no
# npm exists, then axe-core into the project's .testenv/axe (gitignored).
# Idempotent: an installed copy of the pinned version is reused.
set -euo pipefail
version=4.14.1
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="$root/.testenv/axe"
js="$dir/node_modules/axe-core/axe.min.js"
log() { echo "axe.sh: $*" >&2; }

installed() { [ -f "$js" ] && grep -q "\"version\": \"$version\"" "$dir/node_modules/axe-core/package.json" 2>/dev/null; }
if ! installed; then
	if ! command -v npm >/dev/null 2>&1; then
		log "no npm found; installing Debian's npm package"
		sudo=""
		[ "$(id -u)" -ne 0 ] && sudo="sudo -n"
		$sudo apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends npm >&2
	fi
	mkdir -p "$dir"
	exec 9>"$dir.lock"
	flock 9
	installed || npm install --no-audit --no-fund --silent --prefix "$dir" "axe-core@$version" >&2
	installed || { log "npm did not install axe-core $version"; exit 1; }
fi
log "using axe-core $version ($js)"
echo "export GRANARY_TEST_AXE=$js"
