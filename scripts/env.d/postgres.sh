#!/usr/bin/env bash
# postgres.sh: make a PostgreSQL server available to the tests and print
#   export GRANARY_TEST_POSTGRES=postgres://…
# on stdout (everything else goes to stderr).
#
# - Installs PostgreSQL from Debian's packages (apt-get) when no server binary
#   exists, and postgresql-contrib when pg_trgm is missing; the package's own
#   "main" cluster is not created.
# - Keeps one cluster under the project's .testenv/pg (gitignored), listening
#   on 127.0.0.1 only, on a free port chosen the first time, trust auth for
#   the local test user "granary". Run as root, the server runs as the
#   unprivileged "postgres" user (created if missing).
# - Idempotent: a running cluster is reused; a stopped one is started.
#   Concurrent runs serialize on a lock file.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
base="$root/.testenv/pg"
db=granary_test
user=granary
log() { echo "postgres.sh: $*" >&2; }

find_bindir() {
	local d best=""
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/postgres" ] && [ -x "$d/initdb" ] && best="$d"
	done
	if [ -z "$best" ] && command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
		best="$(dirname "$(readlink -f "$(command -v pg_ctl)")")"
	fi
	# Highest version last in glob order is good enough for one major.
	echo "$best"
}

bindir="$(find_bindir)"
if [ -z "$bindir" ]; then
	log "no PostgreSQL server found; installing Debian's postgresql package"
	sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo -n"
	# Do not let the package create and start its own cluster on :5432.
	$sudo mkdir -p /etc/postgresql-common
	if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
		echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.conf >/dev/null
	fi
	$sudo apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold postgresql >&2
	bindir="$(find_bindir)"
	[ -n "$bindir" ] || { log "installation did not provide a server binary"; exit 1; }
fi

# The device search's index needs the pg_trgm extension (migration 00180):
# Debian ships it with the server; install postgresql-contrib where it is
# missing.
sharedir="$("$bindir/pg_config" --sharedir 2>/dev/null || echo "/usr/share/postgresql/$(basename "$(dirname "$bindir")")")"
if [ ! -e "$sharedir/extension/pg_trgm.control" ]; then
	log "no pg_trgm in $sharedir; installing Debian's postgresql-contrib"
	sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo -n"
	$sudo apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql-contrib >&2
	[ -e "$sharedir/extension/pg_trgm.control" ] || { log "postgresql-contrib did not provide pg_trgm"; exit 1; }
fi

mkdir -p "$base"
exec 9>"$base/lock"
flock 9

# The server refuses to run as root: use an unprivileged user.
runas=()
if [ "$(id -u)" -eq 0 ]; then
	id postgres >/dev/null 2>&1 || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
	runas=(runuser -u postgres --)
fi

data="$base/data"
# The unprivileged user must reach $base; if a parent directory is closed to
# it, keep the cluster in a per-checkout directory under /tmp instead.
if [ ${#runas[@]} -gt 0 ]; then
	chown postgres "$base"
	if ! "${runas[@]}" test -w "$base"; then
		alt="/tmp/granary-pg-$(echo "$root" | md5sum | cut -c1-12)"
		log "$base is not reachable by user postgres; using $alt"
		mkdir -p "$alt"
		chown postgres "$alt"
		data="$alt/data"
		base="$alt"
	fi
fi
sock="$base/sock"
portfile="$base/port"

# Run from / so an unprivileged user does not trip over an unreadable cwd.
pg() { (cd / && "${runas[@]}" "$@"); }

if [ ! -s "$data/PG_VERSION" ]; then
	log "initdb $data"
	rm -rf "$data"
	mkdir -p "$data" "$sock"
	[ ${#runas[@]} -gt 0 ] && chown postgres "$data" "$sock"
	pg "$bindir/initdb" -D "$data" -U "$user" --auth=trust --encoding=UTF8 --no-locale >"$base/initdb.log" 2>&1 ||
		{ cat "$base/initdb.log" >&2; exit 1; }
fi
mkdir -p "$sock"
[ ${#runas[@]} -gt 0 ] && chown postgres "$sock"

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
	port="$(cat "$portfile")"
	log "reusing the running server on 127.0.0.1:$port"
else
	port="$(cat "$portfile" 2>/dev/null || true)"
	if [ -z "$port" ] || ! port_free "$port"; then
		port=""
		for p in $(seq 54329 54429); do
			if port_free "$p"; then port=$p; break; fi
		done
		[ -n "$port" ] || { log "no free port in 54329-54429"; exit 1; }
	fi
	echo "$port" >"$portfile"
	log "starting PostgreSQL ($bindir) on 127.0.0.1:$port"
	# setsid: the server outlives this script and the job that ran it.
	cd /
	setsid "${runas[@]}" "$bindir/pg_ctl" -D "$data" -l "$base/server.log" -w -t 60 \
		-o "-c listen_addresses=127.0.0.1 -p $port -k $sock -c max_connections=200" start >&2 9>&- ||
		{ tail -20 "$base/server.log" >&2; exit 1; }
fi

for _ in $(seq 1 60); do
	if "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -U "$user"; then break; fi
	sleep 0.5
done
"$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -U "$user" || { log "server not ready"; exit 1; }

if ! "$bindir/psql" -h 127.0.0.1 -p "$port" -U "$user" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
	"$bindir/psql" -h 127.0.0.1 -p "$port" -U "$user" -d postgres -qc "CREATE DATABASE $db" >&2
fi

echo "export GRANARY_TEST_POSTGRES=postgres://$user@127.0.0.1:$port/$db?sslmode=disable"
