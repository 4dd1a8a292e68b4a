"""A job's status, and waiting for a job to finish (docs/api.md, "Status and waiting").

Reading: :func:`job_status` / :func:`job_status_by_key` (and their ``_async`` forms) call
``graphile_worker.job_status`` / ``job_status_by_key`` on the caller's connection, inside its
current transaction (nothing is committed). The row is read in binary with this module's text
and JSON loaders, so neither the session's settings nor its client encoding change it.

Waiting: :func:`wait_for_job` (and :func:`wait_for_job_async`) LISTENs on
``graphile_worker:finished``, registers a watch (``watch_job``: only watched jobs cost a
notification, and a watched job's finish is recorded for at least 10 minutes even without a
retention), then reads the status; until the job has finished it waits for the notification
of that job, at most ``poll_interval`` seconds at a time, and reads again (the safety poll).
The watch and the LISTEN end in every case.

A known race: the function that finishes a job looks for watches inside its own transaction.
A watch committed after that look but before that transaction commits is missed: the finish is
neither recorded (unless the task keeps history) nor announced. The safety poll then finds the
job gone, and the wait returns the status ``unknown``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from contextlib import aclosing, closing
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import pq
from psycopg.adapt import Buffer, Loader
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import tuple_row

from . import _sql
from ._connections import wrong_connection
from ._text import first_line
from .errors import JobWaitTimeout, error_from_psycopg

log = logging.getLogger("gw_runner.status")

#: States after which a job will not run again (a failed job runs again only if an admin
#: retries it).
FINAL_STATES = frozenset({"completed", "failed", "cancelled"})

#: The channel of ``_sql.LISTEN_FINISHED``.
CHANNEL = "graphile_worker:finished"

_TEXT_OID = 25
_JSONB_OID = 3802


@dataclass(frozen=True, slots=True)
class JobStatus:
    """One job's state, as ``graphile_worker.job_status`` returns it.

    ``state`` is one of ``waiting`` (due), ``scheduled`` (``run_at`` in the future, never
    attempted), ``running``, ``retrying`` (failed, attempts left), ``failed`` (no attempts
    left: final), ``completed``, ``cancelled`` (removed before it ran) or ``unknown`` (no such
    job, or it finished without being recorded: its task keeps no history and nobody waited
    for it). Finished jobs are known only while their record is kept (``set_retention``).

    ``result`` is the handler's return value decoded from JSON (completed jobs whose task
    keeps history, or that someone waited for); ``result_note`` says why a result was not
    stored (too large, not storable as jsonb). ``errors`` lists the recorded failed attempts,
    oldest first, as dicts ``{"attempt", "started_at", "failed_at", "worker_id", "error"}``
    (times as ISO 8601 text). ``run_at`` is set while the job is in the queue. ``id`` is None
    only for an unknown key.
    """

    id: int | None
    task_identifier: str | None
    queue_name: str | None
    state: str
    attempts: int | None
    max_attempts: int | None
    run_at: datetime | None
    last_error: str | None
    result: Any
    created_at: datetime | None
    finished_at: datetime | None
    errors: list[dict[str, Any]]
    result_note: str | None

    @property
    def is_final(self) -> bool:
        """True for ``completed``, ``failed`` and ``cancelled``: the job will not run again
        (unless an admin retries a failed job). False for ``unknown``."""
        return self.state in FINAL_STATES


# --- reading the row, whatever the session's settings ---------------------------------------


def _encoding(conn: Any) -> str:
    """The Python codec of the session's client encoding (SQL_ASCII read as UTF-8)."""
    encoding = conn.info.encoding if conn is not None else "utf-8"
    return "utf-8" if encoding == "ascii" else str(encoding)


class _Undecodable:
    """A JSON value Python cannot load (nested deeper than its recursion limit)."""

    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why


