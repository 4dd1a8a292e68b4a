"""next_job_due_at: when the runner should wake next."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from helpers import add_job, call_scalar, get_jobs, report_jobs, scalar


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


# --- rows no client can read (written by Node or by hand; issue 13) -------------------------


def _set_run_at(db: psycopg.Connection, job_id: int, run_at: str) -> None:
    db.execute(
        "update graphile_worker._private_jobs set run_at = %s::timestamptz where id = %s",
        [run_at, job_id],
    )


def test_next_job_due_at_ignores_infinite_run_at(db: psycopg.Connection) -> None:
    """Before, it returned 'infinity', which psycopg cannot load: every poll failed."""
    now = scalar(db, "select date_trunc('second', now())")
    never = add_job(db, "job1", priority=-1)
    past = add_job(db, "job1")
    assert never is not None and past is not None
    _set_run_at(db, never["id"], "infinity")
    _set_run_at(db, past["id"], "-infinity")  # already due: not "next"
    assert _due(db, ["job1"], now) is None
    add_job(db, "job1", run_at=now + timedelta(seconds=7))
    assert _due(db, ["job1"], now) == now + timedelta(seconds=7)


@pytest.mark.parametrize("time_zone", ["UTC", "Pacific/Kiritimati", "Etc/GMT+12"])
def test_next_job_due_at_clamps_run_at_beyond_year_9999(
    db: psycopg.Connection, time_zone: str
) -> None:
    now = scalar(db, "select date_trunc('second', now())")
    far = add_job(db, "job1")
    assert far is not None
    _set_run_at(db, far["id"], "20000-01-01 00:00:00+00")
    db.execute("select set_config('timezone', %s, false)", [time_zone])
    assert _due(db, ["job1"], now) == datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)
    # a time within the range still wins
    add_job(db, "job1", run_at=now + timedelta(days=1))
    assert _due(db, ["job1"], now) == now + timedelta(days=1)


def test_next_job_due_at_clamps_to_year_1_when_now_is_before_it(db: psycopg.Connection) -> None:
    early = add_job(db, "job1")
    assert early is not None
    _set_run_at(db, early["id"], "0100-01-01 00:00:00+00 BC")
    assert _due(db, ["job1"], datetime.min.replace(tzinfo=UTC)) is None
    # now itself may be any timestamptz (here -infinity): the result stays representable
    assert scalar(
        db, "select graphile_worker.next_job_due_at(array['job1'], now => '-infinity')"
    ) == datetime(1, 1, 2, tzinfo=UTC)
