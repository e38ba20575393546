#!/usr/bin/env bash
# A throwaway PostgreSQL for the test suite: `scripts/postgres.sh` prints the URL to export as
# HISBOT_TEST_PG_URL; `scripts/postgres.sh stop` stops it. Run as root on Debian (CI, dev boxes);
# needs no stdin. Idempotent: when the cluster already runs, it only prints the URL.
#
#   export HISBOT_TEST_PG_URL="$(scripts/postgres.sh)"
#
# The cluster lives in $HISBOT_PG_DIR (default /tmp/hisbot-pg), owned by the `postgres` user,
# listens on 127.0.0.1:$HISBOT_PG_PORT (default 54329) only, and trusts local connections: it is
# for tests, never for data anyone wants to keep. Progress goes to stderr, the URL to stdout.
set -euo pipefail

PG_DIR=${HISBOT_PG_DIR:-/tmp/hisbot-pg}
PORT=${HISBOT_PG_PORT:-54329}
DATA="$PG_DIR/data"
LOG="$PG_DIR/postgres.log"
URL="postgresql+psycopg://hisbot:hisbot@127.0.0.1:$PORT/hisbot_test"

log() { echo "postgres.sh: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  log "must run as root (it installs packages and runs the server as the postgres user)"
  exit 1
fi

pg_bindir() {
  # The newest installed server version's binaries (Debian keeps them out of PATH).
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$dir" ] || [ ! -x "$dir/initdb" ]; then
    return 1
  fi
  echo "$dir"
}

as_pg() { runuser -u postgres -- "$@"; }

stop() {
  local bin
  if [ -f "$DATA/postmaster.pid" ] && bin=$(pg_bindir); then
    as_pg "$bin/pg_ctl" -D "$DATA" -m fast -w stop >&2 || true
  fi
  log "stopped"
}

if [ "${1:-start}" = "stop" ]; then
  stop
  exit 0
elif [ "${1:-start}" != "start" ]; then
  log "usage: $0 [start|stop]"
  exit 2
fi

if ! BIN=$(pg_bindir); then
  log "installing the postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q --no-install-recommends postgresql </dev/null >&2
  BIN=$(pg_bindir)
fi

if ! id postgres >/dev/null 2>&1; then
  log "the postgres user is missing (the postgresql package creates it)"
  exit 1
fi

if [ -f "$DATA/postmaster.pid" ] && as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  echo "$URL"
  exit 0
fi

mkdir -p "$PG_DIR"
chown postgres:postgres "$PG_DIR"
chmod 700 "$PG_DIR"
if [ ! -f "$DATA/PG_VERSION" ]; then
  log "initialising a cluster in $DATA"
  as_pg "$BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 || {
    cat "$PG_DIR/initdb.log" >&2
    exit 1
  }
fi

log "starting on 127.0.0.1:$PORT"
# Sockets go in the cluster folder (not /var/run/postgresql, which may not exist); fsync off:
# a crash only loses test data, and every test runs faster.
as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k $PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
  start >&2 || {
  tail -n 30 "$LOG" >&2
  exit 1
}

psql_pg() { as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PORT" -U postgres "$@"; }

if [ "$(psql_pg -d postgres -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'hisbot'")" != "1" ]; then
  psql_pg -d postgres -c "CREATE ROLE hisbot LOGIN PASSWORD 'hisbot'" >&2
fi
if [ "$(psql_pg -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'hisbot_test'")" != "1" ]; then
  psql_pg -d postgres -c "CREATE DATABASE hisbot_test OWNER hisbot" >&2
fi

echo "$URL"
