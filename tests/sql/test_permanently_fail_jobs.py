"""permanently_fail_jobs on upstream's selection of jobs (workerUtils.permanentlyFailJobs)."""

from __future__ import annotations

import psycopg
from helpers import call, job, make_selection_of_jobs


def test_permanently_fail_jobs_marks_unlocked_jobs_only(db: psycopg.Connection) -> None:
    sel = make_selection_of_jobs(db)
    ids = [sel[n]["id"] for n in ("failed", "regular1", "locked", "regular2")]
    failed = call(db, "permanently_fail_jobs", ids, "TESTING!")
    assert sorted(r["id"] for r in failed) == sorted(
        sel[n]["id"] for n in ("failed", "regular1", "regular2")
    )
    for r in failed:
        assert r["last_error"] == "TESTING!"
        assert r["attempts"] == r["max_attempts"] > 0
        assert r["is_available"] is False
        assert r["updated_at"] >= sel["regular1"]["updated_at"]
    assert job(db, sel["locked"]["id"]) == sel["locked"]
    assert job(db, sel["untouched"]["id"]) == sel["untouched"]


def test_permanently_fail_jobs_default_message(db: psycopg.Connection) -> None:
    sel = make_selection_of_jobs(db)
    [row] = call(db, "permanently_fail_jobs", [sel["regular1"]["id"]])
    assert row["last_error"] == "Manually marked as failed"
