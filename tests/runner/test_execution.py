"""Running jobs end to end: a runner subprocess against a real database."""

from __future__ import annotations

import json

import psycopg
import pytest
from helpers import one, rows, scalar, wait_until

pytestmark = pytest.mark.usefixtures("runs_table")


def enqueue(db: psycopg.Connection, identifier: str, payload: object = None, **kw: object) -> int:
    args = ", ".join(f"{k} => %({k})s" for k in kw)
    sql = f"select id from graphile_worker.add_job(%(identifier)s, %(payload)s::json{', ' if args else ''}{args})"
    params = {"identifier": identifier, "payload": json.dumps(payload), **kw}
    return int(scalar(db, sql, params))


def test_2000_jobs_sync_and_async_each_run_exactly_once(db, start_runner):
    db.execute(
        "select graphile_worker.add_jobs(array(select row(case when i % 2 = 0 then 'rec_async'"
        " else 'rec_sync' end, json_build_object('i', i), null, null, null, null, null, null)"
        "::graphile_worker.job_spec from generate_series(1, 2000) i))"
    )
    runner = start_runner("record.py", "-j", "8", "--once")
    assert runner.wait(120) == 0, runner.log
    counts = one(
        db,
        "select count(*) as calls, count(distinct job_id) as jobs,"
        " count(*) filter (where task = 'rec_async') as async_calls,"
        " count(*) filter (where task = 'rec_sync') as sync_calls from runs",
    )
    assert counts == {"calls": 2000, "jobs": 2000, "async_calls": 1000, "sync_calls": 1000}
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 0
    assert scalar(db, "select count(*) from graphile_worker._private_job_queues"
                  " where locked_by is not null") == 0


def test_failing_job_records_attempt_error_and_backoff(db, start_runner):
    job_id = enqueue(db, "fail_always", {}, max_attempts=3)
    before = scalar(db, "select now()")
    runner = start_runner("record.py", "--once")
    assert runner.wait(60) == 0, runner.log
    after = scalar(db, "select now()")
    job = one(db, "select attempts, max_attempts, last_error, run_at, locked_by"
                  " from graphile_worker.jobs where id = %s", (job_id,))
    assert job["attempts"] == 1
    assert job["last_error"] == "ValueError: always fails (attempt 1)"
    assert job["locked_by"] is None
    # run_at = greatest(now, run_at) + exp(1) seconds, "now" being the report's time
    low = (before - job["run_at"]).total_seconds()
    assert before.timestamp() + 2.71 <= job["run_at"].timestamp() <= after.timestamp() + 2.72, low
    assert "attempt 1 of 3 failed: ValueError: always fails" in runner.log


def test_permanent_failure_uses_up_attempts_after_one_try(db, start_runner):
    job_id = enqueue(db, "fail_permanently", {}, max_attempts=5)
    runner = start_runner("record.py", "--once")
    assert runner.wait(60) == 0, runner.log
    job = one(db, "select attempts, max_attempts, last_error from graphile_worker.jobs"
                  " where id = %s", (job_id,))
    assert job == {"attempts": 5, "max_attempts": 5, "last_error": "the address does not exist"}
    assert scalar(db, "select count(*) from runs where job_id = %s", (job_id,)) == 1
    assert "failed permanently" in runner.log


def test_retry_later_replaces_the_backoff(db, start_runner):
    job_id = enqueue(db, "retry_later", {"delay": 300}, max_attempts=5)
    before = scalar(db, "select now()")
    runner = start_runner("record.py", "--once")
    assert runner.wait(60) == 0, runner.log
    job = one(db, "select attempts, last_error, run_at from graphile_worker.jobs where id = %s",
              (job_id,))
    assert job["attempts"] == 1
    assert job["last_error"] == "come back later"
    delay = (job["run_at"] - before).total_seconds()
    assert 299 < delay < 330, delay


def test_typed_payload_is_converted(db, start_runner):
    job_id = enqueue(db, "typed_email", {"to": "ada@example.com", "subject": "hi", "extra": 1})
    runner = start_runner("record.py", "--once")
    assert runner.wait(60) == 0, runner.log
    assert scalar(db, "select note from runs where job_id = %s", (job_id,)) == "ada@example.com|hi|0"
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 0


def test_unconvertible_typed_payload_fails_permanently_naming_the_field(db, start_runner):
    missing = enqueue(db, "typed_email", {"to": "ada@example.com"}, max_attempts=4)
    wrong = enqueue(db, "typed_email", {"to": "ada@example.com", "subject": 7}, max_attempts=4)
    runner = start_runner("record.py", "--once")
    assert runner.wait(60) == 0, runner.log
    jobs = {r["id"]: r for r in rows(
        db, "select id, attempts, max_attempts, last_error from graphile_worker.jobs")}
    assert jobs[missing]["attempts"] == 4
    assert jobs[missing]["last_error"] == (
        "invalid payload: payload field 'subject': missing (required by Email)"
    )
    assert jobs[wrong]["attempts"] == 4
    assert jobs[wrong]["last_error"] == (
        "invalid payload: payload field 'subject': expected a string, got int 7"
    )
    assert scalar(db, "select count(*) from runs") == 0  # the handler never ran


def test_batch_job_keeps_only_failed_entries_for_the_retry(db, start_runner):
    payload = [{"n": 1}, {"n": 2, "fail": True}, {"n": 3}, {"n": 4, "fail": True}]
    job_id = enqueue(db, "batch", payload)
    runner = start_runner("record.py", "--once")
    assert runner.wait(60) == 0, runner.log
    job = one(db, "select attempts, payload, last_error from graphile_worker._private_jobs where id = %s",
              (job_id,))
    assert job["attempts"] == 1
    assert job["payload"] == [{"n": 2, "fail": True}, {"n": 4, "fail": True}]
    assert job["last_error"].startswith("Batch failures (2 of 4):")
    assert "ValueError: item 2 failed" in job["last_error"]
    assert "ValueError: item 4 failed" in job["last_error"]


