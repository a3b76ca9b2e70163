#!/usr/bin/env bash
# Local PostgreSQL and Redis for the distributed mode and its tests (docs/scale-out.md), from
# Debian's packages only: `apt-get install postgresql redis-server`.
#
#   stores.sh start                 initdb (first time) and start both; prints the env to export
#   stores.sh stop                  stop both (the data directory stays)
#   stores.sh clean                 stop both and remove the data directory
#   stores.sh status                exit 0 when both answer
#   stores.sh env                   the MURMUR_* variables for the running stores
#   stores.sh run -- CMD ARGS…      start on a fresh data directory, run CMD with the env set, then
#                                   stop and remove everything, whatever CMD's exit status (which it returns)
#   stores.sh pg-restart [fast|immediate]   pg_ctl restart (the chaos tests call these)
#   stores.sh pg-stop [fast|immediate] | pg-start
#   stores.sh redis-stop | redis-start
#
# PostgreSQL refuses to run as root: when run as root, the cluster belongs to the `postgres` user
# and every pg_ctl runs through runuser. It listens on 127.0.0.1 and on a unix socket inside the
# data directory, on non-default ports so that a system PostgreSQL or Redis is never touched.
# Authentication is `trust` for 127.0.0.1 and the socket: a throwaway local cluster, never a deployment.
set -euo pipefail

DIR="${MURMUR_STORES_DIR:-/tmp/murmur-stores}"
PG_PORT="${MURMUR_PG_PORT:-55432}"
REDIS_PORT="${MURMUR_REDIS_PORT:-56379}"
PG_BIN="${MURMUR_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
PG_DATA="$DIR/pg"
PG_DB=murmur

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

need() {
  [ -x "$PG_BIN/pg_ctl" ] || { echo "stores.sh: PostgreSQL not found (apt-get install postgresql)" >&2; exit 2; }
  command -v redis-server >/dev/null || { echo "stores.sh: redis-server not found (apt-get install redis-server)" >&2; exit 2; }
}

pg_init() {
  mkdir -p "$DIR"
  chmod 0755 "$DIR"
  if [ ! -s "$PG_DATA/PG_VERSION" ]; then
    mkdir -p "$PG_DATA"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$PG_DATA"
    chmod 0700 "$PG_DATA"
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 ||
      { cat "$DIR/initdb.log" >&2; exit 1; }
    cat >>"$PG_DATA/postgresql.conf" <<EOF
# stores.sh
port = $PG_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_DATA'
max_connections = 100
shared_buffers = 32MB
fsync = on
EOF
  fi
}

pg_start() {
  if as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then return 0; fi
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/server.log" -w -t 30 start >/dev/null
  as_pg "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qAtc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1 ||
    as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$PG_DB"
}

pg_stop() {
  if [ -s "$PG_DATA/PG_VERSION" ] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m "${1:-fast}" -w -t 30 stop >/dev/null
  fi
}

redis_start() {
  if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then return 0; fi
  mkdir -p "$DIR/redis"
  # In memory only (the design keeps nothing durable in Redis): no RDB snapshots, no AOF.
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --dir "$DIR/redis" --pidfile "$DIR/redis/redis.pid" --logfile "$DIR/redis/redis.log"
  for _ in $(seq 1 100); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "stores.sh: redis-server did not answer on port $REDIS_PORT" >&2
  exit 1
}

redis_stop() {
  if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true; fi
  for _ in $(seq 1 100); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 || return 0
    sleep 0.05
  done
}

print_env() {
  echo "MURMUR_PG_URL=postgres://postgres@127.0.0.1:$PG_PORT/$PG_DB"
  echo "MURMUR_REDIS_URL=redis://127.0.0.1:$REDIS_PORT"
  echo "MURMUR_STORES_SCRIPT=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
  echo "MURMUR_STORES_DIR=$DIR"
}

cmd="${1:-}"
shift || true
case "$cmd" in
  start) need; pg_init; pg_start; redis_start; print_env ;;
  stop) redis_stop; pg_stop fast ;;
  clean) redis_stop; pg_stop fast; rm -rf "$DIR" ;;
  status) as_pg "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && redis-cli -p "$REDIS_PORT" ping >/dev/null ;;
  env) print_env ;;
  pg-restart) as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m "${1:-fast}" -l "$PG_DATA/server.log" -w -t 30 restart >/dev/null ;;
  pg-stop) pg_stop "${1:-fast}" ;;
  pg-start) pg_start ;;
  redis-stop) redis_stop ;;
  redis-start) redis_start ;;
  run)
    [ "${1:-}" = "--" ] && shift
    [ $# -gt 0 ] || { echo "usage: stores.sh run -- CMD [ARGS…]" >&2; exit 2; }
    need
    # A fresh directory per run, removed on any exit (a failing test, Ctrl-C, a missing binary).
    DIR="$(mktemp -d /tmp/murmur-stores.XXXXXX)"
    PG_DATA="$DIR/pg"
    export MURMUR_STORES_DIR="$DIR"
    trap 'redis_stop || true; pg_stop immediate || true; rm -rf "$DIR"' EXIT
    trap 'exit 130' INT TERM
    pg_init
    pg_start
    redis_start
    set -a
    eval "$(print_env)"
    set +a
    status=0
    "$@" || status=$?
    exit "$status"
    ;;
  *) sed -n '2,14p' "$0" >&2; exit 2 ;;
esac
