"""report_jobs: completion and failure by the runner (upstream's complete/fail SQL, main.
runTaskListOnce retry tests, batchJobs partial failure; guarded by locked_by)."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from helpers import add_job, get_jobs, job, job_queues, jobs, report_jobs, scalar, snapshot

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
    report_jobs(db, "w1", failures=[{"id": claimed["id"], "message": "x", "payload": None}])
    stored = job(db, claimed["id"])
    assert stored["payload"] == [{"a": 1}, {"a": 2}]
    assert stored["last_error"] == "x"


def test_report_jobs_only_touches_jobs_locked_by_that_worker(db: psycopg.Connection) -> None:
    mine = add_job(db, "job1", queue_name="q1")
    theirs = add_job(db, "job1", queue_name="q2")
    unlocked = add_job(db, "other")
    assert mine is not None and theirs is not None and unlocked is not None
    _claim_one(db, "w1")
    _claim_one(db, "w2")
    before = {j["id"]: j for j in jobs(db)}
    queues_before = job_queues(db)

    # (one call may not name a job both completed and failed: two calls)
    completed = report_jobs(db, "w1", completed_job_ids=[theirs["id"], unlocked["id"], 424242])
    failed = report_jobs(
        db, "w1",
        failures=[{"id": theirs["id"], "message": "x"}, {"id": unlocked["id"], "message": "y"},
                  {"id": 434343, "message": "z"}],
    )
    assert set(completed) == {theirs["id"], unlocked["id"], 424242}
    assert set(failed) == {theirs["id"], unlocked["id"], 434343}
    for r in [*completed.values(), *failed.values()]:
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


# --- every malformed failure entry is GWA03 and changes nothing (issue 13) ------------------

MALFORMED = [
    pytest.param({"id": 2.5, "message": "m"}, '"id" 2.5 is not a job id', id="fractional-id"),
    pytest.param({"id": 2**63, "message": "m"}, f'"id" {2**63} is not a job id',
                 id="id-beyond-bigint"),
    pytest.param({"id": -(2**63) - 1, "message": "m"}, "is not a job id", id="id-below-bigint"),
    pytest.param({"id": True, "message": "m"}, '"id" must be a job id', id="boolean-id"),
    pytest.param({"id": "{job}", "message": None}, '"message" must be a string, not JSON null',
                 id="null-message"),
    pytest.param({"id": "{job}"}, '"message" is missing', id="no-message"),
    pytest.param({"id": "{job}", "message": ["m"]}, '"message" must be a string, not JSON array',
                 id="array-message"),
    pytest.param({"id": "{job}", "message": "a\x00b"}, "cannot be converted to jsonb",
                 id="nul-in-message"),
    pytest.param({"id": "{job}", "message": "a\ud800b"}, "cannot be converted to jsonb",
                 id="lone-surrogate-in-message"),
    pytest.param({"id": "{job}", "message": "m", "payload": {"a": "\x00"}},
                 "cannot be converted to jsonb", id="nul-in-payload"),
    pytest.param({"id": "{job}", "message": "m", "permanent": 1},
                 '"permanent" must be true or false, not JSON number', id="number-permanent"),
    pytest.param({"id": "{job}", "message": "m", "retry_delay": 1e308},
                 '"retry_delay" 1e+308 is outside 0 to 315360000 seconds', id="retry-delay-1e308"),
    pytest.param({"id": "{job}", "message": "m", "retry_delay": 315360000.5},
                 "is outside 0 to 315360000 seconds", id="retry-delay-over-cap"),
    pytest.param({"id": "{job}", "message": "m", "retry_delay": -0.001},
                 "is outside 0 to 315360000 seconds", id="negative-retry-delay"),
    pytest.param({"id": "{job}", "message": "m", "retry_delay": "5"},
                 '"retry_delay" must be a number of seconds, not JSON string', id="string-retry-delay"),
    pytest.param({"id": "{job}", "message": "m", "retry_delay": [5]},
                 '"retry_delay" must be a number of seconds, not JSON array', id="array-retry-delay"),
]


def _entry(entry: dict[str, Any], job_id: int) -> dict[str, Any]:
    return {k: job_id if v == "{job}" else v for k, v in entry.items()}


@pytest.mark.parametrize(("entry", "problem"), MALFORMED)
def test_report_jobs_malformed_failure_entry_is_gwa03_and_changes_nothing(
    db: psycopg.Connection, entry: dict[str, Any], problem: str
) -> None:
    done = add_job(db, "job1", queue_name="q1")
    failing = add_job(db, "job1", queue_name="q2")
    assert done is not None and failing is not None
    get_jobs(db, "w1", ["job1"], batch_size=2)
    before = snapshot(db)
    failures = [{"id": failing["id"], "message": "fine"}, _entry(entry, failing["id"])]
    with pytest.raises(psycopg.Error) as caught:
        report_jobs(db, "w1", completed_job_ids=[done["id"]], failures=failures)
    err: Any = caught.value
    assert err.sqlstate == "GWA03"
    assert err.diag.message_primary.startswith("malformed failure entry: ")
    assert err.diag.message_detail.startswith("Entry 2 of failures")
    assert problem in err.diag.message_detail
    assert err.diag.message_hint
    assert snapshot(db) == before


def test_report_jobs_malformed_entry_wording(db: psycopg.Connection) -> None:
    with pytest.raises(psycopg.Error) as caught:
        db.execute("""select graphile_worker.report_jobs('w', null, '[{"id": 2.5, "message": "m"}]')""")
    err: Any = caught.value
    assert err.diag.message_primary == 'malformed failure entry: {"id": 2.5, "message": "m"}'
    assert err.diag.message_detail == (
        'Entry 1 of failures: "id" 2.5 is not a job id (a whole number within bigint). Each entry '
        'needs "id" (a job id) and "message" (text); "payload", "permanent" (boolean), '
        '"retry_delay" (seconds, 0 to 315360000) and "snooze" (boolean, with retry_delay) are '
        'optional.'
    )
    assert err.diag.message_hint == 'Pass e.g. [{"id": 42, "message": "timeout", "retry_delay": 30}].'


def test_report_jobs_same_id_twice_in_failures_is_gwa03(db: psycopg.Connection) -> None:
    """Before: the first entry was kept and the second's permanent silently dropped."""
    row = add_job(db, "job1")
    assert row is not None
    _claim_one(db)
    before = snapshot(db)
    with pytest.raises(psycopg.Error) as caught:
        report_jobs(db, "w1", failures=[
            {"id": row["id"], "message": "a"},
            {"id": row["id"] + 1, "message": "b"},
            {"id": row["id"], "message": "c", "permanent": True},
        ])
    err: Any = caught.value
    assert err.sqlstate == "GWA03"
    assert err.diag.message_primary == f"job {row['id']} is in failures more than once"
    assert err.diag.message_detail == (
        f"Entries 1, 3 of failures have the id {row['id']}; only one outcome can be recorded."
    )
    assert err.diag.message_hint == "Report each job once: one failure entry per job."
    assert snapshot(db) == before


