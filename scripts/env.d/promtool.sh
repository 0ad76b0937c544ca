#!/usr/bin/env bash
# promtool.sh: build Prometheus's promtool (pinned, from the Go module proxy)
# for the deploy/ monitoring test and print
#   export GRANARY_TEST_PROMTOOL=/path/to/promtool
# on stdout (everything else goes to stderr). Installs into the project's
# .testenv/promtool (gitignored). Idempotent: a built copy of the pinned
# version is reused.
set -euo pipefail
version=v0.316.0
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="$root/.testenv/promtool/$version"
bin="$dir/promtool"
log() { echo "promtool.sh: $*" >&2; }

if [ ! -x "$bin" ]; then
	mkdir -p "$dir"
	exec 9>"$dir.lock"
	flock 9
	if [ ! -x "$bin" ]; then
		log "building promtool $version (go install, a few minutes the first time)"
		GOBIN="$dir" GOFLAGS=-mod=mod go install "github.com/prometheus/prometheus/cmd/promtool@$version" >&2
	fi
	[ -x "$bin" ] || { log "go install did not produce $bin"; exit 1; }
fi
log "using promtool $version ($bin)"
echo "export GRANARY_TEST_PROMTOOL=$bin"
