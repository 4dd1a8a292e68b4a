"""The heartbeat loop across a database outage (a private cluster, stopped and started):
heartbeats resume by themselves and a runner that reaches the database again before its
threshold is not declared lost, although another runner sweeps all along."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import psycopg
import pytest
from helpers import PrivateCluster, Runners, query, wait_until

STALE_AFTER = 8  # seconds; the outage is 3 s


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    cluster = PrivateCluster("gw_outage_pg", 54371)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.mark.slow
def test_heartbeats_resume_after_an_outage_shorter_than_the_threshold(cluster, tmp_path):
    dsn = cluster.fresh_database("gw_outage")
    runners = Runners(dsn, tmp_path)
    try:
        options = ("--heartbeat-interval", "0.5", "--stale-after", str(STALE_AFTER))
        a = runners.start(*options, "--sweep-interval", "60")
        a.wait_for_log("registered for crash recovery", 30)
        sweeper = runners.start(*options, "--sweep-interval", "0.3")
        sweeper.wait_for_log("registered for crash recovery", 30)
        a_id = query(dsn, "select worker_id from graphile_worker._private_workers"
                          " order by registered_at limit 1")
        registered_at = query(dsn, "select registered_at from graphile_worker._private_workers"
                                   " where worker_id = %s", (a_id,))

        cluster.pg_ctl("stop")
        time.sleep(3)
        cluster.pg_ctl("start")
        restarted = query(dsn, "select now()")

        # A beats again soon after the restart...
        wait_until(lambda: (query(dsn, "select last_heartbeat_at from"
                                       " graphile_worker._private_workers where worker_id = %s",
                                  (a_id,)) or restarted) > restarted, 30,
                   "a heartbeat of the first runner after the restart")
        # ...and keeps beating: long after a sweep would have declared a silent runner lost
        # (threshold + the sweeper's grace period after its own reconnection), it is still
        # the same registration, and nothing was recovered. The sweeper looked: two of its
        # sweeps started that late (the first runner sweeps once a minute at most)
        late = restarted + timedelta(seconds=2 * STALE_AFTER)
        sweeps: dict[int, set[datetime]] = {}

        def swept_twice() -> bool:
            try:
                with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
                    found = conn.execute(
                        "select pid, query_start from pg_stat_activity"
                        " where datname = current_database() and pid <> pg_backend_pid()"
                        " and query like '%%recover_stale_workers%%' and query_start > %s",
                        (late,)).fetchall()
            except psycopg.OperationalError:
                return False
            for pid, started in found:
                sweeps.setdefault(pid, set()).add(started)
            return any(len(starts) >= 2 for starts in sweeps.values())

        wait_until(swept_twice, 2 * STALE_AFTER + 60, "two sweeps long after the restart",
                   interval=0.05)
        assert query(dsn, "select registered_at from graphile_worker._private_workers"
                          " where worker_id = %s", (a_id,)) == registered_at, a.log
        assert query(dsn, "select now() - last_heartbeat_at < interval '3 seconds'"
                          " from graphile_worker._private_workers where worker_id = %s",
                     (a_id,)), a.log
        for runner in (a, sweeper):
            assert runner.alive(), runner.log
            assert "DECLARED LOST" not in runner.log
            assert "recovered" not in runner.log
        assert "connection claim lost" in a.log or "reconnect" in a.log, a.log

        # and it still works: a job added now runs
        query(dsn, "select id from graphile_worker.add_job('work', '{}')")
        wait_until(lambda: query(dsn, "select count(*) from calls") == 1, 30, "the job to run")
        for runner in (a, sweeper):
            runner.send(signal.SIGTERM)
        for runner in (a, sweeper):
            assert runner.wait(30) == 0, runner.log
    finally:
        runners.close()
