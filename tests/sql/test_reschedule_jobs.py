"""reschedule_jobs on upstream's selection of jobs (workerUtils.rescheduleJobs)."""

from __future__ import annotations

from datetime import timedelta

import psycopg
from helpers import scalar
from jobs_helpers import call, job, make_selection_of_jobs


def test_reschedule_jobs_changes_unlocked_jobs_only(db: psycopg.Connection) -> None:
    sel = make_selection_of_jobs(db)
    run_at = scalar(db, "select now() + interval '60 seconds'")
    ids = [sel[n]["id"] for n in ("failed", "regular1", "locked", "regular2")]
    changed = call(db, "reschedule_jobs", ids, run_at=run_at, attempts=1)
    assert sorted(r["id"] for r in changed) == sorted(
        sel[n]["id"] for n in ("failed", "regular1", "regular2")
    )
    by_id = {r["id"]: r for r in changed}
    for r in changed:
        assert r["attempts"] == 1
        assert abs(r["run_at"] - run_at) < timedelta(seconds=1)
        assert r["priority"] == 0 and r["max_attempts"] == 25
    assert by_id[sel["failed"]["id"]]["last_error"] == "Failed forever"
    assert job(db, sel["locked"]["id"]) == sel["locked"]
    assert job(db, sel["untouched"]["id"]) == sel["untouched"]


def test_reschedule_jobs_null_keeps_each_value(db: psycopg.Connection) -> None:
    sel = make_selection_of_jobs(db)
    before = sel["regular1"]
    [same] = call(db, "reschedule_jobs", [before["id"]])
    for column in ("run_at", "priority", "attempts", "max_attempts", "payload"):
        assert same[column] == before[column]
    [changed] = call(db, "reschedule_jobs", [before["id"]], priority=-3, max_attempts=7)
    assert (changed["priority"], changed["max_attempts"]) == (-3, 7)
    assert changed["run_at"] == before["run_at"] and changed["attempts"] == before["attempts"]