class _TextLoader(Loader):
    """``text`` in binary: the session's client encoding; bytes it cannot decode (a SQL_ASCII
    database) are replaced, not raised."""

    format = pq.Format.BINARY

    def load(self, data: Buffer) -> str:
        return bytes(data).decode(_encoding(self.connection), errors="replace")


class _JsonbLoader(Loader):
    """``jsonb`` in binary: a version byte, then the JSON text in the client encoding."""

    format = pq.Format.BINARY

    def load(self, data: Buffer) -> Any:
        text = bytes(data)[1:].decode(_encoding(self.connection), errors="replace")
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as e:
            why = "nested too deeply for Python" if isinstance(e, RecursionError) else str(e)
            return _Undecodable(why)


def read_cursor(conn: Any) -> Any:
    """A cursor of ``conn`` reading tuples, with text and jsonb read in binary whatever the
    session's client encoding (also used by ``_flow``)."""
    cur = conn.cursor(row_factory=tuple_row)
    cur.adapters.register_loader(_TEXT_OID, _TextLoader)
    cur.adapters.register_loader(_JSONB_OID, _JsonbLoader)
    return cur


def call_rows(conn: psycopg.Connection[Any], statement: str, params: Sequence[Any]) -> list[Any]:
    """Run one statement of the admin APIs (``_flow``, ``_ops``) with :func:`read_cursor`: its
    rows (none for a statement without a result), database errors as ``gw_runner.errors``."""
    try:
        with read_cursor(conn) as cur:
            cur.execute(statement, params, binary=True)
            return list(cur.fetchall()) if cur.description is not None else []
    except psycopg.Error as e:
        raise error_from_psycopg(e) from e


async def call_rows_async(
    conn: psycopg.AsyncConnection[Any], statement: str, params: Sequence[Any]
) -> list[Any]:
    """:func:`call_rows` on an async connection."""
    try:
        async with read_cursor(conn) as cur:
            await cur.execute(statement, params, binary=True)
            return list(await cur.fetchall()) if cur.description is not None else []
    except psycopg.Error as e:
        raise error_from_psycopg(e) from e


def _status_from_row(row: tuple[Any, ...] | None, job_id: int | None) -> JobStatus:
    if row is None:  # unreachable: the functions return one row, unknown ids included
        return JobStatus(job_id, None, None, "unknown", None, None, None, None, None, None,
                         None, [], None)
    (id_, task, queue, state, attempts, max_attempts, run_at, last_error, result, created_at,
     finished_at, errors, note) = row
    if isinstance(result, _Undecodable):
        note = f"the stored result cannot be read in Python ({result.why})"
        result = None
    if not isinstance(errors, list):
        errors = []
    return JobStatus(id_, task, queue, state, attempts, max_attempts, run_at, last_error,
                     result, created_at, finished_at, errors, note)


# --- checking the arguments -------------------------------------------------------------------


def _wrong_connection(where: str, conn: object, *, want_async: bool) -> TypeError:
    return wrong_connection(
        where, conn, want_async=want_async,
        plain_sql="read it with plain SQL: `select * from graphile_worker.job_status(...)` "
        "(docs/history.md)",
    )


def _check_job_id(where: str, job_id: object) -> int:
    if isinstance(job_id, bool) or not isinstance(job_id, int):
        raise TypeError(f"{where}: job_id must be an int, not {type(job_id).__name__}")
    return int(job_id)


def _check_key(where: str, job_key: object) -> str:
    if not isinstance(job_key, str):
        raise TypeError(f"{where}: job_key must be a str, not {type(job_key).__name__}")
    return job_key


