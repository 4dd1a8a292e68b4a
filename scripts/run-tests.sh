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
.venv/bin/python -m pytest "$@"
rc=$?
set -e
exit $rc
