"""add_job: defaults, job key modes and revisions, keyed jobs in every state (upstream's
workerUtils.addJob, main.runTaskListOnce and batchJobs tests, plus reference section 7.3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from helpers import add_job, get_jobs, job, jobs, report_jobs, scalar, seq_last_values


def test_add_job_applies_upstream_defaults(db: psycopg.Connection) -> None:
    now = scalar(db, "select now()")
    row = add_job(db, "job1")
    assert row is not None
    assert row["payload"] == {}
    assert row["priority"] == 0
    assert row["attempts"] == 0
    assert row["max_attempts"] == 25
    assert row["job_queue_id"] is None
    assert row["key"] is None
    assert row["flags"] is None
    assert row["revision"] == 0
    assert row["last_error"] is None
    assert row["locked_at"] is None and row["locked_by"] is None
    assert row["is_available"] is True
    assert row["run_at"] >= now
    [stored] = jobs(db)
    assert stored["task_identifier"] == "job1"
    assert stored["queue_name"] is None


def test_add_job_stores_all_arguments(db: psycopg.Connection) -> None:
    run_at = scalar(db, "select now() + interval '1 hour'")
    row = add_job(
        db, "job2", payload={"b": [1, 2]}, queue_name="q1", run_at=run_at, max_attempts=3,
        job_key="k1", priority=-5, flags=["a", "b"],
    )
    assert row is not None
    [stored] = jobs(db)
    assert stored["id"] == row["id"]
    assert stored["payload"] == {"b": [1, 2]}
    assert stored["queue_name"] == "q1"
    assert stored["run_at"] == run_at
    assert stored["max_attempts"] == 3
    assert stored["key"] == "k1"
    assert stored["priority"] == -5
    assert stored["flags"] == {"a": True, "b": True}


def test_add_job_keeps_json_payload_text_as_given(db: psycopg.Connection) -> None:
    # payload is json, not jsonb: key order and duplicate keys are preserved.
    text = scalar(
        db,
        "select (graphile_worker.add_job('job1', payload => '{\"b\":1,\"a\":2,\"b\":3}')).payload::text",
    )
    assert text == '{"b":1,"a":2,"b":3}'


def test_add_job_same_key_four_times_leaves_one_job_revision_3(db: psycopg.Connection) -> None:
    for i in range(1, 5):
        add_job(db, "job3", payload={"a": i}, job_key="UNIQUE")
    [stored] = jobs(db)
    assert stored["payload"] == {"a": 4}
    assert stored["revision"] == 3
    assert stored["key"] == "UNIQUE"


def test_add_job_key_modes_sequence_matches_upstream(db: psycopg.Connection) -> None:
    base = scalar(db, "select date_trunc('second', now()) + interval '1 day'")
    run_at = [base + timedelta(minutes=i) for i in range(5)]

    first = add_job(db, "job3", payload={"a": 1}, job_key="UNIQUE", run_at=run_at[1],
                    job_key_mode="replace")
    assert first is not None
    assert (first["revision"], first["run_at"], first["payload"]) == (0, run_at[1], {"a": 1})

    second = add_job(db, "job3", payload={"a": 2}, job_key="UNIQUE", run_at=run_at[2],
                     job_key_mode="preserve_run_at")
    assert second is not None
    assert second["id"] == first["id"]
    assert (second["revision"], second["run_at"], second["payload"]) == (1, run_at[1], {"a": 2})

    third = add_job(db, "job3", payload={"a": 3}, job_key="UNIQUE", run_at=run_at[3],
                    job_key_mode="unsafe_dedupe")
    assert third is not None
    assert third["id"] == first["id"]
    assert (third["revision"], third["run_at"], third["payload"]) == (2, run_at[1], {"a": 2})

    fourth = add_job(db, "job3", payload={"a": 4}, job_key="UNIQUE", run_at=run_at[4],
                     job_key_mode="replace")
    assert fourth is not None
    assert fourth["id"] == first["id"]
    assert (fourth["revision"], fourth["run_at"], fourth["payload"]) == (3, run_at[4], {"a": 4})
    assert len(jobs(db)) == 1


def test_add_job_keyed_update_of_pending_job_keeps_id(db: psycopg.Connection) -> None:
    run_at = scalar(db, "select now() + interval '1 hour'")
    first = add_job(db, "job3", payload={"a": "1"}, job_key="abc")
    second = add_job(db, "job3", payload={"a": "2"}, job_key="abc", run_at=run_at)
    assert first is not None and second is not None
    assert second["id"] == first["id"]
    [stored] = jobs(db)
    assert stored["payload"] == {"a": "2"}
    assert stored["run_at"] == run_at


def test_add_job_key_resets_details_not_specified(db: psycopg.Connection) -> None:
    run_at = scalar(db, "select now() + interval '1 hour'")
    first = add_job(db, "job3", payload={"a": 1}, queue_name="q", max_attempts=3, job_key="abc",
                    priority=4, flags=["x"], run_at=run_at)
    assert first is not None
    second = add_job(db, "job3", job_key="abc")
    assert second is not None and second["id"] == first["id"]
    [stored] = jobs(db)
    assert stored["payload"] == {}
    assert stored["max_attempts"] == 25
    assert stored["queue_name"] is None
    assert stored["priority"] == 0
    assert stored["flags"] is None
    assert stored["run_at"] < run_at

    third = add_job(db, "job2", job_key="abc", queue_name="other", run_at=run_at,
                    max_attempts=100)
    assert third is not None and third["id"] == first["id"]
    [stored] = jobs(db)
    assert stored["task_identifier"] == "job2"
    assert stored["queue_name"] == "other"
    assert stored["run_at"] == run_at
    assert stored["max_attempts"] == 100
    assert stored["revision"] == 2


def test_add_job_key_after_completion_creates_new_job(db: psycopg.Connection) -> None:
    first = add_job(db, "job3", payload={"a": "first"}, job_key="abc")
    assert first is not None
    [claimed] = get_jobs(db, "w1", ["job3"])
    assert report_jobs(db, "w1", completed_job_ids=[claimed["id"]])[first["id"]]["outcome"] == (
        "completed"
    )
    second = add_job(db, "job3", payload={"a": "second"}, job_key="abc")
    assert second is not None and second["id"] != first["id"]
    assert [j["payload"] for j in jobs(db)] == [{"a": "second"}]


def test_add_job_key_while_running_creates_new_job(db: psycopg.Connection) -> None:
    first = add_job(db, "job3", payload={"a": "first"}, job_key="abc")
    assert first is not None
    [claimed] = get_jobs(db, "w1", ["job3"])
    second = add_job(db, "job3", payload={"a": "second"}, job_key="abc")
    assert second is not None and second["id"] != first["id"]
    running = job(db, first["id"])
    # The running job loses its key and will not be retried if it fails.
    assert running["key"] is None
    assert running["attempts"] == running["max_attempts"]
    assert running["locked_by"] == "w1"
    assert second["key"] == "abc" and second["attempts"] == 0

    # After the first job completes, the same worker picks up the second.
    report_jobs(db, "w1", completed_job_ids=[claimed["id"]])
    [next_job] = get_jobs(db, "w1", ["job3"])
    assert next_job["id"] == second["id"]
    assert next_job["payload"] == {"a": "second"}


def test_add_job_key_of_permanently_failed_job_creates_new_job(db: psycopg.Connection) -> None:
    first = add_job(db, "job3", payload={"a": 1}, job_key="abc", max_attempts=1)
    assert first is not None
    [claimed] = get_jobs(db, "w1", ["job3"])
    outcome = report_jobs(db, "w1", failures=[{"id": claimed["id"], "message": "boom"}])
    assert outcome[first["id"]]["outcome"] == "permanently_failed"

    second = add_job(db, "job3", payload={"a": 2}, job_key="abc")
    assert second is not None and second["id"] != first["id"]
    old = job(db, first["id"])
    assert old["key"] is None
    assert old["last_error"] == "boom"
    assert old["attempts"] == old["max_attempts"] == 1
    assert second["key"] == "abc" and second["payload"] == {"a": 2}
    assert second["attempts"] == 0 and second["last_error"] is None


def test_add_job_key_of_job_pending_retry_resets_same_job(db: psycopg.Connection) -> None:
    first = add_job(db, "job3", payload={"a": 1}, job_key="abc")
    assert first is not None
    [claimed] = get_jobs(db, "w1", ["job3"])
    report_jobs(db, "w1", failures=[{"id": claimed["id"], "message": "TEST_ERROR"}])
    failed = job(db, first["id"])
    assert failed["attempts"] == 1 and failed["last_error"] == "TEST_ERROR"

    again = add_job(db, "job3", payload={"a": 2}, job_key="abc")
    assert again is not None and again["id"] == first["id"]
    assert again["attempts"] == 0
    assert again["last_error"] is None
    assert again["run_at"] <= scalar(db, "select now()")
    [rerun] = get_jobs(db, "w1", ["job3"])
    assert rerun["id"] == first["id"]


def test_add_job_preserve_run_at_of_job_pending_retry_takes_new_run_at(
    db: psycopg.Connection,
) -> None:
    # Upstream keeps run_at only while attempts = 0: a job waiting on a retry is reset and takes
    # the new run_at even in preserve mode.
    first = add_job(db, "job3", job_key="abc")
    assert first is not None
    [claimed] = get_jobs(db, "w1", ["job3"])
    report_jobs(db, "w1", failures=[{"id": claimed["id"], "message": "x"}])
    new_run_at = scalar(db, "select now() + interval '2 days'")
    again = add_job(db, "job3", job_key="abc", run_at=new_run_at, job_key_mode="preserve_run_at")
    assert again is not None
    assert again["run_at"] == new_run_at
    assert again["attempts"] == 0


def test_add_job_unsafe_dedupe_returns_running_job_with_revision_bumped(
    db: psycopg.Connection,
) -> None:
    first = add_job(db, "job3", payload={"a": 1}, job_key="abc")
    assert first is not None
    get_jobs(db, "w1", ["job3"])
    running = job(db, first["id"])
    dup = add_job(db, "job3", payload={"a": 2}, job_key="abc", job_key_mode="unsafe_dedupe")
    assert dup is not None
    assert dup["id"] == first["id"]
    assert dup["revision"] == running["revision"] + 1
    assert dup["payload"] == {"a": 1}
    assert dup["locked_by"] == "w1"
    assert dup["attempts"] == running["attempts"]
    assert len(jobs(db)) == 1


def test_add_job_unsafe_dedupe_returns_permanently_failed_job(db: psycopg.Connection) -> None:
    first = add_job(db, "job3", job_key="abc", max_attempts=1)
    assert first is not None
    db.execute(
        "update graphile_worker._private_jobs set attempts = 1, last_error = 'dead' where id = %s",
        [first["id"]],
    )
    dup = add_job(db, "job3", job_key="abc", job_key_mode="unsafe_dedupe")
    assert dup is not None
    assert dup["id"] == first["id"] and dup["revision"] == 1 and dup["last_error"] == "dead"
    assert len(jobs(db)) == 1


def test_add_job_unsafe_dedupe_inserts_when_key_is_new(db: psycopg.Connection) -> None:
    row = add_job(db, "job3", payload={"a": 1}, queue_name="q", job_key="new",
                  job_key_mode="unsafe_dedupe", flags=["f"])
    assert row is not None
    [stored] = jobs(db)
    assert stored["revision"] == 0
    assert stored["queue_name"] == "q"
    assert stored["flags"] == {"f": True}


def test_add_job_array_payloads_with_same_key_are_concatenated(db: psycopg.Connection) -> None:
    for i in (1, 2, 3):
        add_job(db, "job3", payload=[{"a": i}], job_key="mykey")
    [stored] = jobs(db)
    assert stored["payload"] == [{"a": 1}, {"a": 2}, {"a": 3}]
    assert stored["attempts"] == 0
    assert stored["revision"] == 2


def test_add_job_array_payload_replaces_object_payload(db: psycopg.Connection) -> None:
    add_job(db, "job3", payload={"a": 1}, job_key="mykey")
    add_job(db, "job3", payload=[{"a": 2}], job_key="mykey")
    assert [j["payload"] for j in jobs(db)] == [[{"a": 2}]]
    add_job(db, "job3", payload={"b": 3}, job_key="mykey")
    assert [j["payload"] for j in jobs(db)] == [{"b": 3}]


def test_add_job_invalid_key_mode_without_key_is_accepted(db: psycopg.Connection) -> None:
    # As upstream: the mode is only checked when a key is given.
    row = add_job(db, "job1", job_key_mode="not_a_mode")
    assert row is not None
    row = add_job(db, "job1", job_key="k", job_key_mode=None)
    assert row is not None and row["key"] == "k"


def test_add_job_null_key_mode_with_key_replaces_without_preserving_run_at(
    db: psycopg.Connection,
) -> None:
    first_run_at = scalar(db, "select now() + interval '1 hour'")
    second_run_at = scalar(db, "select now() + interval '2 hours'")
    add_job(db, "job1", job_key="k", run_at=first_run_at)
    row = add_job(db, "job1", job_key="k", run_at=second_run_at, job_key_mode=None)
    assert row is not None and row["run_at"] == second_run_at and row["revision"] == 1


@pytest.mark.parametrize("mode", ["replace", "preserve_run_at", "unsafe_dedupe", None])
def test_add_job_existing_task_and_queue_burn_no_identity_value(
    db: psycopg.Connection, mode: str | None
) -> None:
    kwargs = {} if mode is None else {"job_key": "k", "job_key_mode": mode}
    add_job(db, "job1", queue_name="q", **kwargs)
    before = seq_last_values(db)
    for _ in range(3):
        add_job(db, "job1", queue_name="q", **kwargs)
    after = seq_last_values(db)
    assert after["tasks_id_seq"] == before["tasks_id_seq"]
    assert after["job_queues_id_seq"] == before["job_queues_id_seq"]
    assert scalar(db, "select count(*) from graphile_worker._private_tasks") == 1
    assert scalar(db, "select count(*) from graphile_worker._private_job_queues") == 1


def test_add_job_reuses_existing_tasks_and_queues_and_creates_new_ones(
    db: psycopg.Connection,
) -> None:
    """The common case (task and queue exist) takes one insert; a new identifier or queue
    name is created first. Either way the job points at the right rows."""
    first = add_job(db, "t1", queue_name="q1")
    again = add_job(db, "t1", queue_name="q1")
    new_queue = add_job(db, "t1", queue_name="q2")
    new_task = add_job(db, "t2", queue_name="q1")
    no_queue = add_job(db, "t2")
    tasks = dict(db.execute("select identifier, id from graphile_worker._private_tasks").fetchall())
    queues = dict(
        db.execute("select queue_name, id from graphile_worker._private_job_queues").fetchall()
    )
    assert sorted(tasks) == ["t1", "t2"] and sorted(queues) == ["q1", "q2"]
    for row, task_name, queue in [
        (first, "t1", "q1"), (again, "t1", "q1"), (new_queue, "t1", "q2"),
        (new_task, "t2", "q1"), (no_queue, "t2", None),
    ]:
        assert row is not None
        assert row["task_id"] == tasks[task_name]
        assert row["job_queue_id"] == (queues[queue] if queue else None)
    assert scalar(db, "select count(*) from graphile_worker._private_jobs") == 5


# --- what a client cannot read back (issue 13) ----------------------------------------------

KEY_MODES = ["replace", "preserve_run_at", "unsafe_dedupe", None]


@pytest.mark.parametrize("mode", KEY_MODES)
@pytest.mark.parametrize(
    "run_at",
    ["infinity", "-infinity", "0001-01-01 23:59:59.999999+00", "9999-12-31 00:00:00+00",
     "10000-01-01 00:00:00+00", "4713-01-01 00:00:00+00 BC"],
)
def test_add_job_rejects_run_at_outside_python_range_and_burns_nothing(
    db: psycopg.Connection, run_at: str, mode: str | None
) -> None:
    add_job(db, "job1", queue_name="q")
    before = seq_last_values(db)
    kwargs = {} if mode is None else {"job_key": "k", "job_key_mode": mode}
    with pytest.raises(psycopg.Error) as caught:
        db.execute(
            "select graphile_worker.add_job('job1', run_at => %s::timestamptz, "
            "queue_name => 'q', job_key => %s, job_key_mode => %s)",
            [run_at, kwargs.get("job_key"), kwargs.get("job_key_mode", "replace")],
        )
    err: Any = caught.value
    assert err.sqlstate == "GWE01"
    assert err.diag.message_primary.startswith(
        "run_at must be between 0001-01-02 and 9999-12-30 UTC, not ")
    assert "Python's datetime" in err.diag.message_detail
    assert err.diag.message_hint
    assert len(jobs(db)) == 1
    assert seq_last_values(db) == before


@pytest.mark.parametrize("time_zone", ["UTC", "Pacific/Kiritimati", "Etc/GMT+12", "-15:59"])
def test_add_job_run_at_limits_are_accepted_and_read_back_in_any_time_zone(
    db: psycopg.Connection, time_zone: str
) -> None:
    low = add_job(db, "job1", run_at=datetime(1, 1, 2, tzinfo=UTC))
    high = add_job(db, "job1", run_at=datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC))
    assert low is not None and high is not None
    db.execute("select set_config('timezone', %s, false)", [time_zone])
    # psycopg builds a datetime in the session's time zone: it must not overflow year 1..9999
    stored = [j["run_at"] for j in jobs(db)]
    assert stored == [datetime(1, 1, 2, tzinfo=UTC),
                      datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)]


NOT_JSONB = [
    pytest.param('["\\u0000"]', "unsupported Unicode escape sequence", id="nul"),
    pytest.param('{"a": "x\\ud800y"}', "invalid input syntax for type json", id="lone-high"),
    pytest.param('["\\udc00"]', "invalid input syntax for type json", id="lone-low"),
    pytest.param("[1e1000000]", "value overflows numeric format", id="big-exponent"),
    pytest.param("[1e-20000]", "value overflows numeric format", id="small-exponent"),
    pytest.param("[0." + "0" * 17000 + "1]", "value overflows numeric format", id="long-number"),
]


@pytest.mark.parametrize("mode", KEY_MODES)
@pytest.mark.parametrize(("payload", "reason"), NOT_JSONB)
def test_add_job_rejects_payload_jsonb_cannot_hold_and_burns_nothing(
    db: psycopg.Connection, payload: str, reason: str, mode: str | None
) -> None:
    add_job(db, "job1", queue_name="q")
    before = seq_last_values(db)
    with pytest.raises(psycopg.Error) as caught:
        db.execute(
            "select graphile_worker.add_job('job1', %s::json, queue_name => 'q', "
            "job_key => %s, job_key_mode => %s)",
            [payload, None if mode is None else "k", mode or "replace"],
        )
    err: Any = caught.value
    assert err.sqlstate == "GWE03"
    assert err.diag.message_primary == f"payload cannot be converted to jsonb: {reason}"
    assert "jsonb rejects it" in err.diag.message_detail
    assert "base64" in err.diag.message_hint
    assert len(jobs(db)) == 1
    assert seq_last_values(db) == before


@pytest.mark.parametrize("mode", KEY_MODES)
@pytest.mark.parametrize(
    "payload",
    [
        '["\\u00e9\\ud83d\\ude00", "\\\\u0000"]',  # valid escapes; an escaped backslash
        '{"n": 1e9999, "m": 5e-9999, "hex": "0e12345"}',  # within numeric
        '{"big": "' + "x" * 10000 + '"}',  # long: always checked exactly
    ],
    ids=["escapes", "numbers", "long"],
)
def test_add_job_accepts_payloads_the_cheap_test_flags_but_jsonb_holds(
    db: psycopg.Connection, payload: str, mode: str | None
) -> None:
    db.execute(
        "select graphile_worker.add_job('job1', %s::json, job_key => %s, job_key_mode => %s)",
        [payload, None if mode is None else "k", mode or "replace"],
    )
    [text] = db.execute("select payload::text from graphile_worker._private_jobs").fetchone() or []
    assert text == payload


@pytest.mark.parametrize("mode", ["replace", "preserve_run_at"])
def test_add_job_key_stays_replaceable_when_stored_payload_is_not_jsonb(
    db: psycopg.Connection, mode: str
) -> None:
    """A row written by Node or by hand may hold json jsonb rejects: replacing its key merges
    the arrays as text instead of failing with 22P05."""
    row = add_job(db, "job1", payload=[0], job_key="k")
    assert row is not None
    db.execute(
        "update graphile_worker._private_jobs set payload = %s::json where id = %s",
        [' [ "\\u0000", "\\ud800" ] ', row["id"]],
    )
    merged = add_job(db, "job1", payload=[1, {"a": 2}], job_key="k", job_key_mode=mode)
    assert merged is not None and merged["id"] == row["id"] and merged["revision"] == 1
    [text] = db.execute(
        "select payload::text from graphile_worker._private_jobs where id = %s", [row["id"]]
    ).fetchone() or []
    assert text == '["\\u0000", "\\ud800", 1, {"a": 2}]'
    # an empty stored array, and a stored non-array replaced outright
    db.execute(
        "update graphile_worker._private_jobs set payload = %s::json where id = %s",
        [' [ ] ', row["id"]],
    )
    assert (add_job(db, "job1", payload=[3], job_key="k") or {})["payload"] == [3]
    db.execute(
        "update graphile_worker._private_jobs set payload = %s::json where id = %s",
        ['"\\u0000"', row["id"]],
    )
    assert (add_job(db, "job1", payload=[4], job_key="k") or {})["payload"] == [4]


def test_add_job_keyed_array_merge_still_normalises_like_jsonb(db: psycopg.Connection) -> None:
    """Rows jsonb can hold merge as upstream does: through jsonb."""
    db.execute("select graphile_worker.add_job('job1', '[ {\"b\":1,  \"a\":2} ]', job_key => 'k')")
    db.execute("select graphile_worker.add_job('job1', '[\"\\u00e9\"]', job_key => 'k')")
    [text] = db.execute("select payload::text from graphile_worker._private_jobs").fetchone() or []
    assert text == '[{"a": 2, "b": 1}, "é"]'
