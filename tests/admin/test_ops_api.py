"""The operations API in Python (gw_runner._ops, docs/operations.md "From Python"), sync and
async, on the real server: each function's rows as dataclasses, wrong argument types refused
before anything is sent, SQL refusals mapped to gw_runner.errors, nothing changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from helpers import add_job, get_jobs, report_jobs, run, snapshot

import gw_runner
from gw_runner import ActionResult, CronItem, JobDetail, JobRow, StorageStat
from gw_runner.errors import CronItemUnknown, InvalidFlowControlArgument, RunAtOutOfRange


def call(dsn: str, db: psycopg.Connection, name: str, *args: Any, is_async: bool,
         **kwargs: Any) -> Any:
    """``gw_runner.<name>`` on ``db``, or ``<name>_async`` on an async connection of its own."""
    if not is_async:
        return getattr(gw_runner, name)(db, *args, **kwargs)

    async def main() -> Any:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            return await getattr(gw_runner, f"{name}_async")(conn, *args, **kwargs)

    return run(main())


both = pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])


def _failed(db: psycopg.Connection) -> int:
    row = add_job(db, "t", max_attempts=1, payload={"p": 1})
    assert row is not None
    get_jobs(db, "w", ["t"], batch_size=1)
    report_jobs(db, "w", failures=[{"id": row["id"], "message": "boom"}])
    return int(row["id"])


@both
def test_list_count_detail_and_retry(dsn: str, db: psycopg.Connection, is_async: bool) -> None:
    failed = _failed(db)
    waiting = add_job(db, "u")
    assert waiting is not None
    page = call(dsn, db, "list_jobs", is_async=is_async, states=["failed"])
    assert len(page) == 1
    assert isinstance(page[0], JobRow) and (page[0].id, page[0].state) == (failed, "failed")
    assert call(dsn, db, "count_jobs", is_async=is_async) == 2
    detail = call(dsn, db, "job_detail", failed, is_async=is_async)
    assert isinstance(detail, JobDetail) and detail.payload == {"p": 1}
    assert detail.last_error == "boom"
    assert call(dsn, db, "job_detail", 999999, is_async=is_async) is None
    results = call(dsn, db, "retry_jobs", [failed, waiting["id"]], is_async=is_async)
    assert results == [ActionResult(failed, True, "failed", None),
                       ActionResult(waiting["id"], False, "waiting", None)]
    later = datetime.now(UTC) + timedelta(days=1)
    moved = call(dsn, db, "run_jobs_at", [failed], later, is_async=is_async)
    assert moved == [ActionResult(failed, True, "waiting")]
    assert call(dsn, db, "delete_jobs", [failed], is_async=is_async) == [
        ActionResult(failed, True, "scheduled")]


@both
def test_cron_storage_and_stats(dsn: str, db: psycopg.Connection, is_async: bool) -> None:
    db.execute("select graphile_worker.register_crontab('0 * * * * hourly')")
    items = call(dsn, db, "cron_items", is_async=is_async)
    assert [(i.identifier, i.schedule) for i in items] == [("hourly", "0 * * * *")]
    assert isinstance(items[0], CronItem)
    job_id = call(dsn, db, "run_cron_item", "hourly", is_async=is_async)
    assert isinstance(job_id, int)
    with pytest.raises(CronItemUnknown):
        call(dsn, db, "run_cron_item", "nope", is_async=is_async)
    stats = call(dsn, db, "storage_stats", is_async=is_async)
    assert all(isinstance(s, StorageStat) for s in stats)
    queues = call(dsn, db, "queue_stats", is_async=is_async)
    assert [(q.task_identifier, q.waiting) for q in queues] == [("hourly", 1)]
    assert call(dsn, db, "worker_stats", is_async=is_async) == []
    assert call(dsn, db, "retention_settings", is_async=is_async) == []


def test_retention_and_prune(db: psycopg.Connection) -> None:
    gw_runner.set_retention(db, None, timedelta(days=2))
    gw_runner.set_retention(db, "t", timedelta(hours=1))
    settings = gw_runner.retention_settings(db)
    assert {(s.task_identifier, s.keep) for s in settings} == {
        (None, timedelta(days=2)), ("t", timedelta(hours=1))}
    assert gw_runner.clear_retention(db, "t") is True
    assert gw_runner.clear_retention(db, "t") is False
    assert gw_runner.prune_finished_jobs(db) == 0


@pytest.mark.parametrize(
    ("name", "args", "kwargs"),
    [
        ("list_jobs", (), {"states": "failed"}),
        ("list_jobs", (), {"states": [1]}),
        ("list_jobs", (), {"max_rows": "5"}),
        ("list_jobs", (), {"job_key": 5}),
        ("count_jobs", (), {"min_id": 1.5}),
        ("job_detail", ("1",), {}),
        ("retry_jobs", (5,), {}),
        ("delete_jobs", (["1"],), {}),
        ("run_jobs_at", ([1], "tomorrow"), {}),
        ("run_cron_item", (5,), {}),
        ("set_retention", ("t", 5), {}),
    ],
)
def test_wrong_types_raise_type_error_before_anything_is_sent(
    db: psycopg.Connection, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    before = snapshot(db)
    with pytest.raises(TypeError, match=name):
        getattr(gw_runner, name)(db, *args, **kwargs)
    assert snapshot(db) == before


def test_a_naive_run_at_and_sql_refusals(db: psycopg.Connection) -> None:
    row = add_job(db, "t")
    assert row is not None
    before = snapshot(db)
    with pytest.raises(ValueError, match="timezone-aware"):
        gw_runner.run_jobs_at(db, [row["id"]], datetime(2030, 1, 1))
    with pytest.raises(InvalidFlowControlArgument, match="unknown state 'wating'") as exc:
        gw_runner.list_jobs(db, states=["wating"])
    assert exc.value.sqlstate == "GWF01" and exc.value.hint
    with pytest.raises(InvalidFlowControlArgument):
        gw_runner.retry_jobs(db, [])
    with pytest.raises(RunAtOutOfRange):
        gw_runner.run_jobs_at(db, [row["id"]], datetime(1, 1, 1, tzinfo=UTC))
    assert snapshot(db) == before
    with pytest.raises(TypeError, match="AsyncConnection"):
        run(gw_runner.list_jobs_async(db))  # type: ignore[arg-type]
