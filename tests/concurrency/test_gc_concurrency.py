"""gc_task_identifiers / gc_job_queues against an open transaction that enqueued a job: the GC
waits for it, then keeps the rows it used; an enqueue behind a running GC re-creates them."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from helpers import add_job, backend_pid, call, call_scalar, jobs, rows, scalar, wait_until_waiting


def _names(db: psycopg.Connection, table: str, column: str) -> list[str]:
    return [r[column] for r in rows(
        db, f"select {column} from graphile_worker.{table} order by 1")]


def _make_unused(db: psycopg.Connection) -> None:
    """Tasks 'existing' and 'unused', queues 'existing_q' and 'unused_q', no jobs."""
    for task, queue in (("existing", "existing_q"), ("unused", "unused_q")):
        row = add_job(db, task, queue_name=queue)
        assert row is not None
        call(db, "complete_jobs", [row["id"]])


@pytest.mark.parametrize(
    ("gc", "table", "column", "kept"),
    [
        ("gc_task_identifiers", "_private_tasks", "identifier", "existing"),
        ("gc_job_queues", "_private_job_queues", "queue_name", "existing_q"),
    ],
)
def test_gc_waits_for_open_enqueue_then_keeps_its_rows(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection],
    gc: str, table: str, column: str, kept: str,
) -> None:
    _make_unused(db)
    enqueuer, collector = connect(), connect()
    collector_pid = backend_pid(collector)
    enqueuer.execute("begin")
    row = add_job(enqueuer, "existing", queue_name="existing_q")
    assert row is not None
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(call_scalar, collector, gc)
        # The GC polls for the enqueuers' guard (pg_sleep between tries) while they are open.
        wait_until_waiting(db, collector_pid, None)
        assert not pending.done()
        assert _names(db, table, column) == sorted([kept, kept.replace("existing", "unused")])
        enqueuer.execute("commit")
        assert pending.result(timeout=10) == 1
    assert _names(db, table, column) == [kept]
    [stored] = jobs(db)
    assert (stored["task_identifier"], stored["queue_name"]) == ("existing", "existing_q")


def test_gc_gives_up_with_gwa04_after_wait_and_changes_nothing(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    _make_unused(db)
    enqueuer = connect()
    enqueuer.execute("begin")
    add_job(enqueuer, "existing")
    for gc in ("gc_task_identifiers", "gc_job_queues"):
        with pytest.raises(psycopg.Error) as caught:
            db.execute(f"select graphile_worker.{gc}(wait => interval '50 milliseconds')")
        assert caught.value.sqlstate == "GWA04"
    assert caught.value.diag.message_primary == (
        "gc_job_queues could not start: enqueuing transactions are still open after "
        "00:00:00.05"
    )
    enqueuer.execute("commit")
    assert _names(db, "_private_tasks", "identifier") == ["existing", "unused"]
    assert _names(db, "_private_job_queues", "queue_name") == ["existing_q", "unused_q"]


def test_gc_first_then_enqueue_recreates_the_deleted_rows(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    _make_unused(db)
    collector, enqueuer = connect(), connect()
    enqueuer_pid = backend_pid(enqueuer)
    collector.execute("begin")
    assert call_scalar(collector, "gc_task_identifiers") == 2
    assert call_scalar(collector, "gc_job_queues") == 2
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(add_job, enqueuer, "existing", queue_name="existing_q")
        wait_until_waiting(db, enqueuer_pid, "Lock")
        collector.execute("commit")
        row = pending.result(timeout=10)
    assert row is not None
    # The job points at live task and queue rows (the view inner-joins tasks).
    [stored] = jobs(db)
    assert (stored["task_identifier"], stored["queue_name"]) == ("existing", "existing_q")
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 1
