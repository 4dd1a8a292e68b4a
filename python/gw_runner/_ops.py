"""Operations from Python (docs/operations.md): list, count and show jobs, retry, delete and
reschedule them, cron items, statistics, retention and pruning.

Each function calls one ``graphile_worker`` function (0.1.8) on the caller's connection,
inside its current transaction: commit it (or use an autocommit connection) for an action to
take effect. The reading functions need the monitor level (``grant_role(role, 'monitor')``),
the actions the admin level (which includes monitor). Arguments of the wrong type raise
``TypeError`` before anything is sent; values the SQL refuses (an empty list, an unknown state,
``max_rows`` outside 1..10000...) raise :class:`gw_runner.errors.InvalidFlowControlArgument`
(GWF01) naming what is wrong, and change nothing. Rows are read in binary, whatever the
session's settings. The admin CLI (``gw-admin``, ``python -m gw_runner.admin``) is built on
these functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from . import _sql
from ._connections import wrong_connection
from ._status import call_rows as _call
from ._status import call_rows_async as _acall

#: The states of list_jobs and count_jobs, as job_status reports them.
JOB_STATES = ("waiting", "scheduled", "running", "retrying", "failed", "completed", "cancelled")


@dataclass(frozen=True, slots=True)
class JobRow:
    """One row of ``list_jobs``: a job of the jobs table or of the finished-jobs store (then
    ``run_at``, ``locked_by`` and ``locked_at`` are None). No payload: see :func:`job_detail`."""

    id: int
    task_identifier: str
    queue_name: str | None
    state: str
    priority: int
    run_at: datetime | None
    attempts: int
    max_attempts: int
    key: str | None
    last_error: str | None
    locked_by: str | None
    locked_at: datetime | None
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class JobDetail:
    """``job_detail``: everything ``job_status`` gives, plus the payload and the columns an
    operator looks at. ``errors`` lists the recorded failed attempts
    (``{"attempt", "started_at", "failed_at", "worker_id", "error"}``, tasks with a retention);
    ``worker_id`` is the worker of the finished record."""

    id: int
    task_identifier: str
    queue_name: str | None
    state: str
    attempts: int
    max_attempts: int
    run_at: datetime | None
    last_error: str | None
    result: Any
    created_at: datetime
    finished_at: datetime | None
    errors: list[Any]
    result_note: str | None
    payload: Any
    priority: int
    key: str | None
    locked_by: str | None
    locked_at: datetime | None
    flags: dict[str, Any] | None
    first_started_at: datetime | None
    worker_id: str | None
    updated_at: datetime | None
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What an action did with one job id: ``done`` (retried, deleted or rescheduled), the
    state the job was in, and for a retry of a failed job only in the finished-jobs store, the
    id of the new job."""

    job_id: int
    done: bool
    state: str
    new_job_id: int | None = None


@dataclass(frozen=True, slots=True)
class CronItem:
    """``cron_items``: a known cron item. ``task_identifier``, ``schedule``, ``options``,
    ``payload`` and ``next_run`` are None for an item no 0.1.8 scheduler registered."""

    identifier: str
    task_identifier: str | None
    schedule: str | None
    options: dict[str, Any] | None
    payload: Any
    known_since: datetime | None
    last_execution: datetime | None
    next_run: datetime | None
    registered_at: datetime | None


@dataclass(frozen=True, slots=True)
class StorageStat:
    """``storage_stats``: one table or index of the extension (a table's bytes without its
    indexes)."""

    relation: str
    kind: str
    rows_estimate: int | None
    total_bytes: int
    dead_tuples: int | None
    last_autovacuum: datetime | None
    table_name: str
    last_autoanalyze: datetime | None


@dataclass(frozen=True, slots=True)
class QueueStat:
    """``queue_stats``: the jobs of one task and queue by state."""

    task_identifier: str
    queue_name: str | None
    waiting: int
    scheduled: int
    running: int
    retrying: int
    permanently_failed: int
    oldest_waiting_age: timedelta | None