def test_report_jobs_id_both_completed_and_failed_is_gwa03(db: psycopg.Connection) -> None:
    row = add_job(db, "job1")
    assert row is not None
    _claim_one(db)
    before = snapshot(db)
    with pytest.raises(psycopg.Error) as caught:
        report_jobs(db, "w1", completed_job_ids=[row["id"]],
                    failures=[{"id": 424242, "message": "a"}, {"id": row["id"], "message": "b"}])
    err: Any = caught.value
    assert err.sqlstate == "GWA03"
    assert err.diag.message_primary == f"job {row['id']} is reported both completed and failed"
    assert err.diag.message_detail == (
        f"The id {row['id']} is in completed_job_ids and in failures (entry 2)."
    )
    assert err.diag.message_hint
    assert snapshot(db) == before


@pytest.mark.parametrize(
    ("delay", "seconds"),
    [(315360000, 315360000), (315360000.0, 315360000), (1e-7, 0), (5e-324, 0), (0.000001, 1e-6)],
)
def test_report_jobs_retry_delay_up_to_ten_years_is_accepted(
    db: psycopg.Connection, delay: float, seconds: float
) -> None:
    row = add_job(db, "job1")
    assert row is not None
    _claim_one(db)
    now = scalar(db, "select now()")
    result = report_jobs(
        db, "w1", failures=[{"id": row["id"], "message": "later", "retry_delay": delay}], now=now
    )
    assert result[row["id"]]["run_at"] == now + timedelta(seconds=seconds)


