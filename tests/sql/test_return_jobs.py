"""return_jobs: give back claimed jobs that never started (upstream's returnJobs)."""

from __future__ import annotations

import psycopg
from jobs_helpers import add_job, call_scalar, get_jobs, job, job_queues, jobs


def test_return_jobs_refunds_attempt_and_unlocks_job_and_queue(db: psycopg.Connection) -> None:
    a = add_job(db, "job1", queue_name="q")
    b = add_job(db, "job1")
    assert a is not None and b is not None
    claimed = get_jobs(db, "w1", ["job1"], batch_size=5)
    assert len(claimed) == 2
    assert call_scalar(db, "return_jobs", "w1", [a["id"], b["id"]]) == 2
    for row in jobs(db):
        assert row["attempts"] == 0
        assert row["locked_at"] is None and row["locked_by"] is None
    [queue] = job_queues(db)
    assert queue["locked_at"] is None and queue["locked_by"] is None
    assert len(get_jobs(db, "w2", ["job1"], batch_size=5)) == 2


def test_return_jobs_keeps_earlier_attempts(db: psycopg.Connection) -> None:
    row = add_job(db, "job1")
    assert row is not None
    db.execute("update graphile_worker._private_jobs set attempts = 3 where id = %s", [row["id"]])
    get_jobs(db, "w1", ["job1"])
    assert job(db, row["id"])["attempts"] == 4
    call_scalar(db, "return_jobs", "w1", [row["id"]])
    assert job(db, row["id"])["attempts"] == 3


def test_return_jobs_only_touches_jobs_locked_by_that_worker(db: psycopg.Connection) -> None:
    theirs = add_job(db, "job1", queue_name="q")
    unlocked = add_job(db, "other")
    assert theirs is not None and unlocked is not None
    get_jobs(db, "w2", ["job1"])
    before = jobs(db)
    queues_before = job_queues(db)
    assert call_scalar(db, "return_jobs", "w1", [theirs["id"], unlocked["id"], 99999]) == 0
    assert jobs(db) == before
    assert job_queues(db) == queues_before
    assert call_scalar(db, "return_jobs", "w1", []) == 0
