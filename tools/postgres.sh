#!/usr/bin/env bash
# Start a private PostgreSQL server for the test suite, on loopback only, installing Debian's
# postgresql package first if the machine lacks it. Idempotent; prints the server's URL.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="$root/build/postgres"
port="${GANKIT_PG_PORT:-55432}"

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "PostgreSQL is not installed: install Debian's postgresql package (as root), then rerun." >&2
    exit 1
  fi
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"

# The server refuses to run as root: as root, run it as the postgres user the package created.
as_owner=()
if [ "$(id -u)" = 0 ]; then
  as_owner=(runuser -u postgres --)
fi
mkdir -p "$data"
[ "$(id -u)" = 0 ] && chown postgres "$data" && chmod 700 "$data"
if [ ! -f "$data/PG_VERSION" ]; then
  "${as_owner[@]}" "$bin/initdb" -D "$data" -U gankit --auth=trust >/dev/null
fi
if ! "${as_owner[@]}" "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
  "${as_owner[@]}" "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w \
    -o "-p $port -k /tmp -c listen_addresses=127.0.0.1" start >/dev/null
fi
echo "postgresql://gankit@127.0.0.1:$port"
