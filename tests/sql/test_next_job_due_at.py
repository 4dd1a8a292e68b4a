"""next_job_due_at: when the runner should wake next."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg
from helpers import scalar
from jobs_helpers import add_job, call_scalar, get_jobs, report_jobs


def _due(db: psycopg.Connection, tasks: list[str], now: datetime, **kwargs: object) -> object:
    return call_scalar(db, "next_job_due_at", tasks, now=now, **kwargs)


def test_next_job_due_at_returns_earliest_future_run_at(db: psycopg.Connection) -> None:
    now = scalar(db, "select date_trunc('second', now())")
    assert _due(db, ["job1"], now) is None
    add_job(db, "job1", run_at=now - timedelta(seconds=1))  # already due: not "next"
    assert _due(db, ["job1"], now) is None
    add_job(db, "job1", run_at=now + timedelta(seconds=10))
    add_job(db, "job1", run_at=now + timedelta(seconds=5))
    assert _due(db, ["job1"], now) == now + timedelta(seconds=5)
    assert _due(db, ["job1"], now + timedelta(seconds=5)) == now + timedelta(seconds=10)
    assert _due(db, ["job1"], now + timedelta(seconds=10)) is None


def test_next_job_due_at_looks_across_priorities(db: psycopg.Connection) -> None:
    now = scalar(db, "select date_trunc('second', now())")
    add_job(db, "job1", priority=0, run_at=now + timedelta(seconds=6))
    add_job(db, "job1", priority=5, run_at=now + timedelta(seconds=1))
    add_job(db, "job1", priority=-5, run_at=now + timedelta(seconds=9))
    assert _due(db, ["job1"], now) == now + timedelta(seconds=1)


def test_next_job_due_at_ignores_other_tasks_locked_failed_and_flagged_jobs(
    db: psycopg.Connection,
) -> None:
    now = scalar(db, "select date_trunc('second', now())")
    add_job(db, "other", run_at=now + timedelta(seconds=1))
    locked = add_job(db, "job1", run_at=now + timedelta(seconds=2))
    dead = add_job(db, "job1", run_at=now + timedelta(seconds=3))
    add_job(db, "job1", run_at=now + timedelta(seconds=4), flags=["heavy"])
    add_job(db, "job1", run_at=now + timedelta(seconds=8))
    assert locked is not None and dead is not None
    db.execute(
        "update graphile_worker._private_jobs set locked_by = 'w', locked_at = now() "
        "where id = %s", [locked["id"]]
    )
    db.execute(
        "update graphile_worker._private_jobs set attempts = max_attempts where id = %s",
        [dead["id"]],
    )
    assert _due(db, ["job1"], now) == now + timedelta(seconds=4)
    assert _due(db, ["job1"], now, forbidden_flags=["heavy"]) == now + timedelta(seconds=8)
    assert _due(db, ["job1"], now, forbidden_flags=[]) == now + timedelta(seconds=4)
    assert _due(db, ["job1", "other"], now) == now + timedelta(seconds=1)
    assert _due(db, ["nope"], now) is None


def test_next_job_due_at_counts_retries_waiting_on_backoff(db: psycopg.Connection) -> None:
    row = add_job(db, "job1")
    assert row is not None
    [claimed] = get_jobs(db, "w", ["job1"])
    now = claimed["run_at"] + timedelta(seconds=1)
    [result] = report_jobs(db, "w", failures=[{"id": row["id"], "message": "x"}], now=now).values()
    retry_at = result["run_at"]
    assert _due(db, ["job1"], now) == retry_at
