#!/usr/bin/env bash
# Start, stop or inspect a throwaway PostgreSQL cluster of the project's own.
#
#   scripts/pg-cluster.sh start   [DATADIR] [PORT]   # initdb when needed, then start
#   scripts/pg-cluster.sh stop    [DATADIR]
#   scripts/pg-cluster.sh env     [DATADIR] [PORT]   # prints PGHOST/PGPORT/PGUSER exports
#
# PostgreSQL refuses to run as root: as root the cluster is owned by and runs as the `postgres`
# user (runuser); otherwise it runs as the calling user. Data and socket live under /tmp so the
# postgres user can enter them. Settings favour test speed (fsync off) unless GW_PG_DURABLE=1.
set -euo pipefail

cmd=${1:-}
datadir=${2:-${GW_PG_DATA:-/tmp/gw_pg/data}}
port=${3:-${GW_PG_PORT:-54329}}
sockdir="$(dirname "$datadir")/sock"
bindir=${GW_PG_BINDIR:-$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}
logfile="$(dirname "$datadir")/postgresql.log"

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
  start)
    mkdir -p "$(dirname "$datadir")" "$sockdir"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$(dirname "$datadir")" "$sockdir"; fi
    if [ ! -s "$datadir/PG_VERSION" ]; then
      as_owner "$bindir/initdb" -D "$datadir" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
      durable=${GW_PG_DURABLE:-0}
      {
        echo "listen_addresses = '127.0.0.1'"
        echo "port = $port"
        echo "unix_socket_directories = '$sockdir'"
        echo "max_connections = 300"
        echo "shared_buffers = 256MB"
        echo "max_locks_per_transaction = 256"
        echo "log_min_messages = warning"
        echo "timezone = 'UTC'"
        echo "shared_preload_libraries = 'plpgsql,plpgsql_check'"
        if [ "$durable" != 1 ]; then
          echo "fsync = off"
          echo "synchronous_commit = off"
          echo "full_page_writes = off"
        fi
      } | as_owner tee -a "$datadir/postgresql.conf" >/dev/null
    fi
    if ! as_owner "$bindir/pg_ctl" -D "$datadir" status >/dev/null 2>&1; then
      as_owner "$bindir/pg_ctl" -D "$datadir" -l "$logfile" -w -t 60 start >/dev/null
    fi
    ;;
  stop)
    if [ -d "$datadir" ] && as_owner "$bindir/pg_ctl" -D "$datadir" status >/dev/null 2>&1; then
      as_owner "$bindir/pg_ctl" -D "$datadir" -m fast -w stop >/dev/null
    fi
    ;;
  env)
    echo "export PGHOST=$sockdir PGPORT=$port PGUSER=postgres"
    ;;
  *)
    echo "usage: $0 start|stop|env [DATADIR] [PORT]" >&2
    exit 2
    ;;
esac