def test_once_exits_0_and_leaves_future_and_permanently_failed_jobs_alone(db, start_runner):
    runnable = [enqueue(db, "rec_async", {}) for _ in range(3)]
    future = enqueue(db, "rec_async", {}, run_at=scalar(db, "select now() + interval '1 hour'"))
    dead = enqueue(db, "rec_async", {}, max_attempts=1)
    db.execute("update graphile_worker._private_jobs set attempts = 1, last_error = 'old'"
               " where id = %s", (dead,))
    runner = start_runner("record.py", "--once", "-j", "2")
    assert runner.wait(60) == 0, runner.log
    ran = {r["job_id"] for r in rows(db, "select job_id from runs")}
    assert ran == set(runnable)
    left = {r["id"]: r for r in rows(
        db, "select id, attempts, last_error, locked_by from graphile_worker.jobs")}
    assert set(left) == {future, dead}
    assert left[future]["attempts"] == 0 and left[future]["locked_by"] is None
    assert left[dead]["attempts"] == 1 and left[dead]["last_error"] == "old"


def test_once_retries_until_nothing_is_runnable(db, start_runner):
    """A retry that is due at once (RetryLater(0)) is runnable again, so --once runs it."""
    job_id = enqueue(db, "fail_then_succeed", {"succeed_on": 99}, max_attempts=3)
    db.execute("update graphile_worker._private_jobs set max_attempts = 3 where id = %s",
               (job_id,))
    # fail_then_succeed fails with the backoff; with the backoff in the future --once stops
    runner = start_runner("record.py", "--once")
    assert runner.wait(60) == 0, runner.log
    assert scalar(db, "select count(*) from runs where job_id = %s", (job_id,)) == 1
    zero = enqueue(db, "retry_later", {"delay": 0}, max_attempts=3)
    runner = start_runner("record.py", "--once")
    assert runner.wait(60) == 0, runner.log
    assert scalar(db, "select count(*) from runs where job_id = %s", (zero,)) == 3
    assert scalar(db, "select attempts from graphile_worker.jobs where id = %s", (zero,)) == 3


def test_handlers_enqueue_with_ctx_helpers(db, start_runner):
    sync_parent = enqueue(db, "enqueue_child", {})
    async_parent = enqueue(db, "enqueue_child_async", {})
    runner = start_runner("record.py", "--once", "-j", "2")
    assert runner.wait(60) == 0, runner.log
    children = rows(db, "select task from runs where job_id not in (%s, %s) order by task",
                    (sync_parent, async_parent))
    assert [r["task"] for r in children] == ["rec_async", "rec_sync"]
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 0


def test_named_queue_runs_its_jobs_one_after_another(db, start_runner):
    ids = [enqueue(db, "sleepy", {"seconds": 0.05}, queue_name="serial") for _ in range(5)]
    runner = start_runner("record.py", "--once", "-j", "4")
    assert runner.wait(60) == 0, runner.log
    events = rows(db, "select job_id, note from runs order by started_at")
    assert [e["note"] for e in events] == ["start", "end"] * 5  # never two at once
    assert {e["job_id"] for e in events} == set(ids)


def test_task_timeout_fails_the_attempt(db, start_runner):
    job_id = enqueue(db, "too_slow", {})
    runner = start_runner("record.py", "--once")
    assert runner.wait(60) == 0, runner.log
    job = one(db, "select attempts, last_error from graphile_worker.jobs where id = %s",
              (job_id,))
    assert job == {"attempts": 1, "last_error": "TimeoutError: task 'too_slow' timed out after 0.5 s"}


def test_claimed_jobs_not_started_within_the_ttl_are_returned(db, start_runner):
    slow = int(scalar(db, "select id from graphile_worker.add_job('sleepy', '{\"seconds\": 3}',"
                          " priority => -1)"))
    others = [enqueue(db, "rec_async", {}) for _ in range(3)]
    runner = start_runner("record.py", "-j", "1", "--local-queue-ttl", "1")
    runner.wait_for_log("returned 3 unstarted job(s) to the queue (not started within 1 s)", 30)
    wait_until(lambda: scalar(db, "select count(*) from graphile_worker.jobs") == 0, 30,
               "all jobs to complete")
    ran = [r["job_id"] for r in rows(db, "select job_id from runs where note is null")]
    assert sorted(ran) == sorted(others)  # each once, after being returned and claimed again
    assert slow not in ran


PAYLOAD_TEXTS = [
    '{}',
    '  \n\t{"a": 1}  ',  # a json value keeps the text as enqueued, white space included
    '[1, 2.5, -3e2, 12345678901234567890, true, false, null]',
    '{"s": "caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\\\ /", "nested": {"x": [{"y": {}}]}}',
    '"just a string"',
    '42',
    'null',
    '{"dup": 1, "dup": 2}',
]


def test_payload_reaches_the_handler_as_json_loads_reads_the_stored_text(db, start_runner):
    """The runner decodes claimed payloads with its own loader (faster than psycopg's): the
    handler must get exactly what json.loads gives for the text the database returns."""
    ids = {}
    for text in PAYLOAD_TEXTS:
        ids[text] = int(scalar(
            db, "select id from graphile_worker.add_job('rec_payload', %s::json,"
                " flags => array['f1'])", (text,)))
    runner = start_runner("record.py", "--once")
    assert runner.wait(60) == 0, runner.log
    for text, job_id in ids.items():
        note = scalar(db, "select note from runs where job_id = %s", (job_id,))
        assert note == repr((json.loads(text), {"f1": True})), (text, note)
