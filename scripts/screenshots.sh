#!/usr/bin/env bash
# screenshots.sh: regenerate docs/images/*.png, the dashboard's pages of
# `granary serve --demo` at 1400 × 900 in headless Chromium (Debian's package;
# scripts/env.d/chromium.sh installs it). Builds the binary, serves the demo on
# a loopback port, screenshots each page open without a sign-in, stops the
# server, and shrinks the PNGs with pngquant/optipng when they are installed.
# The pages that need a session are shot by scripts/screenshots (chromedp),
# signed in with the demo's token.
# Usage: scripts/screenshots.sh
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash scripts/env.d/chromium.sh)"
outdir=docs/images
tmp="$(mktemp -d)"
trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$tmp"' EXIT

go build -o "$tmp/granary" ./cmd/granary
"$tmp/granary" serve --demo --demo-scale "${DEMO_SCALE:-0.2}" --addr 127.0.0.1:0 \
	--db "$tmp/demo.db" --log-level warn >"$tmp/out" 2>"$tmp/err" &
pid=$!
url=""
for _ in $(seq 1 180); do
	url="$(grep -o 'serving on http://[^ ]*' "$tmp/out" | head -1 | cut -d' ' -f3 || true)"
	[ -n "$url" ] && break
	kill -0 "$pid" 2>/dev/null || { cat "$tmp/err" >&2; exit 1; }
	sleep 0.5
done
[ -n "$url" ] || { echo "screenshots.sh: serve did not start" >&2; cat "$tmp/err" >&2; exit 1; }
curl -fsS -o /dev/null "$url/" # warm the per-day history cache before the browser loads

mkdir -p "$outdir"
shrink() { # FILE
	if command -v pngquant >/dev/null; then pngquant --force --quality=60-90 --output "$1" "$1"; fi
	if command -v optipng >/dev/null; then optipng -quiet -o2 "$1"; fi
}
shot() { # NAME PATH
	local name=$1 path=$2 out="$outdir/$1.png"
	"$GRANARY_TEST_CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$tmp/profile-$name" --hide-scrollbars --window-size=1400,900 \
		--screenshot="$tmp/$name.png" "$url$path" >/dev/null 2>&1
	if command -v pngquant >/dev/null; then
		pngquant --force --quality=60-90 --output "$out" "$tmp/$name.png"
	else
		cp "$tmp/$name.png" "$out"
	fi
	if command -v optipng >/dev/null; then optipng -quiet -o2 "$out"; fi
	echo "screenshots.sh: wrote $out ($(stat -c %s "$out") bytes)" >&2
}
shot fleet /
shot chips "/chips?compare=h800-sxm5-80gb&compare=ascend-910b3"
shot fit /fit
shot failures /failures
sleep "${JOBS_WAIT:-20}" # let the demo's first jobs arrive and rounds place them
shot jobs /jobs

# Pages behind a sign-in: the devices list, one device, its node, the nodes
# of its site, a day of the per-day history, the runway form.
token="$(grep -o 'export GRANARY_TOKEN=gry_[^ ]*' "$tmp/out" | head -1 | cut -d= -f2)"
[ -n "$token" ] || { echo "screenshots.sh: no demo token in serve's output" >&2; exit 1; }
dev="$(curl -fsS -H "Authorization: Bearer $token" "$url/api/v1/devices?state=in-service&limit=1")"
serial="$(printf '%s' "$dev" | grep -o '"serial":"[^"]*"' | head -1 | cut -d'"' -f4)"
node="$(printf '%s' "$dev" | grep -o '"node":"[^"]*"' | head -1 | cut -d'"' -f4)"
site="$(printf '%s' "$dev" | grep -o '"site":"[^"]*"' | head -1 | cut -d'"' -f4)"
day="$(date -u -d yesterday +%Y-%m-%d)"
go run ./scripts/screenshots "$url" "$token" "$outdir" devices=/devices "device=/devices/$serial" \
	"node=/nodes/$node" "nodes=/nodes?site=$site" "history=/history?day=$day&state=in-service" runway=/runway
for f in devices device node nodes history runway; do shrink "$outdir/$f.png"; done
