"""reschedule_jobs on upstream's selection of jobs (workerUtils.rescheduleJobs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from helpers import call, job, jobs, make_selection_of_jobs, scalar


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


# --- arguments are checked before any row is touched (issue 13) -----------------------------


@pytest.mark.parametrize(
    ("kwargs", "sqlstate", "message"),
    [
        ({"max_attempts": 0}, "23514", "max_attempts must be at least 1, not 0"),
        ({"max_attempts": 40000}, "22003",
         "smallint out of range: max_attempts 40000 is above 32767"),
        ({"priority": 40000}, "22003",
         "smallint out of range: priority 40000 is outside -32768..32767"),
        ({"priority": -32769}, "22003",
         "smallint out of range: priority -32769 is outside -32768..32767"),
        ({"attempts": 40000}, "22003", "attempts must be between 0 and 32767, not 40000"),
        # a deviation from upstream, which stores the negative count
        ({"attempts": -5}, "22003", "attempts must be between 0 and 32767, not -5"),
        ({"run_at": "infinity"}, "GWE01",
         "run_at must be between 0001-01-02 and 9999-12-30 UTC, not infinity"),
        ({"run_at": "-infinity", "priority": 1}, "GWE01",
         "run_at must be between 0001-01-02 and 9999-12-30 UTC, not -infinity"),
        ({"run_at": "10000-01-01 00:00:00+00"}, "GWE01",
         "run_at must be between 0001-01-02 and 9999-12-30 UTC, not 10000-01-01 00:00:00+00"),
    ],
)
def test_reschedule_jobs_rejects_bad_arguments_before_touching_rows(
    db: psycopg.Connection, kwargs: dict[str, Any], sqlstate: str, message: str
) -> None:
    sel = make_selection_of_jobs(db)
    ids = [j["id"] for j in sel.values()]
    before = jobs(db)
    parts = [f"{name} => %s" + ("::timestamptz" if name == "run_at" else "") for name in kwargs]
    with pytest.raises(psycopg.Error) as caught:
        db.execute(
            f"select graphile_worker.reschedule_jobs(%s, {', '.join(parts)})",
            [ids, *kwargs.values()],
        )
    err: Any = caught.value
    assert err.sqlstate == sqlstate
    assert err.diag.message_primary == message
    assert err.diag.message_detail and err.diag.message_hint
    assert "Failing row" not in str(err)  # not the raw check-constraint error
    assert jobs(db) == before


def test_reschedule_jobs_accepts_the_limits(db: psycopg.Connection) -> None:
    sel = make_selection_of_jobs(db)
    job_id = sel["regular1"]["id"]
    low = datetime(1, 1, 2, tzinfo=UTC)
    high = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)
    [a] = call(db, "reschedule_jobs", [job_id], run_at=low, priority=-32768, attempts=0,
               max_attempts=1)
    assert (a["run_at"], a["priority"], a["attempts"], a["max_attempts"]) == (low, -32768, 0, 1)
    [b] = call(db, "reschedule_jobs", [job_id], run_at=high, priority=32767, attempts=32767,
               max_attempts=32767)
    assert (b["run_at"], b["priority"], b["attempts"], b["max_attempts"]) == (
        high, 32767, 32767, 32767)
