"""At-least-once under faults, on a private cluster: while 4 runners drain 20,000 jobs (50
named queues and the null queue), a chaos loop SIGKILLs a runner and starts a new one every
2-4 s, and PostgreSQL is restarted once. Every job completes; a job ran more than once only
if a killed runner had run (or claimed) it; named queues still ran one job at a time."""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Iterator

import psycopg
import pytest
from helpers import PrivateCluster, Runners, enqueue_spread, query, queue_overlaps, wait_until

JOBS = 20_000
QUEUES = 50
RUNNERS = 4
CHAOS_SECONDS = 40
OPTIONS = ("-j", "8", "--heartbeat-interval", "0.5", "--stale-after", "5",
           "--sweep-interval", "0.5")


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    cluster = PrivateCluster("gw_chaos_pg", 54370)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def pending(dsn: str) -> int | None:
    return query(dsn, "select count(*) from graphile_worker._private_jobs")


@pytest.mark.slow
def test_every_job_completes_while_runners_are_killed_and_the_database_restarts(
    cluster, tmp_path
):
    dsn = cluster.fresh_database("gw_chaos")
    enqueue_spread(dsn, JOBS, QUEUES, payload='{"sleep": 0.03}')
    rng = random.Random(20240501)
    runners = Runners(dsn, tmp_path)
    try:
        live = [runners.start(*OPTIONS) for _ in range(RUNNERS)]
        killed: list[int] = []
        restarted_with: int | None = None
        start = time.monotonic()
        next_kill = start + rng.uniform(2, 4)
        restart_at = start + CHAOS_SECONDS * 0.4
        while time.monotonic() - start < CHAOS_SECONDS and pending(dsn) != 0:
            now = time.monotonic()
            if restarted_with is None and now >= restart_at:
                restarted_with = pending(dsn)
                cluster.pg_ctl("restart")
            if now >= next_kill:
                victim = live.pop(rng.randrange(len(live)))
                victim.send(signal.SIGKILL)
                assert victim.wait(10) == -signal.SIGKILL
                killed.append(victim.pid)
                live.append(runners.start(*OPTIONS))
                next_kill = now + rng.uniform(2, 4)
            time.sleep(0.2)
        assert len(killed) >= 6, killed  # the load outlasted a good part of the chaos
        assert restarted_with, "the database restart came after the jobs were done"

        wait_until(lambda: pending(dsn) == 0, 120, "every job to complete", interval=0.5)
        for runner in live:
            assert runner.alive(), runner.log
            runner.send(signal.SIGTERM)
        for runner in live:
            assert runner.wait(30) == 0, runner.log

        with psycopg.connect(dsn, autocommit=True) as conn:
            distinct = conn.execute("select count(distinct job_id) from calls").fetchone()[0]
            assert distinct == JOBS
            # more than one call only for jobs a killed runner ran or held
            twice_by_survivors = conn.execute(
                "select job_id, count(*) from calls where pid <> all(%s) group by job_id"
                " having count(*) > 1", (killed,)).fetchall()
            assert twice_by_survivors == []
            repeated = conn.execute(
                "select count(*) from (select job_id from calls group by job_id"
                " having count(*) > 1) r").fetchone()[0]
            assert queue_overlaps(conn) == []
            assert conn.execute("select count(*) from graphile_worker._private_job_queues"
                                " where locked_by is not null").fetchone()[0] == 0
        recovered = sum(r.log.count("recovered ") for r in runners.started)
        assert recovered > 0, "no sweep recovered anything"
        print(f"kills={len(killed)} jobs_run_twice={repeated} "
              f"pending_at_restart={restarted_with} "
              f"seconds={time.monotonic() - start:.1f}")
    finally:
        runners.close()