@dataclass(frozen=True, slots=True)
class WorkerStat:
    """``worker_stats``: one worker (registered, or holding jobs)."""

    worker_id: str
    registered: bool
    alive: bool
    last_heartbeat_at: datetime | None
    stale_after: timedelta | None
    jobs_locked: int
    oldest_lock_age: timedelta | None
    info: Any


@dataclass(frozen=True, slots=True)
class RetentionSetting:
    """``retention_settings``: how long finished jobs of a task (None: the default) are kept."""

    task_identifier: str | None
    keep: timedelta
    set_at: datetime


# --- arguments ----------------------------------------------------------------------------------


def _conn(where: str, conn: object, want_async: bool) -> None:
    kind = psycopg.AsyncConnection if want_async else psycopg.Connection
    if not isinstance(conn, kind):
        raise wrong_connection(
            where, conn, want_async=want_async,
            plain_sql="call the SQL function: `select * from graphile_worker.list_jobs()` "
            "(docs/sql-api.md)",
        )


def _strs(where: str, name: str, values: object) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        hint = f" (one: pass [{values!r}])" if isinstance(values, str) else ""
        raise TypeError(f"{where}: {name} must be a list of str, not "
                        f"{type(values).__name__}{hint}")
    out = list(values)
    for value in out:
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{where}: each of {name} must be a str, not "
                            f"{type(value).__name__} ({value!r:.50})")
    return out


def _int(where: str, name: str, value: object, optional: bool = True) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{where}: {name} must be an int{' or None' if optional else ''}, "
                        f"not {type(value).__name__}")
    return value


def _ids(where: str, job_ids: object) -> list[int]:
    if isinstance(job_ids, str | bytes | int) or not isinstance(job_ids, Iterable):
        hint = f" (one id: pass [{job_ids!r}])" if isinstance(job_ids, int) else ""
        raise TypeError(f"{where}: job_ids must be a list of int, not "
                        f"{type(job_ids).__name__}{hint}")
    out = list(job_ids)
    for value in out:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"{where}: each job id must be an int, not "
                            f"{type(value).__name__} ({value!r:.50})")
    return out


def _filter(where: str, states: object, task_identifiers: object, queue_names: object,
            job_key: object, min_id: object, max_id: object) -> list[Any]:
    if job_key is not None and not isinstance(job_key, str):
        raise TypeError(f"{where}: job_key must be a str or None, not {type(job_key).__name__}")
    return [_strs(where, "states", states), _strs(where, "task_identifiers", task_identifiers),
            _strs(where, "queue_names", queue_names), job_key,
            _int(where, "min_id", min_id), _int(where, "max_id", max_id)]


