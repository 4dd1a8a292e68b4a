#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster, run the whole pytest suite against it, stop it.
# Arguments are passed to pytest. The cluster lives in /tmp/gw_test_pg (wiped at each start).
set -euo pipefail
cd "$(dirname "$0")/.."
export GW_PG_DATA=${GW_PG_DATA:-/tmp/gw_test_pg/data}
export GW_PG_PORT=${GW_PG_PORT:-54329}
scripts/pg-cluster.sh stop || true
rm -rf "$(dirname "$GW_PG_DATA")"
scripts/pg-cluster.sh start
trap 'scripts/pg-cluster.sh stop' EXIT
eval "$(scripts/pg-cluster.sh env)"
export GW_TEST_PGHOST=$PGHOST GW_TEST_PGPORT=$PGPORT GW_TEST_PGUSER=$PGUSER
export PATH="$PWD/.venv/bin:$PATH"
set +e
if [ $# -gt 0 ]; then
  .venv/bin/python -m pytest "$@"
  rc=$?
else
  # The whole suite against CREATE EXTENSION, then the SQL API suites again against the
  # standalone script (build/graphile_worker-standalone.sql, for servers without the extension).
  .venv/bin/python -m pytest
  rc=$?
  GW_TEST_INSTALL=standalone .venv/bin/python -m pytest -q tests/sql tests/recovery tests/security
  rc2=$?
  [ $rc -ne 0 ] || rc=$rc2
fi
set -e
exit $rc
