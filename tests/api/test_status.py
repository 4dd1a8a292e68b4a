"""A job's status and waiting for it (gw_runner._status): every state, read sync and async, by
id and by key; wait_for_job woken by the job's NOTIFY, its safety poll, its timeout, its
connection rules, and the watch and LISTEN it always ends."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from helpers import Runners, run, scalar, wait_until
from psycopg.rows import dict_row

from gw_runner import (
    Job,
    JobStatus,
    JobWaitTimeout,
    add_job,
    add_job_async,
    errors,
    job_status,
    job_status_async,
    job_status_by_key,
    job_status_by_key_async,
    wait_for_job,
    wait_for_job_async,
)

#: A wait that only a notification can end in time: the safety poll comes after a minute.
NO_POLL = {"timeout": 120, "poll_interval": 60}
#: Far below NO_POLL's poll interval, far above any real latency: never a tight timing assert.
WOKEN_WITHIN = 15.0

WATCHES = "select count(*) from graphile_worker._private_finish_watches"


def claim(conn: psycopg.Connection, task: str = "t") -> list[int]:
    """Claim as worker w1 (the job becomes running); the claimed ids."""
    found = conn.execute(
        "select id from graphile_worker.get_jobs('w1', array[%s], 1, null)", (task,)
    ).fetchall()
    return [r[0] for r in found]


def complete(conn: psycopg.Connection, job_id: int, result: Any = None) -> None:
    """Report job_id completed by w1 with `result` (the runner's report_jobs call)."""
    results = None if result is None else json.dumps([result])
    conn.execute(
        "select * from graphile_worker.report_jobs('w1', array[%s]::bigint[], null,"
        " results => %s::json)", (job_id, results),
    )


def fail(conn: psycopg.Connection, job_id: int, message: str, **extra: Any) -> None:
    """Report a failed attempt of job_id by w1 (extra: permanent, retry_delay)."""
    failures = json.dumps([{"id": job_id, "message": message, **extra}])
    conn.execute("select * from graphile_worker.report_jobs('w1', null, %s::json)", (failures,))


def keep_history(conn: psycopg.Connection) -> None:
    conn.execute("select graphile_worker.set_retention(null, '1 day')")


def watched(conn: psycopg.Connection, job_id: int) -> bool:
    return bool(scalar(conn, "select count(*) from graphile_worker._private_finish_watches"
                             " where job_id = %s", (job_id,)))


@pytest.fixture
def later(connect: Callable[..., psycopg.Connection]) -> Iterator[Callable[..., None]]:
    """`later(step, job_id)`: once a session watches job_id, run `step(conn)` on a connection
    of its own, in a thread (the test's waiter blocks meanwhile); joined at teardown, and its
    error raised there."""
    threads: list[threading.Thread] = []
    failures: list[BaseException] = []

    def start(step: Callable[[psycopg.Connection], None], job_id: int) -> None:
        conn = connect()

        def body() -> None:
            try:
                wait_until(lambda: watched(conn, job_id), 30, f"a watch of job {job_id}")
                time.sleep(0.5)  # the waiter is inside its wait for a notification by now
                step(conn)
            except BaseException as e:
                failures.append(e)

        thread = threading.Thread(target=body, daemon=True)
        thread.start()
        threads.append(thread)

    yield start
    for thread in threads:
        thread.join(60)
    if failures:
        raise failures[0]


# --- reading the status ------------------------------------------------------------------------


def test_job_status_of_a_waiting_job(db):
    job = add_job(db, "t", {"a": 1}, queue_name="q", max_attempts=3)
    status = job_status(db, job.id)
    assert isinstance(status, JobStatus)
    assert (status.id, status.task_identifier, status.queue_name, status.state) == (
        job.id, "t", "q", "waiting")
    assert (status.attempts, status.max_attempts, status.run_at) == (0, 3, job.run_at)
    assert status.created_at == job.created_at and status.finished_at is None
    assert status.last_error is None and status.result is None and status.errors == []
    assert status.result_note is None and not status.is_final


def test_job_status_of_a_scheduled_job(db):
    run_at = datetime.now(UTC) + timedelta(hours=1)
    job = add_job(db, "t", run_at=run_at)
    status = job_status(db, job.id)
    assert status.state == "scheduled" and status.run_at == run_at and not status.is_final


def test_job_status_of_a_running_job(db):
    job = add_job(db, "t")
    assert claim(db) == [job.id]
    status = job_status(db, job.id)
    assert status.state == "running" and status.attempts == 1 and not status.is_final


def test_job_status_of_a_retrying_job_lists_its_recorded_errors(db):
    keep_history(db)
    job = add_job(db, "t")
    claim(db)
    fail(db, job.id, "boom")
    status = job_status(db, job.id)
    assert status.state == "retrying" and status.attempts == 1 and not status.is_final
    assert status.last_error == "boom" and status.run_at is not None
    assert [(e["attempt"], e["worker_id"], e["error"]) for e in status.errors] == [
        (1, "w1", "boom")]
    assert set(status.errors[0]) == {"attempt", "started_at", "failed_at", "worker_id", "error"}


def test_job_status_of_a_permanently_failed_job_is_final(db):
    job = add_job(db, "t", max_attempts=1)
    claim(db)
    fail(db, job.id, "no more")
    status = job_status(db, job.id)
    assert status.state == "failed" and status.is_final
    assert status.last_error == "no more" and status.attempts == status.max_attempts == 1


def test_job_status_of_a_completed_job_has_its_result(db):
    keep_history(db)
    job = add_job(db, "t", queue_name="q")
    claim(db)
    complete(db, job.id, {"ok": True, "n": [1, 2.5, None]})
    status = job_status(db, job.id)
    assert status.state == "completed" and status.is_final
    assert status.result == {"ok": True, "n": [1, 2.5, None]} and status.result_note is None
    assert (status.task_identifier, status.queue_name, status.attempts) == ("t", "q", 1)
    assert status.finished_at is not None and status.run_at is None


def test_job_status_of_a_completed_job_without_retention_is_unknown(db):
    job = add_job(db, "t")
    claim(db)
    complete(db, job.id, {"ok": True})
    status = job_status(db, job.id)
    assert status.state == "unknown" and status.id == job.id and not status.is_final
    assert status.task_identifier is None and status.result is None


def test_job_status_of_a_cancelled_job(db):
    keep_history(db)
    job = add_job(db, "t", job_key="k")
    db.execute("select graphile_worker.remove_job('k')")
    status = job_status(db, job.id)
    assert status.state == "cancelled" and status.is_final and status.finished_at is not None


def test_job_status_of_an_unknown_id(db):
    status = job_status(db, 987654321)
    assert status == JobStatus(987654321, None, None, "unknown", None, None, None, None, None,
                               None, None, [], None)


def test_job_status_by_key_follows_the_key_into_the_history(db):
    keep_history(db)
    job = add_job(db, "t", job_key="invoice-7")
    assert job_status_by_key(db, "invoice-7").state == "waiting"
    assert job_status_by_key(db, "invoice-7").id == job.id
    claim(db)
    complete(db, job.id, [1, 2])
    status = job_status_by_key(db, "invoice-7")
    assert (status.id, status.state, status.result) == (job.id, "completed", [1, 2])


def test_job_status_by_key_of_an_unknown_key_has_no_id(db):
    status = job_status_by_key(db, "nobody has this key")
    assert status.state == "unknown" and status.id is None


def test_job_status_async_reads_the_same_rows(db, dsn):
    keep_history(db)
    waiting = add_job(db, "t", job_key="w")
    done = add_job(db, "done")
    claim(db, "done")
    complete(db, done.id, "fine")

    async def main() -> None:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as aconn:
            assert await job_status_async(aconn, waiting.id) == job_status(db, waiting.id)
            assert await job_status_by_key_async(aconn, "w") == job_status(db, waiting.id)
            status = await job_status_async(aconn, done.id)
            assert (status.state, status.result) == ("completed", "fine")
            assert (await job_status_by_key_async(aconn, "none")).state == "unknown"

    run(main())


def test_job_status_reads_inside_the_callers_transaction(db, connect):
    conn = connect(autocommit=False)
    job = add_job(conn, "t")
    assert job_status(conn, job.id).state == "waiting"
    assert job_status(db, job.id).state == "unknown"  # not committed: others do not see it
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    conn.rollback()


def test_job_status_whatever_the_session_settings(db, connect):
    """A dict_row connection, another DateStyle and a LATIN1 client encoding: the same
    status, accents included in the text and in the JSON result."""
    keep_history(db)
    job = add_job(db, "tâche", queue_name="file-é")
    claim(db, "tâche")
    complete(db, job.id, {"name": "café", "list": ["é"]})
    expected = job_status(db, job.id)
    assert expected.result == {"name": "café", "list": ["é"]}
    conn = connect(row_factory=dict_row)
    conn.execute("set client_encoding to 'LATIN1'")
    conn.execute("set datestyle to 'SQL, DMY'")
    conn.execute("set timezone to 'Asia/Kathmandu'")
    status = job_status(conn, job.id)
    assert status == expected
    assert status.task_identifier == "tâche" and status.queue_name == "file-é"


def test_job_status_checks_its_arguments(db, dsn):
    with pytest.raises(TypeError, match="job_id must be an int"):
        job_status(db, "1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="job_id must be an int"):
        job_status(db, True)
    with pytest.raises(TypeError, match="job_key must be a str"):
        job_status_by_key(db, 5)  # type: ignore[arg-type]

    async def main() -> None:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as aconn:
            with pytest.raises(TypeError, match=r"await job_status_async\(\.\.\.\)"):
                job_status(aconn, 1)  # type: ignore[arg-type]
            with pytest.raises(TypeError, match=r"use job_status\(\)"):
                await job_status_async(db, 1)  # type: ignore[arg-type]

    run(main())


def test_job_status_maps_sql_errors_by_sqlstate(db):
    db.execute("drop extension graphile_worker")
    with pytest.raises(errors.ExtensionMissing):
        job_status(db, 1)


# --- waiting -----------------------------------------------------------------------------------


def test_wait_for_job_is_woken_by_the_notification_without_retention(db, dsn, later):
    """No retention: the watched job is recorded all the same, with its result."""
    job = add_job(db, "t")
    claim(db)
    later(lambda conn: complete(conn, job.id, {"ok": True}), job.id)
    started = time.monotonic()
    status = wait_for_job(dsn, job.id, **NO_POLL)
    assert time.monotonic() - started < WOKEN_WITHIN
    assert status.state == "completed" and status.result == {"ok": True}
    assert status.id == job.id and status.is_final
    assert scalar(db, WATCHES) == 0


def test_wait_for_job_async_is_woken_by_the_notification(db, dsn):
    job = add_job(db, "t")
    claim(db)

    async def finisher(aconn: psycopg.AsyncConnection[Any]) -> None:
        while not (await (await aconn.execute(
                "select count(*) from graphile_worker._private_finish_watches")).fetchone())[0]:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        await aconn.execute(
            "select * from graphile_worker.report_jobs('w1', array[%s]::bigint[], null,"
            " results => '[{\"ok\": true}]')", (job.id,))

    async def main() -> JobStatus:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as other, \
                await psycopg.AsyncConnection.connect(dsn, autocommit=True) as waiter:
            task = asyncio.create_task(finisher(other))
            status = await wait_for_job_async(waiter, job.id, **NO_POLL)
            await task
            assert await (await waiter.execute("select pg_listening_channels()")).fetchall() \
                == []
            return status

    started = time.monotonic()
    status = run(main())
    assert time.monotonic() - started < WOKEN_WITHIN
    assert status.state == "completed" and status.result == {"ok": True}
    assert scalar(db, WATCHES) == 0


def test_wait_for_job_async_with_a_connection_string(db, dsn, later):
    job = add_job(db, "t")
    claim(db)
    later(lambda conn: complete(conn, job.id, 7), job.id)
    started = time.monotonic()
    status = run(wait_for_job_async(dsn, job.id, **NO_POLL))
    assert time.monotonic() - started < WOKEN_WITHIN
    assert (status.state, status.result) == ("completed", 7)
    assert scalar(db, WATCHES) == 0


def test_wait_for_job_returns_a_permanent_failure(db, dsn, later):
    job = add_job(db, "t", max_attempts=5)
    claim(db)
    later(lambda conn: fail(conn, job.id, "bad input", permanent=True), job.id)
    status = wait_for_job(dsn, job.id, **NO_POLL)
    assert status.state == "failed" and status.last_error == "bad input" and status.is_final
    assert [e["error"] for e in status.errors] == ["bad input"]


def test_wait_for_job_returns_a_cancellation(db, dsn, later):
    job = add_job(db, "t", job_key="k")
    later(lambda conn: conn.execute("select graphile_worker.remove_job('k')"), job.id)
    status = wait_for_job(dsn, job.id, **NO_POLL)
    assert status.state == "cancelled" and status.id == job.id


def test_wait_for_job_keeps_waiting_through_a_retry(db, dsn, later):
    job = add_job(db, "t", max_attempts=3)
    claim(db)

    def fail_then_complete(conn: psycopg.Connection) -> None:
        fail(conn, job.id, "first try", retry_delay=0)
        time.sleep(0.3)
        assert claim(conn) == [job.id]
        complete(conn, job.id, "second try")

    later(fail_then_complete, job.id)
    status = wait_for_job(dsn, job.id, timeout=120, poll_interval=0.1)
    assert (status.state, status.result, status.attempts) == ("completed", "second try", 2)
    assert [e["error"] for e in status.errors] == ["first try"]


def test_wait_for_job_returns_at_once_when_the_job_has_finished(db, dsn):
    job = add_job(db, "t", max_attempts=1)
    claim(db)
    fail(db, job.id, "over")
    started = time.monotonic()
    status = wait_for_job(dsn, job.id, **NO_POLL)
    assert time.monotonic() - started < WOKEN_WITHIN
    assert status.state == "failed"


def test_wait_for_job_of_an_unknown_job_returns_unknown_at_once(db, dsn):
    started = time.monotonic()
    status = wait_for_job(dsn, 987654321, **NO_POLL)
    assert time.monotonic() - started < WOKEN_WITHIN
    assert status.state == "unknown" and status.id == 987654321
    assert scalar(db, WATCHES) == 0


def test_wait_for_job_safety_poll_finds_a_finish_that_was_not_announced(db, dsn, later):
    """The watch is gone when the job finishes (as in the race of a watch committed too
    late): no notification; the safety poll finds the recorded outcome."""
    keep_history(db)
    job = add_job(db, "t")
    claim(db)

    def finish_unwatched(conn: psycopg.Connection) -> None:
        conn.execute("delete from graphile_worker._private_finish_watches")
        complete(conn, job.id, "polled")

    later(finish_unwatched, job.id)
    status = wait_for_job(dsn, job.id, timeout=120, poll_interval=0.2)
    assert (status.state, status.result) == ("completed", "polled")


def test_wait_for_job_returns_unknown_when_a_seen_job_leaves_without_a_record(db, dsn, later):
    job = add_job(db, "t")
    claim(db)

    def finish_unwatched(conn: psycopg.Connection) -> None:
        conn.execute("delete from graphile_worker._private_finish_watches")
        complete(conn, job.id, "lost")

    later(finish_unwatched, job.id)
    status = wait_for_job(dsn, job.id, timeout=120, poll_interval=0.2)
    assert status.state == "unknown" and status.id == job.id


def test_wait_for_job_times_out_with_the_last_state_and_no_watch_left(db, dsn):
    job = add_job(db, "t")
    started = time.monotonic()
    with pytest.raises(JobWaitTimeout) as caught:
        wait_for_job(dsn, job.id, timeout=1, poll_interval=0.3)
    assert time.monotonic() - started >= 1
    error = caught.value
    assert isinstance(error, errors.GraphileWorkerError)
    assert error.job_id == job.id and error.timeout == 1 and error.status.state == "waiting"
    assert str(error).startswith(
        f"job {job.id} did not finish within 1 s (last state seen: waiting)")
    assert scalar(db, WATCHES) == 0
    assert job_status(db, job.id).state == "waiting"  # the job is untouched


def test_wait_for_job_async_times_out_and_ends_its_watch(db, dsn):
    job = add_job(db, "t", run_at=datetime.now(UTC) + timedelta(hours=1))

    async def main() -> None:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as aconn:
            with pytest.raises(JobWaitTimeout) as caught:
                await wait_for_job_async(aconn, job.id, timeout=1, poll_interval=5)
            assert caught.value.status.state == "scheduled"
            assert await (await aconn.execute("select pg_listening_channels()")).fetchall() \
                == []

    run(main())
    assert scalar(db, WATCHES) == 0


def test_wait_for_job_with_timeout_zero_reads_once(db, dsn):
    job = add_job(db, "t")
    with pytest.raises(JobWaitTimeout):
        wait_for_job(dsn, job.id, timeout=0)
    assert scalar(db, WATCHES) == 0


def test_wait_for_job_async_cancelled_ends_its_watch(db, dsn):
    job = add_job(db, "t")

    async def main() -> None:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as aconn:
            task = asyncio.create_task(wait_for_job_async(aconn, job.id, **NO_POLL))
            while not watched(db, job.id):
                await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert not watched(db, job.id)
            assert await (await aconn.execute("select 1")).fetchone() == (1,)

    run(main())


def test_wait_for_job_on_the_callers_connection_ends_watch_and_listen(db, dsn, connect, later):
    conn = connect()
    job = add_job(conn, "t")
    claim(db)
    later(lambda other: complete(other, job.id, "mine"), job.id)
    status = wait_for_job(conn, job.id, **NO_POLL)
    assert (status.state, status.result) == ("completed", "mine")
    assert conn.execute("select pg_listening_channels()").fetchall() == []
    assert scalar(db, WATCHES) == 0


def test_wait_for_job_on_an_idle_connection_without_autocommit(db, connect, later):
    conn = connect(autocommit=False)
    job = add_job(conn, "t")
    conn.commit()
    claim(db)
    later(lambda other: complete(other, job.id, "committed"), job.id)
    started = time.monotonic()
    status = wait_for_job(conn, job.id, **NO_POLL)
    assert time.monotonic() - started < WOKEN_WITHIN
    assert (status.state, status.result) == ("completed", "committed")
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert scalar(db, WATCHES) == 0


def test_wait_for_job_refuses_a_connection_inside_a_transaction(db, dsn, connect):
    conn = connect(autocommit=False)
    job = add_job(conn, "t")
    with pytest.raises(ValueError) as caught:
        wait_for_job(conn, job.id, **NO_POLL)
    assert "the connection is inside a transaction" in str(caught.value)
    assert f"job {job.id} is not visible to runners until the transaction" in str(caught.value)
    assert "commit first" in str(caught.value)
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS  # untouched
    conn.rollback()
    with conn.transaction():
        job = add_job(conn, "t")
        with pytest.raises(ValueError, match="inside a transaction"):
            job.wait(conn, **NO_POLL)

    async def main() -> None:
        async with await psycopg.AsyncConnection.connect(dsn) as aconn:
            async_job = await add_job_async(aconn, "t")
            with pytest.raises(ValueError, match="inside a transaction"):
                await wait_for_job_async(aconn, async_job.id, **NO_POLL)

    run(main())
    assert scalar(db, WATCHES) == 0


def test_wait_for_job_checks_its_arguments(db, dsn):
    with pytest.raises(TypeError, match="timeout must be a number of seconds"):
        wait_for_job(dsn, 1, timeout="5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout must be a finite number"):
        wait_for_job(dsn, 1, timeout=-1)
    with pytest.raises(ValueError, match="poll_interval must be a finite number of seconds > 0"):
        wait_for_job(dsn, 1, timeout=5, poll_interval=0)
    with pytest.raises(ValueError, match="timeout must be a finite number"):
        wait_for_job(dsn, 1, timeout=float("nan"))
    with pytest.raises(TypeError, match="job_id must be an int"):
        wait_for_job(dsn, None, timeout=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"takes a psycopg\.Connection"):
        wait_for_job(object(), 1, timeout=5)  # type: ignore[arg-type]


def test_wait_for_job_maps_a_bad_connection_string(db):
    with pytest.raises(errors.DatabaseError):
        wait_for_job("host=/nonexistent port=1 connect_timeout=2", 1, timeout=5)


def test_many_waits_on_one_connection(db, connect):
    """Past psycopg's prepare threshold (5 runs of a statement): LISTEN and UNLISTEN too."""
    conn = connect()
    job = add_job(conn, "t", max_attempts=1)
    claim(db)
    fail(db, job.id, "done")
    for _ in range(8):
        assert wait_for_job(conn, job.id, **NO_POLL).state == "failed"
    assert scalar(db, WATCHES) == 0


# --- Job.status / Job.wait -----------------------------------------------------------------------


def test_job_wait_on_the_job_add_job_returns(db, dsn, later):
    job = add_job(db, "t")
    assert isinstance(job, Job) and job.status(db).state == "waiting"
    claim(db)
    later(lambda conn: complete(conn, job.id, {"ok": True}), job.id)
    started = time.monotonic()
    status = job.wait(dsn, **NO_POLL)
    assert time.monotonic() - started < WOKEN_WITHIN
    assert (status.state, status.result) == ("completed", {"ok": True})
    assert job.status(db).state == "completed"  # recorded for the waiter (10 minutes)


def test_job_wait_async_and_status_async(db, dsn, later):
    job = add_job(db, "t")
    claim(db)
    later(lambda conn: complete(conn, job.id, "async"), job.id)

    async def main() -> tuple[JobStatus, JobStatus]:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as aconn:
            status = await job.wait_async(aconn, **NO_POLL)
            return status, await job.status_async(aconn)

    waited, read = run(main())
    assert waited == read and (waited.state, waited.result) == ("completed", "async")


# --- with the real runner ------------------------------------------------------------------------

RESULT_TASKS = '''
from gw_runner import task


@task
async def double(payload, ctx):
    return {"doubled": payload["n"] * 2, "job": ctx.job.id}
'''


def test_wait_for_job_returns_the_result_of_a_job_the_runner_ran(db, dsn, tmp_path: Path):
    tasks = tmp_path / "result_tasks.py"
    tasks.write_text(RESULT_TASKS)
    runners = Runners(dsn, tmp_path, tasks=tasks)
    try:
        runner = runners.start("-j", "2")
        job = add_job(db, "double", {"n": 21})
        try:
            status = wait_for_job(dsn, job.id, timeout=60, poll_interval=1)
        except JobWaitTimeout as e:
            raise AssertionError(f"{e}\n{runner.log}") from e
        assert status.state == "completed" and status.id == job.id, runner.log
        assert status.result == {"doubled": 42, "job": job.id}, runner.log
        assert runner.terminate() == 0, runner.log
    finally:
        runners.close()
    assert scalar(db, WATCHES) == 0
