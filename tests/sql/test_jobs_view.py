"""The public jobs view (jobsView)."""

from __future__ import annotations

import psycopg
from helpers import add_job, get_jobs, jobs, rows

VIEW_COLUMNS = [
    "id", "queue_name", "task_identifier", "priority", "run_at", "attempts", "max_attempts",
    "last_error", "created_at", "updated_at", "key", "locked_at", "locked_by", "revision", "flags",
]


def test_jobs_view_columns_in_order(db: psycopg.Connection) -> None:
    cur = db.execute("select * from graphile_worker.jobs limit 0")
    assert cur.description is not None
    assert [c.name for c in cur.description] == VIEW_COLUMNS


def test_jobs_view_rows_equal_private_rows_minus_hidden_columns(db: psycopg.Connection) -> None:
    add_job(db, "job1", payload={"a": 1})
    add_job(db, "job2", payload={"a": 2}, queue_name="q", job_key="k", flags=["f"], priority=2)
    add_job(db, "job3", queue_name="q2", max_attempts=3)
    get_jobs(db, "w1", ["job3"])
    db.execute(
        "update graphile_worker._private_jobs set last_error = 'err' "
        "where task_id = (select id from graphile_worker._private_tasks where identifier = 'job2')"
    )
    expected = []
    for j in jobs(db):
        expected.append({c: j[c] for c in VIEW_COLUMNS})
    view = rows(db, "select * from graphile_worker.jobs order by id")
    assert len(view) == 3
    assert view == expected
    assert [v["queue_name"] for v in view] == [None, "q", "q2"]
    assert view[2]["locked_by"] == "w1"
