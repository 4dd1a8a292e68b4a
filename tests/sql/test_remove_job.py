"""remove_job (main.runTaskListOnce: pending jobs can be removed, jobs in progress cannot)."""

from __future__ import annotations

import psycopg
from helpers import add_job, call, get_jobs, job, jobs, report_jobs


def test_remove_job_deletes_pending_job(db: psycopg.Connection) -> None:
    row = add_job(db, "job3", job_key="abc")
    assert row is not None
    [removed] = call(db, "remove_job", "abc")
    assert removed["id"] == row["id"]
    assert jobs(db) == []


def test_remove_job_of_running_job_detaches_key(db: psycopg.Connection) -> None:
    row = add_job(db, "job3", job_key="abc")
    assert row is not None
    get_jobs(db, "w1", ["job3"])
    [detached] = call(db, "remove_job", "abc")
    assert detached["id"] == row["id"]
    stored = job(db, row["id"])
    assert stored["key"] is None
    assert stored["attempts"] == stored["max_attempts"]
    assert stored["locked_by"] == "w1"
    # The job still completes once.
    assert report_jobs(db, "w1", completed_job_ids=[row["id"]])[row["id"]]["outcome"] == (
        "completed"
    )
    assert jobs(db) == []


def test_remove_job_deletes_job_locked_over_4_hours_ago(db: psycopg.Connection) -> None:
    row = add_job(db, "job3", job_key="abc")
    assert row is not None
    db.execute(
        "update graphile_worker._private_jobs set locked_by = 'gone', "
        "locked_at = now() - interval '5 hours' where id = %s",
        [row["id"]],
    )
    [removed] = call(db, "remove_job", "abc")
    assert removed["id"] == row["id"]
    assert jobs(db) == []


def test_remove_job_unknown_or_null_key_returns_null_row(db: psycopg.Connection) -> None:
    add_job(db, "job3", job_key="abc")
    assert call(db, "remove_job", "nope")[0]["id"] is None
    # STRICT, as upstream: a null key is not an error and removes nothing.
    assert call(db, "remove_job", None)[0]["id"] is None
    assert len(jobs(db)) == 1
