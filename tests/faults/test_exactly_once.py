"""Without faults, several runner processes run each job exactly once, and a named queue
never runs two jobs at once (the handlers record wall-clock start and end)."""

from __future__ import annotations

import signal
import time

import pytest
from helpers import enqueue_spread, one, queue_overlaps, scalar, wait_until

JOBS = 20_000
QUEUES = 50


@pytest.mark.slow
def test_four_runners_drain_20000_jobs_exactly_once_and_queues_serially(dsn, calls, runners):
    db = calls
    enqueue_spread(dsn, JOBS, QUEUES)  # half in 50 named queues, half in none
    started = time.monotonic()
    procs = [runners.start("-j", "8", "--heartbeat-interval", "1", "--stale-after", "60")
             for _ in range(4)]
    wait_until(lambda: scalar(db, "select count(*) from graphile_worker._private_jobs") == 0,
               180, "every job to complete", interval=0.5)
    elapsed = time.monotonic() - started
    for runner in procs:
        runner.send(signal.SIGTERM)
    for runner in procs:
        assert runner.wait(30) == 0, runner.log

    counts = one(db, "select count(*) as calls, count(distinct job_id) as jobs,"
                     " count(distinct pid) as runners,"
                     " count(distinct queue) as queues from calls")
    assert counts == {"calls": JOBS, "jobs": JOBS, "runners": 4, "queues": QUEUES}, elapsed
    assert queue_overlaps(db) == []
    for runner in procs:
        assert "outcome NOT recorded" not in runner.log
        assert "recovered" not in runner.log
