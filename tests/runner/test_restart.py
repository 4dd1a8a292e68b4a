"""A database restart while the runner works: it reconnects by itself and every job ends
completed, exactly once (at least once if it was running at the restart).

Uses a private cluster (port 54340) so the restart does not disturb the other tests."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from helpers import RUNS_TABLE, PrivateCluster, query, wait_until

CONCURRENCY = 8
JOBS = 5000


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    cluster = PrivateCluster("gw_restart_pg", 54340)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.mark.slow
def test_runner_survives_a_database_restart(cluster, start_runner):
    private_dsn = cluster.fresh_database("gw_restart", tables=(RUNS_TABLE,))
    with psycopg.connect(private_dsn, autocommit=True) as conn:
        conn.execute(
            "select graphile_worker.add_jobs(array(select row(case when i %% 2 = 0 then"
            " 'rec_slow_async' else 'rec_slow_sync' end, '{\"sleep\": 0.01}', null, null, null,"
            " null, null, null)::graphile_worker.job_spec from generate_series(1, %s) i))",
            (JOBS,),
        )
    runner = start_runner(
        "record.py", "-j", str(CONCURRENCY), "--poll-interval", "1",
        env={"GW_TEST_DSN": private_dsn}, connection=private_dsn,
    )
    wait_until(lambda: (query(private_dsn, "select count(*) from runs") or 0) >= 1000, 120,
               "1000 jobs to run before the restart")
    cluster.pg_ctl("restart")
    done_at_restart = query(private_dsn, "select count(distinct job_id) from runs")
    assert done_at_restart is not None and done_at_restart < JOBS  # it was still working
    wait_until(lambda: query(private_dsn, "select count(*) from graphile_worker._private_jobs") == 0,
               180, "every job to be completed after the restart", interval=0.5)
    assert runner.proc.poll() is None, runner.log  # the runner carried on by itself

    with psycopg.connect(private_dsn, autocommit=True) as conn:
        distinct, calls = conn.execute(
            "select count(distinct job_id), count(*) from runs").fetchone()
        repeated = conn.execute(
            "select count(*) from (select job_id from runs group by job_id"
            " having count(*) > 1) r").fetchone()[0]
    assert distinct == JOBS
    # only jobs running at the restart may have run twice
    assert repeated <= CONCURRENCY, (repeated, calls)
    log = runner.log
    assert "reconnect" in log or "LISTEN restored" in log, log
