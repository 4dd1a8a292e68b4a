"""report_jobs: completion and failure by the runner (upstream's complete/fail SQL, main.
runTaskListOnce retry tests, batchJobs partial failure; guarded by locked_by)."""

from __future__ import annotations

import math
from datetime import timedelta

import psycopg
from helpers import scalar
from jobs_helpers import add_job, get_jobs, job, job_queues, jobs, report_jobs

TOLERANCE = timedelta(milliseconds=1)


def _claim_one(db: psycopg.Connection, worker: str = "w1", **kwargs: object) -> dict:
    claimed = get_jobs(db, worker, ["job1"], **kwargs)
    assert len(claimed) == 1, claimed
    return claimed[0]


def test_report_jobs_completed_deletes_job_and_unlocks_queue(db: psycopg.Connection) -> None:
    add_job(db, "job1", payload={"a": 1}, queue_name="q")
    claimed = _claim_one(db)
    result = report_jobs(db, "w1", completed_job_ids=[claimed["id"]])
    assert result[claimed["id"]]["outcome"] == "completed"
    assert jobs(db) == []
    [queue] = job_queues(db)
    assert queue["locked_at"] is None and queue["locked_by"] is None


def test_report_jobs_failure_retries_after_e_then_e_squared_seconds(
    db: psycopg.Connection,
) -> None:
    row = add_job(db, "job1", queue_name="q")
    assert row is not None
    claimed = _claim_one(db)
    t1 = claimed["run_at"] + timedelta(seconds=10)
    result = report_jobs(db, "w1", failures=[{"id": claimed["id"], "message": "TEST_ERROR"}],
                         now=t1)
    first = result[claimed["id"]]
    assert first["outcome"] == "failed"
    assert (first["attempts"], first["max_attempts"]) == (1, 25)
    assert abs(first["run_at"] - (t1 + timedelta(seconds=math.e))) < TOLERANCE
    stored = job(db, row["id"])
    assert stored["last_error"] == "TEST_ERROR"
    assert stored["locked_at"] is None and stored["locked_by"] is None
    assert stored["run_at"] == first["run_at"]
    [queue] = job_queues(db)
    assert queue["locked_at"] is None

    # Not due before the backoff has passed.
    assert get_jobs(db, "w1", ["job1"], now=first["run_at"] - timedelta(milliseconds=10)) == []
    again = _claim_one(db, now=first["run_at"])
    assert again["attempts"] == 2
    t2 = first["run_at"] + timedelta(seconds=1)
    second = report_jobs(db, "w1", failures=[{"id": row["id"], "message": "TEST_ERROR 2"}],
                         now=t2)[row["id"]]
    assert second["attempts"] == 2
    assert abs(second["run_at"] - (t2 + timedelta(seconds=math.e**2))) < TOLERANCE
    assert job(db, row["id"])["last_error"] == "TEST_ERROR 2"


def test_report_jobs_backoff_counts_from_run_at_when_later_than_now(
    db: psycopg.Connection,
) -> None:
    row = add_job(db, "job1")
    assert row is not None
    claimed = _claim_one(db)
    earlier = claimed["run_at"] - timedelta(hours=1)
    [result] = report_jobs(db, "w1", failures=[{"id": row["id"], "message": "x"}],
                           now=earlier).values()
    assert abs(result["run_at"] - (claimed["run_at"] + timedelta(seconds=math.e))) < TOLERANCE


def test_report_jobs_backoff_is_capped_at_e_to_the_10(db: psycopg.Connection) -> None:
    row = add_job(db, "job1")
    assert row is not None
    db.execute("update graphile_worker._private_jobs set attempts = 11 where id = %s", [row["id"]])
    claimed = _claim_one(db)
    assert claimed["attempts"] == 12
    now = claimed["run_at"] + timedelta(seconds=1)
    result = report_jobs(db, "w1", failures=[{"id": row["id"], "message": "x"}], now=now)
    expected = now + timedelta(seconds=math.exp(10))
    assert abs(result[row["id"]]["run_at"] - expected) < TOLERANCE


def test_report_jobs_last_attempt_failure_is_permanent(db: psycopg.Connection) -> None:
    row = add_job(db, "job1", max_attempts=1, queue_name="q")
    assert row is not None
    _claim_one(db)
    result = report_jobs(db, "w1", failures=[{"id": row["id"], "message": "final"}])
    assert result[row["id"]]["outcome"] == "permanently_failed"
    stored = job(db, row["id"])
    assert stored["is_available"] is False and stored["last_error"] == "final"
    # A permanently failed job does not block its queue.
    add_job(db, "job1", queue_name="q")
    assert len(get_jobs(db, "w2", ["job1"])) == 1


def test_report_jobs_permanent_option_stops_retries(db: psycopg.Connection) -> None:
    row = add_job(db, "job1")
    assert row is not None
    _claim_one(db)
    result = report_jobs(
        db, "w1", failures=[{"id": row["id"], "message": "bad input", "permanent": True}]
    )
    assert result[row["id"]]["outcome"] == "permanently_failed"
    assert result[row["id"]]["attempts"] == 25
    stored = job(db, row["id"])
    assert (stored["attempts"], stored["last_error"]) == (25, "bad input")
    assert get_jobs(db, "w1", ["job1"], now=stored["run_at"] + timedelta(days=30)) == []


