#!/usr/bin/env bash
# `make run`: the example. Without DATABASE_URL, start the throwaway cluster
# /tmp/gw_example_pg (port 54350) and use its database gw_example; with DATABASE_URL, use that
# database. Then install the extension if missing, enqueue the example jobs of
# examples/enqueue.py and run the runner on examples/tasks.py until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${DATABASE_URL:-}" ]; then
  datadir=/tmp/gw_example_pg/data
  port=54350
  scripts/pg-cluster.sh start "$datadir" "$port"
  eval "$(scripts/pg-cluster.sh env "$datadir" "$port")"
  export PGHOST PGPORT PGUSER
  if [ -z "$(psql -d postgres -tAc "select 1 from pg_database where datname = 'gw_example'")" ]; then
    psql -d postgres -qc "create database gw_example"
  fi
  export DATABASE_URL="postgresql:///gw_example?host=$PGHOST&port=$PGPORT&user=$PGUSER"
  echo "run-example: throwaway cluster $datadir (port $port), database gw_example"
  echo "run-example: inspect it with: psql '$DATABASE_URL'; stop it with: scripts/pg-cluster.sh stop $datadir"
else
  echo "run-example: using DATABASE_URL"
fi

psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -qc "create extension if not exists graphile_worker"
.venv/bin/python examples/enqueue.py
echo "run-example: starting the runner (Ctrl-C stops it gracefully)"
exec .venv/bin/python -m gw_runner examples/tasks.py --jobs 4 --log-level info
