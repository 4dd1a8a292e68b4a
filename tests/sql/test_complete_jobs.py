"""complete_jobs on upstream's selection of jobs (workerUtils.completeJobs)."""

from __future__ import annotations

import psycopg
from helpers import call, job, jobs, make_selection_of_jobs, scalar


def test_complete_jobs_deletes_unlocked_jobs_only(db: psycopg.Connection) -> None:
    sel = make_selection_of_jobs(db)
    ids = [sel[n]["id"] for n in ("failed", "regular1", "locked", "regular2")]
    completed = call(db, "complete_jobs", ids)
    assert sorted(r["id"] for r in completed) == sorted(
        sel[n]["id"] for n in ("failed", "regular1", "regular2")
    )
    remaining = jobs(db)
    assert [r["id"] for r in remaining] == [sel["locked"]["id"], sel["untouched"]["id"]]
    assert job(db, sel["locked"]["id"]) == sel["locked"]
    assert job(db, sel["untouched"]["id"]) == sel["untouched"]


def test_complete_jobs_deletes_job_locked_over_4_hours_ago(db: psycopg.Connection) -> None:
    sel = make_selection_of_jobs(db)
    db.execute(
        "update graphile_worker._private_jobs set locked_at = now() - interval '4 hours 1 minute' "
        "where id = %s",
        [sel["locked"]["id"]],
    )
    assert [r["id"] for r in call(db, "complete_jobs", [sel["locked"]["id"]])] == [
        sel["locked"]["id"]
    ]


def test_complete_jobs_leaves_queues_alone_and_ignores_unknown_ids(db: psycopg.Connection) -> None:
    row = call(db, "add_job", "job1", queue_name="q")[0]
    assert call(db, "complete_jobs", [row["id"], 999999]) != []
    assert scalar(db, "select count(*) from graphile_worker._private_job_queues") == 1
    assert call(db, "complete_jobs", [999999]) == []
