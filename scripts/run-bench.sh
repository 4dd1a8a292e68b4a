#!/usr/bin/env bash
# `make bench`: the project's own benchmarks (bench/run.py). Uses DATABASE_URL when set (the
# role must be allowed to CREATE DATABASE); otherwise a throwaway cluster with durable settings
# (fsync and synchronous_commit on, as in production) in /tmp/gw_bench_pg.
# Arguments (or BENCH_ARGS via make) go to bench/run.py, e.g. --workloads process --rounds 5.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${DATABASE_URL:-}" ]; then
  export GW_PG_DATA=/tmp/gw_bench_pg/data GW_PG_PORT=${GW_BENCH_PORT:-54360} GW_PG_DURABLE=1
  scripts/pg-cluster.sh stop || true
  rm -rf /tmp/gw_bench_pg
  scripts/pg-cluster.sh start
  trap 'scripts/pg-cluster.sh stop' EXIT
  eval "$(scripts/pg-cluster.sh env)"
  export DATABASE_URL="postgresql://$PGUSER@/postgres?host=$PGHOST&port=$PGPORT"
fi
.venv/bin/python bench/run.py --dsn "$DATABASE_URL" "$@"
