"""reset_locked: the 4-hour stale-lock sweep (upstream's resetLockedAt test and sweep SQL)."""

from __future__ import annotations

from datetime import timedelta

import psycopg
from helpers import add_job, call_scalar, get_jobs, job, job_queues, scalar


def test_reset_locked_unlocks_only_locks_older_than_4_hours(db: psycopg.Connection) -> None:
    ids = []
    for _ in range(3):
        row = add_job(db, "job1", queue_name="serial")
        assert row is not None
        ids.append(row["id"])
    db.execute(
        "update graphile_worker._private_jobs set locked_by = 'some_pool_id', attempts = 1, "
        "locked_at = now() - interval '5 minutes' where id = %s", [ids[1]]
    )
    db.execute(
        "update graphile_worker._private_jobs set locked_by = 'some_pool_id', attempts = 1, "
        "locked_at = now() - interval '4 hours 1 minute' where id = %s", [ids[2]]
    )
    db.execute(
        "update graphile_worker._private_job_queues set locked_by = 'some_pool_id', "
        "locked_at = now() - interval '4 hours 1 minute'"
    )
    before = [job(db, i) for i in ids]
    assert call_scalar(db, "reset_locked") == 1
    after = [job(db, i) for i in ids]
    assert after[0] == before[0]
    assert after[1] == before[1]
    assert after[2]["locked_at"] is None and after[2]["locked_by"] is None
    assert after[2]["attempts"] == 1  # not refunded
    assert after[2]["run_at"] >= scalar(db, "select now() - interval '1 second'")
    [queue] = job_queues(db)
    assert queue["locked_at"] is None and queue["locked_by"] is None


def test_reset_locked_moves_time_with_now_parameter(db: psycopg.Connection) -> None:
    row = add_job(db, "job1", queue_name="q")
    assert row is not None
    [claimed] = get_jobs(db, "w1", ["job1"])
    t = claimed["locked_at"]
    assert call_scalar(db, "reset_locked", now=t + timedelta(hours=4)) == 0
    assert job(db, row["id"])["locked_by"] == "w1"
    assert job_queues(db)[0]["locked_by"] == "w1"
    swept_at = t + timedelta(hours=4, seconds=1)
    assert call_scalar(db, "reset_locked", now=swept_at) == 1
    stored = job(db, row["id"])
    assert stored["locked_by"] is None and stored["attempts"] == 1
    assert stored["run_at"] == swept_at  # greatest(run_at, now)
    assert job_queues(db)[0]["locked_by"] is None
    [again] = get_jobs(db, "w2", ["job1"], now=swept_at)
    assert again["id"] == row["id"] and again["attempts"] == 2


def test_reset_locked_keeps_future_run_at(db: psycopg.Connection) -> None:
    row = add_job(db, "job1")
    assert row is not None
    run_at = scalar(db, "select now() + interval '1 day'")
    db.execute(
        "update graphile_worker._private_jobs set run_at = %s, locked_by = 'x', "
        "locked_at = now() - interval '5 hours' where id = %s", [run_at, row["id"]]
    )
    assert call_scalar(db, "reset_locked") == 1
    assert job(db, row["id"])["run_at"] == run_at


def test_reset_locked_threshold_is_a_parameter(db: psycopg.Connection) -> None:
    row = add_job(db, "job1")
    assert row is not None
    [claimed] = get_jobs(db, "w1", ["job1"])
    now = claimed["locked_at"] + timedelta(minutes=10)
    assert call_scalar(db, "reset_locked", timedelta(minutes=11), now=now) == 0
    assert call_scalar(db, "reset_locked", timedelta(minutes=9), now=now) == 1