def test_report_jobs_retry_delay_replaces_backoff(db: psycopg.Connection) -> None:
    row = add_job(db, "job1")
    assert row is not None
    _claim_one(db)
    now = scalar(db, "select now() + interval '1 minute'")
    result = report_jobs(
        db, "w1", failures=[{"id": row["id"], "message": "later", "retry_delay": 30.5}], now=now
    )
    assert result[row["id"]]["outcome"] == "failed"
    assert result[row["id"]]["run_at"] == now + timedelta(seconds=30.5)
    zero = add_job(db, "job1")
    assert zero is not None
    _claim_one(db)
    result = report_jobs(
        db, "w1", failures=[{"id": zero["id"], "message": "now", "retry_delay": 0}], now=now
    )
    assert result[zero["id"]]["run_at"] == now


def test_report_jobs_replacement_payload_keeps_unfinished_batch_items(
    db: psycopg.Connection,
) -> None:
    for i in (1, 2, 3):
        add_job(db, "job1", payload=[{"a": i}], job_key="mykey")
    claimed = _claim_one(db)
    assert claimed["payload"] == [{"a": 1}, {"a": 2}, {"a": 3}]
    report_jobs(db, "w1", failures=[
        {"id": claimed["id"], "message": "partial", "payload": [{"a": 1}, {"a": 3}]}
    ])
    stored = job(db, claimed["id"])
    assert stored["payload"] == [{"a": 1}, {"a": 3}]
    assert stored["attempts"] == 1


def test_report_jobs_failure_without_payload_keeps_payload(db: psycopg.Connection) -> None:
    add_job(db, "job1", payload=[{"a": 1}, {"a": 2}])
    claimed = _claim_one(db)
    report_jobs(db, "w1", failures=[{"id": claimed["id"], "message": None}])
    stored = job(db, claimed["id"])
    assert stored["payload"] == [{"a": 1}, {"a": 2}]
    assert stored["last_error"] == "Non error or error without message thrown."


def test_report_jobs_only_touches_jobs_locked_by_that_worker(db: psycopg.Connection) -> None:
    mine = add_job(db, "job1", queue_name="q1")
    theirs = add_job(db, "job1", queue_name="q2")
    unlocked = add_job(db, "other")
    assert mine is not None and theirs is not None and unlocked is not None
    _claim_one(db, "w1")
    _claim_one(db, "w2")
    before = {j["id"]: j for j in jobs(db)}
    queues_before = job_queues(db)

    result = report_jobs(
        db, "w1",
        completed_job_ids=[theirs["id"], unlocked["id"], 424242],
        failures=[{"id": theirs["id"], "message": "x"}, {"id": unlocked["id"], "message": "y"},
                  {"id": 434343, "message": "z"}],
    )
    assert set(result) == {theirs["id"], unlocked["id"], 424242, 434343}
    for r in result.values():
        assert r["outcome"] == "lost"
        assert (r["attempts"], r["max_attempts"], r["run_at"]) == (None, None, None)
    assert {j["id"]: j for j in jobs(db)} == before
    assert job_queues(db) == queues_before


def test_report_jobs_zombie_cannot_complete_job_reclaimed_by_another(
    db: psycopg.Connection,
) -> None:
    row = add_job(db, "job1", queue_name="q")
    assert row is not None
    claimed = _claim_one(db, "zombie")
    later = claimed["locked_at"] + timedelta(hours=4, minutes=1)
    assert scalar(db, "select graphile_worker.reset_locked(now => %s)", [later]) == 1
    _claim_one(db, "fresh", now=later)
    result = report_jobs(db, "zombie", completed_job_ids=[row["id"]])
    assert result[row["id"]]["outcome"] == "lost"
    stored = job(db, row["id"])
    assert stored["locked_by"] == "fresh" and stored["attempts"] == 2
    assert job_queues(db)[0]["locked_by"] == "fresh"


def test_report_jobs_reports_a_mixed_batch(db: psycopg.Connection) -> None:
    ids = []
    for _ in range(4):
        row = add_job(db, "job1")
        assert row is not None
        ids.append(row["id"])
    get_jobs(db, "w1", ["job1"], batch_size=4)
    result = report_jobs(
        db, "w1", completed_job_ids=ids[:2],
        failures=[{"id": ids[2], "message": "x"}, {"id": ids[3], "message": "y", "permanent": True}],
    )
    assert {i: r["outcome"] for i, r in result.items()} == {
        ids[0]: "completed", ids[1]: "completed", ids[2]: "failed", ids[3]: "permanently_failed"
    }
    assert [j["id"] for j in jobs(db)] == ids[2:]


def test_report_jobs_with_nothing_to_report_returns_nothing(db: psycopg.Connection) -> None:
    assert report_jobs(db, "w1") == {}
    assert report_jobs(db, "w1", completed_job_ids=[], failures=[]) == {}
