#!/usr/bin/env bash
# k8s.sh: make a real Kubernetes control plane's binaries available to the
# integration tests and print
#   export KUBEBUILDER_ASSETS=…   (kube-apiserver, etcd, kwok)
#   export GRANARY_KWOK_STAGES=…  (kwok stage config: nodes Ready, pods Running)
# on stdout (everything else goes to stderr).
#
# Debian has no kube-apiserver and no image can be pulled, so the binaries are
# built from the Go module proxy (see ../shared/docs/k8s-testenv.md): the
# kube-apiserver of k8s.io/kubernetes, the etcd it pins (3.5+, not Debian's
# 3.4, whose missing watch-progress feature stalls kwok), and kwok. A cold
# build takes about 12 minutes on a 2-core machine; the result is cached in a
# versioned folder outside the work tree (GRANARY_CACHE, default
# ~/.cache/granary), so warm runs take a second. Concurrent runs serialize on
# a lock file. Any failure exits non-zero: testenv.sh then fails the run.
set -euo pipefail

K8S_VERSION=1.37.2
KWOK_VERSION=0.8.0
cache="${GRANARY_CACHE:-$HOME/.cache/granary}"
dir="$cache/k8s-v$K8S_VERSION-kwok-v$KWOK_VERSION"
bin="$dir/bin"
log() { echo "k8s.sh: $*" >&2; }

mkdir -p "$dir"
exec 9>"$dir/lock"
flock 9

GO="${GO:-go}"
export GOFLAGS=-mod=mod
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

build_control_plane() {
	local ws="$dir/ws"
	mkdir -p "$ws"
	cd "$ws"
	log "building kube-apiserver v$K8S_VERSION and etcd from the Go module proxy (about 8 minutes cold)"
	"$GO" mod download -json "k8s.io/kubernetes@v$K8S_VERSION" >/dev/null
	local modfile
	modfile="$("$GO" env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/v$K8S_VERSION.mod"
	# k8s.io/kubernetes needs its staging modules replaced by their published
	# versions (v0.X.Y for v1.X.Y).
	{
		printf 'module granary.local/k8sbin\n\ngo 1.26.0\n\ngodebug default=go1.26\n\nrequire k8s.io/kubernetes v%s\n\nreplace (\n' "$K8S_VERSION"
		sed -n '/^replace (/,/^)/p' "$modfile" | grep '=>' | awk '{print $1}' | grep -v 'sample-c' |
			while read -r m; do printf '\t%s => %s v0.%s\n' "$m" "$m" "${K8S_VERSION#1.}"; done
		echo ')'
	} >go.mod
	cat >tools.go <<'EOF'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
EOF
	"$GO" mod tidy >&2
	local minor="${K8S_VERSION#1.}"
	minor="${minor%%.*}"
	local ldf="-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
	"$GO" build -trimpath -ldflags "$ldf" -o "$bin/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver >&2
	"$GO" build -trimpath -ldflags "-s -w" -o "$bin/etcd.tmp" go.etcd.io/etcd/server/v3 >&2
	mv "$bin/kube-apiserver.tmp" "$bin/kube-apiserver"
	mv "$bin/etcd.tmp" "$bin/etcd"
}

build_kwok() {
	log "building kwok v$KWOK_VERSION from the Go module proxy (about 3 minutes cold)"
	mkdir -p "$bin"
	(cd "$dir" && GOBIN="$bin" GOFLAGS= "$GO" install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION" >&2)
}

write_stages() {
	local src
	src="$("$GO" env GOMODCACHE)/sigs.k8s.io/kwok@v$KWOK_VERSION/kustomize/stage"
	[ -d "$src" ] || (cd "$dir" && GOFLAGS= "$GO" mod download "sigs.k8s.io/kwok@v$KWOK_VERSION" >&2)
	local out="$dir/stages.yaml.tmp"
	: >"$out"
	for f in "$src"/node/fast/node-initialize.yaml "$src"/node/heartbeat-with-lease/*.yaml \
		"$src"/pod/fast/pod-ready.yaml "$src"/pod/fast/pod-complete.yaml "$src"/pod/fast/pod-delete.yaml; do
		[ -e "$f" ] || { log "missing kwok stage $f"; exit 1; }
		echo "---" >>"$out"
		cat "$f" >>"$out"
	done
	mv "$out" "$dir/stages.yaml"
}

mkdir -p "$bin"
if [ ! -x "$bin/kube-apiserver" ] || [ ! -x "$bin/etcd" ]; then
	mkdir -p "$bin"
	build_control_plane
fi
[ -x "$bin/kwok" ] || build_kwok
[ -s "$dir/stages.yaml" ] || write_stages

"$bin/kube-apiserver" --version >&2 || { log "kube-apiserver does not run"; exit 1; }
echo "export KUBEBUILDER_ASSETS=$bin"
echo "export GRANARY_KWOK_STAGES=$dir/stages.yaml"