def test_report_jobs_message_with_valid_escapes_is_stored(db: psycopg.Connection) -> None:
    row = add_job(db, "job1")
    assert row is not None
    _claim_one(db)
    message = "caf\u00e9 \U0001f600 \\u0000 " + "x" * 7000
    report_jobs(db, "w1", failures=[{"id": row["id"], "message": message}])
    assert job(db, row["id"])["last_error"] == message


@pytest.mark.parametrize(
    ("delay", "seconds"),
    [("1e-10000", 0), ("0." + "0" * 100 + "1", 0), ("1e-400", 0), ("3e0", 3), ("3.0000004", 3)],
)
def test_report_jobs_retry_delay_any_json_number_in_range_is_accepted(
    db: psycopg.Connection, delay: str, seconds: int
) -> None:
    """JSON numbers no double precision holds are rounded to microseconds, not a raw 22003."""
    row = add_job(db, "job1")
    assert row is not None
    _claim_one(db)
    now = scalar(db, "select now()")
    [r] = db.execute(
        "select run_at from graphile_worker.report_jobs('w1', null, %s::json, %s)",
        [f'[{{"id": {row["id"]}, "message": "m", "retry_delay": {delay}}}]', now],
    ).fetchall()
    assert r[0] == now + timedelta(seconds=seconds)


def test_report_jobs_id_written_with_an_exponent_is_the_whole_number(
    db: psycopg.Connection,
) -> None:
    row = add_job(db, "job1")
    assert row is not None
    _claim_one(db)
    db.execute("select setval('graphile_worker.jobs_id_seq1', 999)")
    thousand = add_job(db, "job1")
    assert thousand is not None and thousand["id"] == 1000
    get_jobs(db, "w1", ["job1"])
    [r] = db.execute(
        """select job_id, outcome from graphile_worker.report_jobs('w1', null, '[{"id": 1e3, "message": "m"}]')"""
    ).fetchall()
    assert r == (1000, "failed")


# --- snooze (0.1.8, issue 17 item 4) ---------------------------------------------------------

def test_a_snooze_gives_the_attempt_back_and_keeps_last_error(db: psycopg.Connection) -> None:
    row = add_job(db, "job1", max_attempts=1)
    assert row is not None
    db.execute("update graphile_worker._private_jobs set last_error = 'before' where id = %s",
               (row["id"],))
    claimed = _claim_one(db)
    assert claimed["attempts"] == 1
    now = claimed["run_at"] + timedelta(seconds=5)
    out = report_jobs(db, "w1", failures=[{"id": row["id"], "message": "ignored",
                                           "snooze": True, "retry_delay": 60}], now=now)
    assert out[row["id"]]["outcome"] == "snoozed"
    assert out[row["id"]]["attempts"] == 0
    stored = job(db, row["id"])
    assert (stored["attempts"], stored["last_error"], stored["locked_by"]) == (0, "before", None)
    assert stored["run_at"] == now + timedelta(seconds=60)
    again = _claim_one(db, now=stored["run_at"])
    assert again["attempts"] == 1  # max_attempts 1: a snooze that used it would leave none


def test_a_snooze_records_no_attempt_error(db: psycopg.Connection) -> None:
    db.execute("select graphile_worker.set_retention(null, '1 day')")
    row = add_job(db, "job1")
    assert row is not None
    _claim_one(db)
    report_jobs(db, "w1", failures=[{"id": row["id"], "message": "x", "snooze": True,
                                     "retry_delay": 0}])
    assert scalar(db, "select count(*) from graphile_worker._private_attempt_errors") == 0


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ({"snooze": "yes", "retry_delay": 1}, '"snooze" must be true or false'),
        ({"snooze": True}, '"snooze" needs "retry_delay"'),
        ({"snooze": True, "retry_delay": 1, "permanent": True}, "cannot both be true"),
    ],
)
def test_a_malformed_snooze_changes_nothing(
    db: psycopg.Connection, entry: dict[str, Any], fragment: str
) -> None:
    row = add_job(db, "job1")
    assert row is not None
    _claim_one(db)
    before = snapshot(db)
    with pytest.raises(psycopg.Error) as err:
        report_jobs(db, "w1", failures=[{"id": row["id"], "message": "m", **entry}])
    assert err.value.sqlstate == "GWA03"
    assert fragment in (err.value.diag.message_detail or "")
    assert snapshot(db) == before