def _check_seconds(where: str, name: str, value: object, *, zero_ok: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{where}: {name} must be a number of seconds, "
                        f"not {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok):
        bound = ">= 0" if zero_ok else "> 0"
        raise ValueError(f"{where}: {name} must be a finite number of seconds {bound}, "
                         f"not {value!r}")
    return float(value)


def _in_transaction(where: str, conn: Any, job_id: int) -> ValueError | None:
    """The error for a connection inside a transaction (None when it is idle)."""
    status = conn.info.transaction_status
    if status not in (pq.TransactionStatus.INTRANS, pq.TransactionStatus.INERROR):
        return None
    return ValueError(
        f"{where}: the connection is inside a transaction: job {job_id} is not visible to "
        "runners until the transaction that enqueued it commits, and the notification that "
        "it finished cannot arrive inside a transaction; commit first (conn.commit(), or "
        "leave the `with conn.transaction():` block), or pass a connection string so the "
        "wait uses a connection of its own"
    )


def _connect_kwargs(conninfo: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"autocommit": True}
    try:
        given = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        given = {}
    if "application_name" not in given:
        kwargs["application_name"] = "gw_runner wait_for_job"
    if "connect_timeout" not in given:
        kwargs["connect_timeout"] = 10
    return kwargs


def _finished_id(payload: str) -> int | None:
    try:
        value = json.loads(payload).get("id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None


def _done(status: JobStatus) -> bool:
    """The wait ends: the job finished, or it is unknown (no such job, never seen, or gone
    without a record)."""
    return status.is_final or status.state == "unknown"


# --- sync --------------------------------------------------------------------------------------


def _read(conn: psycopg.Connection[Any], statement: str, param: Any) -> JobStatus:
    with read_cursor(conn) as cur:
        cur.execute(statement, (param,), binary=True)
        row = cur.fetchone()
    return _status_from_row(row, param if statement == _sql.JOB_STATUS else None)


def job_status(conn: psycopg.Connection[Any], job_id: int) -> JobStatus:
    """The status of job ``job_id`` (``graphile_worker.job_status``), read on ``conn`` inside
    its current transaction (a job enqueued in it shows as ``waiting``). An id no table knows
    gives the state ``unknown``. SQL errors are raised as
    :class:`gw_runner.errors.DatabaseError` subclasses chosen by SQLSTATE."""
    if not isinstance(conn, psycopg.Connection):
        raise _wrong_connection("job_status()", conn, want_async=False)
    job_id = _check_job_id("job_status()", job_id)
    try:
        return _read(conn, _sql.JOB_STATUS, job_id)
    except psycopg.Error as e:
        raise error_from_psycopg(e) from e


def job_status_by_key(conn: psycopg.Connection[Any], job_key: str) -> JobStatus:
    """The status of the job holding ``job_key``, else of the last recorded job that had it;
    ``unknown`` (with ``id`` None) when there is neither. Read like :func:`job_status`."""
    if not isinstance(conn, psycopg.Connection):
        raise _wrong_connection("job_status_by_key()", conn, want_async=False)
    job_key = _check_key("job_status_by_key()", job_key)
    try:
        return _read(conn, _sql.JOB_STATUS_BY_KEY, job_key)
    except psycopg.Error as e:
        raise error_from_psycopg(e) from e


def wait_for_job(
    conn: str | psycopg.Connection[Any],
    job_id: int,
    *,
    timeout: float,
    poll_interval: float = 2.0,
) -> JobStatus:
    """Wait until job ``job_id`` has finished and return its final status (``completed``
    with its ``result``, ``failed`` or ``cancelled``).

    ``conn`` is a connection string (a connection of its own is opened, in autocommit, and
    closed after) or a ``psycopg.Connection`` outside any transaction: the job must be
    committed for a runner to see it, and a notification cannot arrive inside a transaction
    (``ValueError`` otherwise). On a connection that is not in autocommit, each statement of
    the wait is committed at once. The connection LISTENs on ``graphile_worker:finished``
    during the wait (notifications of other channels arriving meanwhile are consumed): use a
    connection that listens to nothing else.

    The wait is woken by the job's notification and reads the status again at least every
    ``poll_interval`` seconds. After ``timeout`` seconds it raises
    :class:`gw_runner.errors.JobWaitTimeout` (``.status``: the last status read); the job is
    untouched. The state ``unknown`` is returned at once when the first read does not find
    the job (no such job, or not committed yet, or finished earlier without a record), and
    when a job seen in the queue is gone without a record (see the race in this module's
    docstring).
    """
    where = "wait_for_job()"
    job_id = _check_job_id(where, job_id)
    timeout = _check_seconds(where, "timeout", timeout, zero_ok=True)
    poll_interval = _check_seconds(where, "poll_interval", poll_interval, zero_ok=False)
    deadline = time.monotonic() + timeout
    if isinstance(conn, str):
        try:
            own = psycopg.connect(conn, **_connect_kwargs(conn))
        except psycopg.Error as e:
            raise error_from_psycopg(e) from e
        try:
            return _wait(own, job_id, timeout, deadline, poll_interval)
        finally:
            own.close()
    if not isinstance(conn, psycopg.Connection):
        raise _wrong_connection(where, conn, want_async=False)
    error = _in_transaction(where, conn, job_id)
    if error is not None:
        raise error
    return _wait(conn, job_id, timeout, deadline, poll_interval)


def _wait(
    conn: psycopg.Connection[Any], job_id: int, timeout: float, deadline: float,
    poll_interval: float,
) -> JobStatus:
    def end_transaction() -> None:
        if not conn.autocommit:
            conn.commit()

    try:
        try:
            conn.execute(_sql.LISTEN_FINISHED)
            conn.execute(_sql.WATCH_JOB, (job_id,))
            end_transaction()
            while True:
                status = _read(conn, _sql.JOB_STATUS, job_id)
                end_transaction()
                if _done(status):
                    return status
                left = deadline - time.monotonic()
                if left <= 0:
                    raise JobWaitTimeout(job_id, timeout, status)
                _notified(conn, job_id, min(poll_interval, left))
        except psycopg.Error as e:
            raise error_from_psycopg(e) from e
    finally:
        _end_watch(conn, job_id)


def _notified(conn: psycopg.Connection[Any], job_id: int, wait: float) -> bool:
    """Wait up to ``wait`` seconds for the notification that ``job_id`` finished."""
    with closing(conn.notifies(timeout=wait)) as notifies:
        for notify in notifies:
            if notify.channel == CHANNEL and _finished_id(notify.payload) == job_id:
                return True
    return False


def _end_watch(conn: psycopg.Connection[Any], job_id: int) -> None:
    """End the watch and the LISTEN (a failure is logged: the watch of a session that ended
    is removed by the next ``prune_finished_jobs``)."""
    if conn.closed or conn.broken:
        return
    try:
        if conn.info.transaction_status != pq.TransactionStatus.IDLE:
            conn.rollback()  # the connection was idle when the wait began: this is ours
        conn.execute(_sql.UNWATCH_JOB, (job_id,))
        conn.execute(_sql.UNLISTEN_FINISHED)
        if not conn.autocommit:
            conn.commit()
    except psycopg.Error as e:
        log.warning("wait_for_job: could not end the watch of job %s (%s)", job_id,
                    first_line(e), extra={"job_id": job_id})


# --- async -------------------------------------------------------------------------------------


async def _read_async(conn: psycopg.AsyncConnection[Any], statement: str, param: Any) -> JobStatus:
    async with read_cursor(conn) as cur:
        await cur.execute(statement, (param,), binary=True)
        row = await cur.fetchone()
    return _status_from_row(row, param if statement == _sql.JOB_STATUS else None)


async def job_status_async(conn: psycopg.AsyncConnection[Any], job_id: int) -> JobStatus:
    """:func:`job_status` for a ``psycopg.AsyncConnection``."""
    if not isinstance(conn, psycopg.AsyncConnection):
        raise _wrong_connection("job_status_async()", conn, want_async=True)
    job_id = _check_job_id("job_status_async()", job_id)
    try:
        return await _read_async(conn, _sql.JOB_STATUS, job_id)
    except psycopg.Error as e:
        raise error_from_psycopg(e) from e


async def job_status_by_key_async(conn: psycopg.AsyncConnection[Any], job_key: str) -> JobStatus:
    """:func:`job_status_by_key` for a ``psycopg.AsyncConnection``."""
    if not isinstance(conn, psycopg.AsyncConnection):
        raise _wrong_connection("job_status_by_key_async()", conn, want_async=True)
    job_key = _check_key("job_status_by_key_async()", job_key)
    try:
        return await _read_async(conn, _sql.JOB_STATUS_BY_KEY, job_key)
    except psycopg.Error as e:
        raise error_from_psycopg(e) from e


async def wait_for_job_async(
    conn: str | psycopg.AsyncConnection[Any],
    job_id: int,
    *,
    timeout: float,
    poll_interval: float = 2.0,
) -> JobStatus:
    """:func:`wait_for_job` for asyncio: ``conn`` is a connection string or a
    ``psycopg.AsyncConnection`` outside any transaction. Cancelling the task ends the wait
    (the watch and the LISTEN end too)."""
    where = "wait_for_job_async()"
    job_id = _check_job_id(where, job_id)
    timeout = _check_seconds(where, "timeout", timeout, zero_ok=True)
    poll_interval = _check_seconds(where, "poll_interval", poll_interval, zero_ok=False)
    deadline = time.monotonic() + timeout
    if isinstance(conn, str):
        try:
            own = await psycopg.AsyncConnection.connect(conn, **_connect_kwargs(conn))
        except psycopg.Error as e:
            raise error_from_psycopg(e) from e
        try:
            return await _wait_async(own, job_id, timeout, deadline, poll_interval)
        finally:
            await own.close()
    if not isinstance(conn, psycopg.AsyncConnection):
        raise _wrong_connection(where, conn, want_async=True)
    error = _in_transaction(where, conn, job_id)
    if error is not None:
        raise error
    return await _wait_async(conn, job_id, timeout, deadline, poll_interval)


async def _wait_async(
    conn: psycopg.AsyncConnection[Any], job_id: int, timeout: float, deadline: float,
    poll_interval: float,
) -> JobStatus:
    async def end_transaction() -> None:
        if not conn.autocommit:
            await conn.commit()

    try:
        try:
            await conn.execute(_sql.LISTEN_FINISHED)
            await conn.execute(_sql.WATCH_JOB, (job_id,))
            await end_transaction()
            while True:
                status = await _read_async(conn, _sql.JOB_STATUS, job_id)
                await end_transaction()
                if _done(status):
                    return status
                left = deadline - time.monotonic()
                if left <= 0:
                    raise JobWaitTimeout(job_id, timeout, status)
                await _notified_async(conn, job_id, min(poll_interval, left))
        except psycopg.Error as e:
            raise error_from_psycopg(e) from e
    finally:
        await _end_watch_async(conn, job_id)


async def _notified_async(conn: psycopg.AsyncConnection[Any], job_id: int, wait: float) -> bool:
    # aclosing: an abandoned generator would keep the connection's lock until collected
    async with aclosing(conn.notifies(timeout=wait)) as notifies:
        async for notify in notifies:
            if notify.channel == CHANNEL and _finished_id(notify.payload) == job_id:
                return True
    return False


async def _end_watch_async(conn: psycopg.AsyncConnection[Any], job_id: int) -> None:
    if conn.closed or conn.broken:
        return
    try:
        if conn.info.transaction_status != pq.TransactionStatus.IDLE:
            await conn.rollback()
        await conn.execute(_sql.UNWATCH_JOB, (job_id,))
        await conn.execute(_sql.UNLISTEN_FINISHED)
        if not conn.autocommit:
            await conn.commit()
    except psycopg.Error as e:
        log.warning("wait_for_job_async: could not end the watch of job %s (%s)", job_id,
                    first_line(e), extra={"job_id": job_id})
