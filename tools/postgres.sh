#!/usr/bin/env bash
# The test suite's private PostgreSQL server, one per clone: `tools/postgres.sh start` installs
# Debian's postgresql package if the machine lacks it, starts (or reuses) this clone's server and
# prints its URL; `tools/postgres.sh stop` stops it and removes its files. `make test` stops it
# when the run ends, passed, failed or interrupted.
#
# Two clones never collide: each has its own cluster and a free loopback port chosen when its
# server starts. The server listens on 127.0.0.1 only (no Unix socket) and accepts one role,
# gankit, with a password made for this clone (build/postgres/password, 0600): other users of the
# machine cannot log in. As root the cluster lives where the postgres account can reach it
# whatever the clone's folder allows (/tmp/pg-gankit-<clone>), and stop removes it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
state="$root/build/postgres"  # this clone's password and port
cd /  # the postgres account may not enter the clone's folder
action="${1:-start}"

as_owner=()
server="$state/server"
if [ "$(id -u)" = 0 ]; then
  as_owner=(runuser -u postgres --)  # the server refuses to run as root
  server="/tmp/pg-gankit-$(printf %s "$root" | sha256sum | cut -c1-12)"
fi
data="$server/data"

bin_dir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

running() {
  [ -f "$data/PG_VERSION" ] && "${as_owner[@]}" "$(bin_dir)/pg_ctl" -D "$data" status >/dev/null 2>&1
}

url() {
  echo "postgresql://gankit:$(cat "$state/password")@127.0.0.1:$(cat "$state/port")"
}

case "$action" in
stop)
  if [ -n "$(bin_dir)" ] && running; then
    "${as_owner[@]}" "$(bin_dir)/pg_ctl" -D "$data" -m fast -w stop >/dev/null
  fi
  rm -rf "$server" "$state"
  exit 0
  ;;
start) ;;
*)
  echo "usage: tools/postgres.sh [start|stop]" >&2
  exit 2
  ;;
esac

if [ -z "$(bin_dir)" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "PostgreSQL is not installed: install Debian's postgresql package (as root), then rerun." >&2
    exit 1
  fi
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
bin="$(bin_dir)"

if running && [ -f "$state/password" ] && [ -f "$state/port" ]; then
  url  # this clone's server, already up
  exit 0
fi
"${as_owner[@]}" "$bin/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true
rm -rf "$server" "$state"  # whatever is left of an earlier run (or of a server that trusted everyone)
mkdir -p "$state" "$server"
chmod 700 "$state" "$server"
[ "$(id -u)" = 0 ] && chown postgres "$server"
(umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$state/password")
install -m 600 "$state/password" "$server/password"
[ "$(id -u)" = 0 ] && chown postgres "$server/password"
"${as_owner[@]}" "$bin/initdb" -D "$data" -U gankit --auth=scram-sha-256 --pwfile="$server/password" >/dev/null
rm -f "$server/password"
python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' >"$state/port"
"${as_owner[@]}" "$bin/pg_ctl" -D "$data" -l "$server/server.log" -w \
  -o "-p $(cat "$state/port") -c listen_addresses=127.0.0.1 -c unix_socket_directories=''" start >/dev/null
url
