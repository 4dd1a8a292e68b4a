"""Job time limits: an async handler past its limit is cancelled; a sync handler's thread is
abandoned, its slot keeps working, and the runner does not wait for it at exit. Limits come
from the job's flag `timeout:SECONDS`, then the task's `@task(timeout=...)`, then
`--job-timeout`."""

from __future__ import annotations

import json
import time

import psycopg
import pytest
from helpers import one, rows, scalar

pytestmark = pytest.mark.usefixtures("calls")


def add_job(db: psycopg.Connection, task: str, payload: dict, flags: list[str] | None = None) -> int:
    return int(scalar(db, "select id from graphile_worker.add_job(%s, %s::json, flags => %s)",
                      (task, json.dumps(payload), flags)))


def last_error(db: psycopg.Connection, job_id: int) -> str:
    job = one(db, "select attempts, locked_by, last_error from graphile_worker.jobs"
                  " where id = %s", (job_id,))
    assert job["attempts"] == 1 and job["locked_by"] is None, job
    return job["last_error"]


def test_an_async_handler_past_its_limit_is_cancelled_and_the_job_fails(db, runners):
    by_task = add_job(db, "hang_async", {"seconds": 60})              # @task(timeout=0.5)
    by_flag = add_job(db, "hang_async", {"seconds": 60}, ["timeout:0.3"])
    by_runner = add_job(db, "work", {"sleep": 60})                    # --job-timeout 0.4
    bad_flag = add_job(db, "hang_async", {"seconds": 60}, ["timeout:soon"])
    in_time = add_job(db, "hang_async", {"seconds": 0.05}, ["timeout:30"])
    runner = runners.start("--once", "-j", "5", "--job-timeout", "0.4")
    assert runner.wait(60) == 0, runner.log

    assert last_error(db, by_task) == "TimeoutError: task 'hang_async' timed out after 0.5 s"
    assert last_error(db, by_flag) == (
        "TimeoutError: task 'hang_async' timed out after 0.3 s (the job's flag timeout:0.3)")
    assert last_error(db, by_runner) == (
        "TimeoutError: task 'work' timed out after 0.4 s (the runner's job timeout)")
    assert last_error(db, bad_flag) == "TimeoutError: task 'hang_async' timed out after 0.5 s"
    assert "ignoring the job flag 'timeout:soon'" in runner.log
    assert scalar(db, "select count(*) from graphile_worker.jobs where id = %s", (in_time,)) == 0
    # cancelled: the handlers saw CancelledError and never reached their end
    notes = {r["job_id"]: r["notes"] for r in rows(
        db, "select job_id, array_agg(note order by finished) as notes from calls group by 1")}
    assert notes[by_task] == ["start", "cancelled"]
    assert notes[by_flag] == ["start", "cancelled"]
    assert notes[in_time] == ["start", "end"]


def test_a_sync_handler_past_its_limit_is_abandoned_and_its_slot_keeps_working(db, runners):
    hung = add_job(db, "hang_sync", {"seconds": 30}, ["timeout:0.5"])
    quick = [add_job(db, "quick_sync", {}) for _ in range(3)]
    started = time.monotonic()
    runner = runners.start("--once", "-j", "1")  # one slot: the quick jobs need it back
    assert runner.wait(20) == 0, runner.log
    assert time.monotonic() - started < 20  # the exit did not wait for the 30 s handler

    assert last_error(db, hung) == (
        "TimeoutError: task 'hang_sync' timed out after 0.5 s (the job's flag timeout:0.5);"
        " its thread was abandoned")
    ran = rows(db, "select job_id, note from calls where task = 'quick_sync' order by job_id")
    assert [r["job_id"] for r in ran] == quick
    hung_thread = scalar(db, "select note from calls where job_id = %s", (hung,))
    assert hung_thread == "start"  # it never got to its end: the process exited first
    threads = {r["note"] for r in ran}
    assert len(threads) == 1  # the slot's new thread, reused for each quick job
    assert "its thread abandoned" in runner.log
    assert "exiting while abandoned sync handlers still run" in runner.log