def _text(where: str, name: str, value: object, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{where}: {name} must be a str, not {type(value).__name__}")
    return value


# --- the calls (call_rows, in _status) --------------------------------------------------------


def _detail(rows: list[Any]) -> JobDetail | None:
    if not rows:
        return None
    row = list(rows[0])
    if not isinstance(row[11], list):  # errors: an undecodable value
        row[11] = []
    return JobDetail(*row)


def _actions(rows: list[Any]) -> list[ActionResult]:
    return [ActionResult(*row) for row in rows]


def _list_params(where: str, conn: object, want_async: bool, kw: dict[str, Any]) -> list[Any]:
    _conn(where, conn, want_async)
    params = _filter(where, kw["states"], kw["task_identifiers"], kw["queue_names"],
                     kw["job_key"], kw["min_id"], kw["max_id"])
    return [*params, _int(where, "before_id", kw["before_id"]),
            _int(where, "max_rows", kw["max_rows"], optional=False)]


def _count_params(where: str, conn: object, want_async: bool, kw: dict[str, Any]) -> list[Any]:
    _conn(where, conn, want_async)
    return _filter(where, kw["states"], kw["task_identifiers"], kw["queue_names"],
                   kw["job_key"], kw["min_id"], kw["max_id"])


def _run_at_params(where: str, conn: object, want_async: bool, job_ids: object,
                   run_at: object) -> list[Any]:
    _conn(where, conn, want_async)
    if not isinstance(run_at, datetime):
        raise TypeError(f"{where}: run_at must be a datetime, not {type(run_at).__name__}")
    if run_at.tzinfo is None:
        raise ValueError(f"{where}: run_at must be timezone-aware (e.g. "
                         "datetime.now(timezone.utc)); a naive time would be read in the "
                         "session's time zone")
    return [_ids(where, job_ids), run_at]


def _retention_params(where: str, conn: object, want_async: bool, task_identifier: object,
                      keep: object) -> list[Any]:
    _conn(where, conn, want_async)
    if not isinstance(keep, timedelta):
        raise TypeError(f"{where}: keep must be a timedelta, not {type(keep).__name__}")
    return [_text(where, "task_identifier", task_identifier, optional=True), keep]


# --- sync ---------------------------------------------------------------------------------------


def list_jobs(
    conn: psycopg.Connection[Any], *, states: Iterable[str] | None = None,
    task_identifiers: Iterable[str] | None = None, queue_names: Iterable[str] | None = None,
    job_key: str | None = None, min_id: int | None = None, max_id: int | None = None,
    before_id: int | None = None, max_rows: int = 50,
) -> list[JobRow]:
    """One page of jobs, newest id first (``graphile_worker.list_jobs``); the next page is the
    call with ``before_id`` = the last id of this one. A filter left None matches every job."""
    params = _list_params("list_jobs()", conn, False, locals())
    return [JobRow(*row) for row in _call(conn, _sql.LIST_JOBS, params)]


def count_jobs(
    conn: psycopg.Connection[Any], *, states: Iterable[str] | None = None,
    task_identifiers: Iterable[str] | None = None, queue_names: Iterable[str] | None = None,
    job_key: str | None = None, min_id: int | None = None, max_id: int | None = None,
) -> int:
    """How many jobs :func:`list_jobs` lists with these filters, over all pages."""
    params = _count_params("count_jobs()", conn, False, locals())
    return int(_call(conn, _sql.COUNT_JOBS, params)[0][0])


def job_detail(conn: psycopg.Connection[Any], job_id: int) -> JobDetail | None:
    """Everything known about a job, its payload included; None for an unknown id."""
    _conn("job_detail()", conn, False)
    return _detail(_call(conn, _sql.JOB_DETAIL, [_int("job_detail()", "job_id", job_id, False)]))


def retry_jobs(conn: psycopg.Connection[Any], job_ids: Iterable[int]) -> list[ActionResult]:
    """Run failed and retrying jobs now with all their attempts again (a failed job only in the
    finished-jobs store is enqueued again: ``new_job_id``). One result per id, in order."""
    _conn("retry_jobs()", conn, False)
    return _actions(_call(conn, _sql.RETRY_JOBS, [_ids("retry_jobs()", job_ids)]))


def delete_jobs(conn: psycopg.Connection[Any], job_ids: Iterable[int]) -> list[ActionResult]:
    """Delete jobs that are not running (running ones: :func:`gw_runner.cancel_jobs`); nothing
    is recorded. One result per id, in order."""
    _conn("delete_jobs()", conn, False)
    return _actions(_call(conn, _sql.DELETE_JOBS, [_ids("delete_jobs()", job_ids)]))


def run_jobs_at(
    conn: psycopg.Connection[Any], job_ids: Iterable[int], run_at: datetime
) -> list[ActionResult]:
    """Set ``run_at`` of waiting, scheduled and retrying jobs. One result per id, in order."""
    params = _run_at_params("run_jobs_at()", conn, False, job_ids, run_at)
    return _actions(_call(conn, _sql.RUN_JOBS_AT, params))


def cron_items(conn: psycopg.Connection[Any]) -> list[CronItem]:
    """Every known cron item with its schedule, last execution and next run."""
    _conn("cron_items()", conn, False)
    return [CronItem(*row) for row in _call(conn, _sql.CRON_ITEMS, [])]


def run_cron_item(conn: psycopg.Connection[Any], identifier: str) -> int:
    """Enqueue the job of a registered cron item now; returns its id (GWO01: no such item)."""
    _conn("run_cron_item()", conn, False)
    params = [_text("run_cron_item()", "identifier", identifier)]
    return int(_call(conn, _sql.RUN_CRON_ITEM, params)[0][0])


def storage_stats(conn: psycopg.Connection[Any]) -> list[StorageStat]:
    """Sizes, rows estimates, dead tuples and last autovacuum of the extension's relations."""
    _conn("storage_stats()", conn, False)
    return [StorageStat(*row) for row in _call(conn, _sql.STORAGE_STATS, [])]


def queue_stats(conn: psycopg.Connection[Any]) -> list[QueueStat]:
    """The jobs of each task and queue by state, and the oldest waiting age."""
    _conn("queue_stats()", conn, False)
    return [QueueStat(*row) for row in _call(conn, _sql.QUEUE_STATS_ALL, [])]


def worker_stats(conn: psycopg.Connection[Any]) -> list[WorkerStat]:
    """Each worker: registered, alive, last heartbeat, the jobs it holds."""
    _conn("worker_stats()", conn, False)
    return [WorkerStat(*row) for row in _call(conn, _sql.WORKER_STATS, [])]


def retention_settings(conn: psycopg.Connection[Any]) -> list[RetentionSetting]:
    """How long finished jobs are kept, per task and by default."""
    _conn("retention_settings()", conn, False)
    return [RetentionSetting(*row) for row in _call(conn, _sql.RETENTION_SETTINGS, [])]


def set_retention(
    conn: psycopg.Connection[Any], task_identifier: str | None, keep: timedelta
) -> None:
    """Keep finished jobs of a task (None: the default for every task) for ``keep``."""
    _call(conn, _sql.SET_RETENTION,
          _retention_params("set_retention()", conn, False, task_identifier, keep))


def clear_retention(conn: psycopg.Connection[Any], task_identifier: str | None) -> bool:
    """Remove a task's own retention (None: the default); True if there was one."""
    _conn("clear_retention()", conn, False)
    param = _text("clear_retention()", "task_identifier", task_identifier, optional=True)
    return bool(_call(conn, _sql.CLEAR_RETENTION, [param])[0][0])


def prune_finished_jobs(conn: psycopg.Connection[Any], max_rows: int = 10000) -> int:
    """Delete up to ``max_rows`` finished jobs past their retention; returns how many."""
    _conn("prune_finished_jobs()", conn, False)
    param = _int("prune_finished_jobs()", "max_rows", max_rows, optional=False)
    return int(_call(conn, _sql.PRUNE_FINISHED_JOBS, [param])[0][0])


# --- async --------------------------------------------------------------------------------------


async def list_jobs_async(
    conn: psycopg.AsyncConnection[Any], *, states: Iterable[str] | None = None,
    task_identifiers: Iterable[str] | None = None, queue_names: Iterable[str] | None = None,
    job_key: str | None = None, min_id: int | None = None, max_id: int | None = None,
    before_id: int | None = None, max_rows: int = 50,
) -> list[JobRow]:
    """:func:`list_jobs` on an async connection."""
    params = _list_params("list_jobs_async()", conn, True, locals())
    return [JobRow(*row) for row in await _acall(conn, _sql.LIST_JOBS, params)]


async def count_jobs_async(
    conn: psycopg.AsyncConnection[Any], *, states: Iterable[str] | None = None,
    task_identifiers: Iterable[str] | None = None, queue_names: Iterable[str] | None = None,
    job_key: str | None = None, min_id: int | None = None, max_id: int | None = None,
) -> int:
    """:func:`count_jobs` on an async connection."""
    params = _count_params("count_jobs_async()", conn, True, locals())
    return int((await _acall(conn, _sql.COUNT_JOBS, params))[0][0])


async def job_detail_async(conn: psycopg.AsyncConnection[Any], job_id: int) -> JobDetail | None:
    """:func:`job_detail` on an async connection."""
    _conn("job_detail_async()", conn, True)
    param = _int("job_detail_async()", "job_id", job_id, False)
    return _detail(await _acall(conn, _sql.JOB_DETAIL, [param]))


async def retry_jobs_async(
    conn: psycopg.AsyncConnection[Any], job_ids: Iterable[int]
) -> list[ActionResult]:
    """:func:`retry_jobs` on an async connection."""
    _conn("retry_jobs_async()", conn, True)
    return _actions(await _acall(conn, _sql.RETRY_JOBS, [_ids("retry_jobs_async()", job_ids)]))


async def delete_jobs_async(
    conn: psycopg.AsyncConnection[Any], job_ids: Iterable[int]
) -> list[ActionResult]:
    """:func:`delete_jobs` on an async connection."""
    _conn("delete_jobs_async()", conn, True)
    params = [_ids("delete_jobs_async()", job_ids)]
    return _actions(await _acall(conn, _sql.DELETE_JOBS, params))


async def run_jobs_at_async(
    conn: psycopg.AsyncConnection[Any], job_ids: Iterable[int], run_at: datetime
) -> list[ActionResult]:
    """:func:`run_jobs_at` on an async connection."""
    params = _run_at_params("run_jobs_at_async()", conn, True, job_ids, run_at)
    return _actions(await _acall(conn, _sql.RUN_JOBS_AT, params))


async def cron_items_async(conn: psycopg.AsyncConnection[Any]) -> list[CronItem]:
    """:func:`cron_items` on an async connection."""
    _conn("cron_items_async()", conn, True)
    return [CronItem(*row) for row in await _acall(conn, _sql.CRON_ITEMS, [])]


async def run_cron_item_async(conn: psycopg.AsyncConnection[Any], identifier: str) -> int:
    """:func:`run_cron_item` on an async connection."""
    _conn("run_cron_item_async()", conn, True)
    params = [_text("run_cron_item_async()", "identifier", identifier)]
    return int((await _acall(conn, _sql.RUN_CRON_ITEM, params))[0][0])


async def storage_stats_async(conn: psycopg.AsyncConnection[Any]) -> list[StorageStat]:
    """:func:`storage_stats` on an async connection."""
    _conn("storage_stats_async()", conn, True)
    return [StorageStat(*row) for row in await _acall(conn, _sql.STORAGE_STATS, [])]


async def queue_stats_async(conn: psycopg.AsyncConnection[Any]) -> list[QueueStat]:
    """:func:`queue_stats` on an async connection."""
    _conn("queue_stats_async()", conn, True)
    return [QueueStat(*row) for row in await _acall(conn, _sql.QUEUE_STATS_ALL, [])]


async def worker_stats_async(conn: psycopg.AsyncConnection[Any]) -> list[WorkerStat]:
    """:func:`worker_stats` on an async connection."""
    _conn("worker_stats_async()", conn, True)
    return [WorkerStat(*row) for row in await _acall(conn, _sql.WORKER_STATS, [])]


async def retention_settings_async(conn: psycopg.AsyncConnection[Any]) -> list[RetentionSetting]:
    """:func:`retention_settings` on an async connection."""
    _conn("retention_settings_async()", conn, True)
    return [RetentionSetting(*row) for row in await _acall(conn, _sql.RETENTION_SETTINGS, [])]
