"""Flow control from Python (docs/api.md, "Flow control"): pause and resume tasks and named
queues, limit a task across every runner, list what is paused or limited, cancel jobs.

Each function calls one ``graphile_worker`` function (0.1.8, admin level) on the caller's
connection, inside its current transaction: commit it (or use an autocommit connection) for
the change to take effect; runners hear of it at the commit (``graphile_worker:control``).
Arguments of the wrong type raise ``TypeError`` before anything is sent; values the SQL
refuses (an empty list, an empty name, a limit below 1, a rate period outside 1 second to 7
days...) raise :class:`gw_runner.errors.InvalidFlowControlArgument` (GWF01) naming what is
wrong, and change nothing. Rows are read in binary, whatever the session's settings.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from . import _sql
from ._connections import wrong_connection
from ._status import call_rows as _call
from ._status import call_rows_async as _call_async
from .errors import InvalidFlowControlArgument

_INT_MAX = 2**31 - 1
_A = {str: "a str", int: "an int"}


@dataclass(frozen=True, slots=True)
class FlowControl:
    """One row of ``graphile_worker.flow_controls()``.

    ``kind`` is ``task`` or ``queue``; ``name`` the task identifier or queue name. A task row
    holds its pause and limits: ``max_running`` with ``running`` (its jobs running now, counted
    against the limit), ``rate_limit`` and ``rate_period`` with ``starts`` (its starts in the
    last period); None where no limit is set. A queue row is a paused queue.
    """

    kind: str
    name: str
    paused: bool
    max_running: int | None
    running: int | None
    rate_limit: int | None
    rate_period: timedelta | None
    starts: int | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CancelResult:
    """What ``cancel_jobs`` / ``cancel_jobs_by_key`` did with one job.

    ``state`` is what the job was: ``waiting`` or ``scheduled`` (deleted and recorded as
    cancelled), ``running`` (it will not run again; its runner is told and the job ends as
    cancelled when reported), or, with ``cancelled`` false, ``cancelling`` (a cancel is
    already under way), ``failed`` (no attempts left) or ``unknown`` (no such job, or no job
    holds the key: ``job_id`` is None then). ``job_key`` is set by ``cancel_jobs_by_key``.
    """

    job_id: int | None
    cancelled: bool
    state: str
    job_key: str | None = None


# --- checking the arguments -------------------------------------------------------------------


def _check_conn(where: str, conn: object, want_async: bool) -> None:
    kind = psycopg.AsyncConnection if want_async else psycopg.Connection
    if not isinstance(conn, kind):
        raise wrong_connection(
            where, conn, want_async=want_async,
            plain_sql="call the SQL function: `select graphile_worker.pause_tasks(...)` "
            "(docs/sql-api.md)",
        )


def _list(where: str, name: str, values: object, kind: type) -> list[Any] | None:
    """``values`` as a list whose entries are ``kind`` (None entries and a None list go to the
    SQL, which names the problem)."""
    if values is None:
        return None
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        hint = f" (one {name[:-1]}: pass [{values!r}])" if isinstance(values, str | int) else ""
        raise TypeError(f"{where}: {name} must be a list, not {type(values).__name__}{hint}")
    out = list(values)
    for value in out:
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise TypeError(f"{where}: each of {name} must be {_A[kind]}, not "
                            f"{type(value).__name__} ({value!r:.50})")
    return out


def _limit(where: str, name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{where}: {name} must be an int or None, not {type(value).__name__}")
    if abs(value) > _INT_MAX:
        raise InvalidFlowControlArgument(
            f"set_task_limits: {name} must be 1 or more and at most {_INT_MAX}, not {value} "
            "(SQLSTATE GWF01)",
            sqlstate="GWF01", hint="Pass None for no limit.",
        )
    return value


def _period(where: str, value: object) -> timedelta | None:
    if value is None or isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{where}: rate_period must be a timedelta or a number of seconds, "
                        f"not {type(value).__name__}")
    try:
        if not math.isfinite(value):
            raise OverflowError
        return timedelta(seconds=value)
    except OverflowError:
        raise InvalidFlowControlArgument(
            f"set_task_limits: rate_period must be from 1 second to 7 days, not {value!r} "
            "(SQLSTATE GWF01)",
            sqlstate="GWF01", hint="Pass e.g. timedelta(minutes=1) or 60.",
        ) from None


def _limits_params(
    where: str, task_identifier: object, max_running: object, rate_limit: object,
    rate_period: object,
) -> tuple[Any, ...]:
    if task_identifier is not None and not isinstance(task_identifier, str):
        raise TypeError(f"{where}: task_identifier must be a str, "
                        f"not {type(task_identifier).__name__}")
    return (task_identifier, _limit(where, "max_running", max_running),
            _limit(where, "rate_limit", rate_limit), _period(where, rate_period))


# --- the calls (call_rows, in _status) --------------------------------------------------------


def _names(rows: list[Any]) -> list[str]:
    return list(rows[0][0] or []) if rows else []


def _controls(rows: list[Any]) -> list[FlowControl]:
    return [FlowControl(*row) for row in rows]


def _cancelled(rows: list[Any]) -> list[CancelResult]:
    return [CancelResult(job_id, cancelled, state) for job_id, cancelled, state in rows]


def _cancelled_by_key(rows: list[Any]) -> list[CancelResult]:
    return [CancelResult(job_id, cancelled, state, key) for key, job_id, cancelled, state in rows]


_NAME_CALLS = {
    "pause_tasks": (_sql.PAUSE_TASKS, "task_identifiers"),
    "resume_tasks": (_sql.RESUME_TASKS, "task_identifiers"),
    "pause_queues": (_sql.PAUSE_QUEUES, "queue_names"),
    "resume_queues": (_sql.RESUME_QUEUES, "queue_names"),
}


def _by_names(function: str, conn: Any, names: object, want_async: bool) -> tuple[str, tuple[Any]]:
    where = f"{function}_async()" if want_async else f"{function}()"
    _check_conn(where, conn, want_async)
    statement, arg = _NAME_CALLS[function]
    return statement, (_list(where, arg, names, str),)


# --- sync ---------------------------------------------------------------------------------------


def pause_tasks(conn: psycopg.Connection[Any], task_identifiers: Iterable[str]) -> list[str]:
    """Pause these tasks (``graphile_worker.pause_tasks``; they need not exist yet): no runner
    claims their jobs until :func:`resume_tasks`. Running jobs finish; runners give back the
    claimed jobs they have not started. Returns the tasks that were not paused before."""
    return _names(_call(conn, *_by_names("pause_tasks", conn, task_identifiers, False)))


def resume_tasks(conn: psycopg.Connection[Any], task_identifiers: Iterable[str]) -> list[str]:
    """Resume paused tasks; runners claim their jobs at once. Returns the tasks that were
    paused."""
    return _names(_call(conn, *_by_names("resume_tasks", conn, task_identifiers, False)))


def pause_queues(conn: psycopg.Connection[Any], queue_names: Iterable[str]) -> list[str]:
    """Pause these named queues (they need not exist yet), like :func:`pause_tasks`. Returns
    the queues that were not paused before."""
    return _names(_call(conn, *_by_names("pause_queues", conn, queue_names, False)))


def resume_queues(conn: psycopg.Connection[Any], queue_names: Iterable[str]) -> list[str]:
    """Resume paused named queues. Returns the queues that were paused."""
    return _names(_call(conn, *_by_names("resume_queues", conn, queue_names, False)))


def set_task_limits(
    conn: psycopg.Connection[Any],
    task_identifier: str,
    *,
    max_running: int | None = None,
    rate_limit: int | None = None,
    rate_period: timedelta | float | None = None,
) -> None:
    """Limit a task across every runner (``graphile_worker.set_task_limits``): at most
    ``max_running`` of its jobs running at once, at most ``rate_limit`` starts in any
    ``rate_period`` (a ``timedelta`` or seconds, 1 second to 7 days; given with
    ``rate_limit``). None is no limit: all None removes the task's limits. Jobs over a limit
    wait in their order, using no attempt."""
    where = "set_task_limits()"
    _check_conn(where, conn, False)
    params = _limits_params(where, task_identifier, max_running, rate_limit, rate_period)
    _call(conn, _sql.SET_TASK_LIMITS, params)


def flow_controls(conn: psycopg.Connection[Any]) -> list[FlowControl]:
    """The paused and limited tasks, then the paused queues (``graphile_worker.flow_controls``)."""
    _check_conn("flow_controls()", conn, False)
    return _controls(_call(conn, _sql.FLOW_CONTROLS, ()))


def cancel_jobs(conn: psycopg.Connection[Any], job_ids: Iterable[int]) -> list[CancelResult]:
    """Cancel jobs (``graphile_worker.cancel_jobs``): a waiting or scheduled one is deleted
    and recorded as cancelled; a running one is never retried, its runner is told (an async
    handler is cancelled, ``ctx.cancelled`` becomes true) and it ends as cancelled when
    reported. One :class:`CancelResult` per id, in order."""
    where = "cancel_jobs()"
    _check_conn(where, conn, False)
    return _cancelled(_call(conn, _sql.CANCEL_JOBS, (_list(where, "job_ids", job_ids, int),)))


def cancel_jobs_by_key(
    conn: psycopg.Connection[Any], job_keys: Iterable[str]
) -> list[CancelResult]:
    """:func:`cancel_jobs` for the jobs holding these keys; one :class:`CancelResult` per key,
    in order (``job_id`` None and state ``unknown`` for a key no job holds)."""
    where = "cancel_jobs_by_key()"
    _check_conn(where, conn, False)
    keys = _list(where, "job_keys", job_keys, str)
    return _cancelled_by_key(_call(conn, _sql.CANCEL_JOBS_BY_KEY, (keys,)))


# --- async --------------------------------------------------------------------------------------


async def pause_tasks_async(
    conn: psycopg.AsyncConnection[Any], task_identifiers: Iterable[str]
) -> list[str]:
    """:func:`pause_tasks` for a ``psycopg.AsyncConnection``."""
    return _names(await _call_async(conn, *_by_names("pause_tasks", conn, task_identifiers,
                                                       True)))


async def resume_tasks_async(
    conn: psycopg.AsyncConnection[Any], task_identifiers: Iterable[str]
) -> list[str]:
    """:func:`resume_tasks` for a ``psycopg.AsyncConnection``."""
    return _names(await _call_async(conn, *_by_names("resume_tasks", conn, task_identifiers,
                                                       True)))


async def pause_queues_async(
    conn: psycopg.AsyncConnection[Any], queue_names: Iterable[str]
) -> list[str]:
    """:func:`pause_queues` for a ``psycopg.AsyncConnection``."""
    return _names(await _call_async(conn, *_by_names("pause_queues", conn, queue_names, True)))


async def resume_queues_async(
    conn: psycopg.AsyncConnection[Any], queue_names: Iterable[str]
) -> list[str]:
    """:func:`resume_queues` for a ``psycopg.AsyncConnection``."""
    return _names(await _call_async(conn, *_by_names("resume_queues", conn, queue_names, True)))


async def set_task_limits_async(
    conn: psycopg.AsyncConnection[Any],
    task_identifier: str,
    *,
    max_running: int | None = None,
    rate_limit: int | None = None,
    rate_period: timedelta | float | None = None,
) -> None:
    """:func:`set_task_limits` for a ``psycopg.AsyncConnection``."""
    where = "set_task_limits_async()"
    _check_conn(where, conn, True)
    params = _limits_params(where, task_identifier, max_running, rate_limit, rate_period)
    await _call_async(conn, _sql.SET_TASK_LIMITS, params)


async def flow_controls_async(conn: psycopg.AsyncConnection[Any]) -> list[FlowControl]:
    """:func:`flow_controls` for a ``psycopg.AsyncConnection``."""
    _check_conn("flow_controls_async()", conn, True)
    return _controls(await _call_async(conn, _sql.FLOW_CONTROLS, ()))


async def cancel_jobs_async(
    conn: psycopg.AsyncConnection[Any], job_ids: Iterable[int]
) -> list[CancelResult]:
    """:func:`cancel_jobs` for a ``psycopg.AsyncConnection``."""
    where = "cancel_jobs_async()"
    _check_conn(where, conn, True)
    ids = _list(where, "job_ids", job_ids, int)
    return _cancelled(await _call_async(conn, _sql.CANCEL_JOBS, (ids,)))


async def cancel_jobs_by_key_async(
    conn: psycopg.AsyncConnection[Any], job_keys: Iterable[str]
) -> list[CancelResult]:
    """:func:`cancel_jobs_by_key` for a ``psycopg.AsyncConnection``."""
    where = "cancel_jobs_by_key_async()"
    _check_conn(where, conn, True)
    keys = _list(where, "job_keys", job_keys, str)
    return _cancelled_by_key(await _call_async(conn, _sql.CANCEL_JOBS_BY_KEY, (keys,)))
