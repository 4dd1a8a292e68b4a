"""Connections: opening them, telling a lost connection from an SQL error, and backoff."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import psycopg
from psycopg import pq
from psycopg.adapt import Buffer, Loader
from psycopg.conninfo import conninfo_to_dict

from ._aio import Backoff
from ._job import Job
from ._text import first_line
from .errors import DatabaseError, error_from_psycopg

log = logging.getLogger("gw_runner.db")

T = TypeVar("T")

#: SQLSTATEs after which the connection is unusable (server shutting down or restarting,
#: connection failure) even if psycopg has not noticed yet.
_RECONNECT_STATES = frozenset({"57P01", "57P02", "57P03", "08000", "08003", "08006", "08001"})
#: SQLSTATEs worth an immediate retry on the same connection.
_RETRY_STATES = frozenset({"40001", "40P01"})
#: SQLSTATEs of a connection attempt that retrying will not fix (bad credentials, no such
#: database): the runner stops with an error instead of retrying for ever.
FATAL_CONNECT_STATES = frozenset({"28000", "28P01", "3D000", "42501"})

#: The same, recognised by message when libpq reports no SQLSTATE for a failed connection.
_FATAL_CONNECT_MESSAGES = re.compile(
    r"database \".*\" does not exist|role \".*\" does not exist|authentication failed"
    r"|no pg_hba\.conf entry|permission denied for database|invalid connection option"
    r"|invalid URI|missing \"=\" after|is not permitted to log in|invalid sslmode"
)

BACKOFF_BASE = 0.2
BACKOFF_CAP = 30.0


def backoff_delay(attempt: int, *, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """Capped exponential backoff with jitter: about base*2^attempt, at most cap, times a
    random factor in [0.5, 1)."""
    raw = min(cap, base * 2.0 ** min(attempt, 30))
    return raw * (0.5 + random.random() / 2)


def is_connection_error(exc: BaseException, conn: Any = None) -> bool:
    """True when ``exc`` means the connection is gone (retry on a new connection)."""
    if isinstance(exc, psycopg.InterfaceError | OSError):
        return True
    if not isinstance(exc, psycopg.OperationalError):
        return False
    if conn is not None and (conn.closed or conn.broken):
        return True
    state = getattr(exc, "sqlstate", None)
    return state is None or state in _RECONNECT_STATES


def is_fatal_connect_error(exc: BaseException) -> bool:
    """A connection attempt failed for a reason retrying will not fix."""
    if getattr(exc, "sqlstate", None) in FATAL_CONNECT_STATES:
        return True
    return isinstance(exc, psycopg.Error) and bool(_FATAL_CONNECT_MESSAGES.search(str(exc)))


def is_transient_error(exc: BaseException) -> bool:
    return isinstance(exc, psycopg.Error) and getattr(exc, "sqlstate", None) in _RETRY_STATES


def connect_kwargs(
    conninfo: str, *, application_name: str, prepare: bool, async_commit: bool = False
) -> dict[str, Any]:
    """Keyword arguments for ``AsyncConnection.connect``. ``async_commit`` asks for
    ``synchronous_commit=off`` in the session (a startup parameter, not a statement), unless
    the connection string sets ``options`` itself."""
    kwargs: dict[str, Any] = {"autocommit": True}
    try:
        given = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        given = {}
    if async_commit and "options" not in given:
        kwargs["options"] = "-c synchronous_commit=off"
    if "application_name" not in given:
        kwargs["application_name"] = application_name
    if "connect_timeout" not in given:
        kwargs["connect_timeout"] = 10
    if not prepare:
        kwargs["prepare_threshold"] = None
    return kwargs


class ChannelLike(Protocol):
    """What the stages use of a channel: :class:`Channel` (a connection of the worker's own)
    or :class:`gw_runner._pool.PoolChannel` (connections borrowed from a caller's pool)."""

    name: str

    @property
    def connected(self) -> bool: ...

    async def connect(self, *, deadline: float | None = None) -> Any: ...

    async def run(
        self,
        op: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]],
        *,
        deadline: float | None = None,
    ) -> T: ...

    def interrupt(self, max_delay: float = 1.0) -> None: ...

    async def close(self) -> None: ...


class Channel:
    """One connection of the runner, reopened with backoff whenever it is lost.

    ``run(op)`` calls ``op(conn)``; if the connection is lost the operation is retried on a
    new connection (so operations must be safe to repeat). SQL errors are mapped to
    :class:`~gw_runner.errors.DatabaseError` and raised.
    """

    def __init__(
        self,
        name: str,
        conninfo: str,
        *,
        worker_id: str,
        prepare: bool = True,
        async_commit: bool = False,
        stopped: Callable[[], bool] = lambda: False,
    ) -> None:
        self.name = name
        self._conninfo = conninfo
        self._kwargs = connect_kwargs(
            conninfo, application_name=f"gw_runner {name}", prepare=prepare,
            async_commit=async_commit,
        )
        self._worker_id = worker_id
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._stopped = stopped
        self._failures = 0
        self._lock = asyncio.Lock()
        self._backoff = Backoff(BACKOFF_CAP)

    def interrupt(self, max_delay: float = 1.0) -> None:
        """Cut a backoff sleep short and keep later ones under ``max_delay`` (shutdown)."""
        self._backoff.interrupt(max_delay)

    @property
    def conn(self) -> psycopg.AsyncConnection[Any] | None:
        return self._conn

    @property
    def connected(self) -> bool:
        """The connection is open (as far as the client knows: a lost one shows at its
        next use)."""
        conn = self._conn
        return conn is not None and not conn.closed and not conn.broken

    async def connect(self, *, deadline: float | None = None) -> psycopg.AsyncConnection[Any]:
        """Open the connection, retrying with backoff; raises on fatal errors (bad password,
        no such database), when ``deadline`` (monotonic) passes, or when stopped."""
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        await self.close()
        while True:
            try:
                self._conn = await psycopg.AsyncConnection.connect(self._conninfo, **self._kwargs)
            except psycopg.Error as e:
                if "options" in self._kwargs and "startup parameter" in str(e):
                    # a pooler (PgBouncer) refusing the options parameter: do without it
                    log.info("connection %s: the server refuses the options startup parameter;"
                             " connecting without synchronous_commit=off", self.name)
                    del self._kwargs["options"]
                    continue
                if is_fatal_connect_error(e) or not isinstance(e, psycopg.OperationalError):
                    raise error_from_psycopg(e) from e
                self._failures += 1
                delay = backoff_delay(self._failures, cap=self._backoff.max_delay)
                if deadline is not None and time.monotonic() + delay > deadline:
                    raise DatabaseError(
                        f"cannot connect ({self.name}): {first_line(e)}"
                    ) from e
                if self._stopped():
                    raise DatabaseError(f"stopped while reconnecting ({self.name})") from e
                log.warning(
                    "connection %s: cannot connect (%s); retrying in %.1f s (attempt %d)",
                    self.name, first_line(e), delay, self._failures,
                    extra={"worker_id": self._worker_id},
                )
                await self._backoff.sleep(delay)
                continue
            if self._failures:
                log.warning(
                    "connection %s: reconnected after %d failed attempt(s)",
                    self.name, self._failures, extra={"worker_id": self._worker_id},
                )
                self._failures = 0
            return self._conn

    async def run(
        self,
        op: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]],
        *,
        deadline: float | None = None,
    ) -> T:
        """Run ``op`` on the connection, reconnecting and retrying while it is lost."""
        async with self._lock:
            return await self._run(op, deadline)

    async def _run(
        self,
        op: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]],
        deadline: float | None,
    ) -> T:
        transient = 0
        while True:
            conn = await self.connect(deadline=deadline)
            try:
                return await op(conn)
            except psycopg.Error as e:
                if is_connection_error(e, conn):
                    self._failures += 1
                    await self.close()
                    await wait_after_lost_connection(
                        e, name=self.name, failures=self._failures, backoff=self._backoff,
                        deadline=deadline, stopped=self._stopped,
                        worker_id=self._worker_id, next_step="reconnecting",
                    )
                    continue
                transient = await wait_before_transient_retry(e, transient)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:
                pass


def count_op(
    statement: str, params: tuple[Any, ...] | None = None
) -> Callable[[psycopg.AsyncConnection[Any]], Awaitable[int]]:
    """An operation for :meth:`Channel.run` that runs ``statement`` and returns the integer
    it selects (0 for null): ``return_jobs``, ``return_unheld_jobs``, ``reset_locked``."""
    async def op(conn: psycopg.AsyncConnection[Any]) -> int:
        cur = await conn.execute(statement, params)
        row = await cur.fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    return op


async def wait_after_lost_connection(
    error: psycopg.Error,
    *,
    name: str,
    failures: int,
    backoff: Backoff,
    deadline: float | None,
    stopped: Callable[[], bool],
    worker_id: str | None,
    next_step: str,
) -> None:
    """After a lost connection: wait the capped, jittered backoff of this failure, saying so in
    the log, or raise DatabaseError when the deadline would pass or the worker is stopping.
    Shared by the worker's own channels and the channels on a caller's pool."""
    delay = backoff_delay(failures, cap=backoff.max_delay)
    if (deadline is not None and time.monotonic() + delay > deadline) or stopped():
        raise DatabaseError(f"connection {name} lost: {first_line(error)}") from error
    log.warning(
        "connection %s lost (%s); %s in %.1f s (attempt %d)",
        name, first_line(error), next_step, delay, failures,
        extra={"worker_id": worker_id},
    )
    await backoff.sleep(delay)


async def wait_before_transient_retry(error: psycopg.Error, attempts: int) -> int:
    """A serialization failure or deadlock is retried at once, a few times with a short
    jittered pause; returns the new attempt count, or raises the mapped error."""
    if is_transient_error(error) and attempts < 10:
        attempts += 1
        await asyncio.sleep(0.01 * attempts * (1 + random.random()))
        return attempts
    raise error_from_psycopg(error) from error


JSON_OID = 114
JSONB_OID = 3802
_raw_decode = json.JSONDecoder().raw_decode


def _load_json_text(text: str) -> Any:
    try:
        return _raw_decode(text)[0]
    except ValueError:
        return json.loads(text)


class ClaimJsonLoader(Loader):
    """Loads the payload (``json``) and flags (``jsonb``) of claimed jobs, sent in binary:
    the text of a ``json`` value, a version byte and the text of a ``jsonb`` value. The server
    has checked the text is JSON, so the decoder's scanner is called directly; ``json.loads``
    (which psycopg's own loader calls, after guessing the encoding) is only needed for text
    that starts with white space (a ``json`` value keeps the text as it was enqueued).
    Several times faster for the small payloads most jobs have."""

    format = pq.Format.BINARY

    def load(self, data: Buffer) -> Any:
        return _load_json_text(str(data, "utf-8"))


class ClaimJsonbLoader(Loader):
    format = pq.Format.BINARY

    def load(self, data: Buffer) -> Any:
        return _load_json_text(str(bytes(data)[1:], "utf-8"))


def claim_cursor(conn: psycopg.AsyncConnection[Any]) -> psycopg.AsyncCursor[Any]:
    """A cursor for ``_sql.GET_JOBS``: binary rows (which no session setting such as DateStyle
    changes) with the fast JSON loaders (registered on the cursor only: the connection may
    be the caller's, from their pool)."""
    cur = conn.cursor(binary=True)
    cur.adapters.register_loader(JSON_OID, ClaimJsonLoader)
    cur.adapters.register_loader(JSONB_OID, ClaimJsonbLoader)
    return cur


class UndecodableRow:
    """A claimed row that the runner cannot turn into a :class:`Job` (a date outside Python's
    range, JSON nested too deeply, ...): written by hand or by another client. Its job is
    failed for good: retrying cannot help. ``job`` holds the columns that could be read
    (None for the others)."""

    __slots__ = ("job", "problem")

    def __init__(self, job: Job, problem: str) -> None:
        self.job = job
        self.problem = problem

    @property
    def message(self) -> str:
        return (f"the runner cannot decode this job's row ({self.problem}); retrying cannot "
                "help: correct the row or remove the job")


async def read_claimed(
    cur: psycopg.AsyncCursor[Any],
) -> tuple[list[Job], list[UndecodableRow]]:
    """The jobs of a ``_sql.GET_JOBS`` cursor, and the rows that cannot be read (each row is
    read on its own only when the whole batch fails: the fast path stays one call)."""
    try:
        return [job_from_claim_row(r) for r in await cur.fetchall()], []
    except Exception:  # a loader failed on some row: read them one by one
        pass
    jobs: list[Job] = []
    bad: list[UndecodableRow] = []
    for values, problems in await _rows_one_by_one(cur):
        job = job_from_claim_row(values)
        if problems:
            bad.append(UndecodableRow(job, "; ".join(problems)))
        else:
            jobs.append(job)
    return jobs, bad


async def fetchall_lenient(cur: psycopg.AsyncCursor[Any]) -> list[tuple[Any, ...]]:
    """The rows of ``cur``, with None for the values that cannot be loaded (a time outside
    Python's range in a row written by hand, say): for results that are only logged."""
    try:
        return await cur.fetchall()
    except Exception:
        return [values for values, _ in await _rows_one_by_one(cur)]


async def _rows_one_by_one(
    cur: psycopg.AsyncCursor[Any],
) -> list[tuple[tuple[Any, ...], list[str]]]:
    """Each row of the result, loaded on its own; when a row fails, each of its values on
    its own: (values with None for those that failed, what failed)."""
    res = cur.pgresult
    assert res is not None
    out: list[tuple[tuple[Any, ...], list[str]]] = []
    for i in range(res.ntuples):
        await cur.scroll(i, "absolute")
        try:
            row = await cur.fetchone()
            assert row is not None
            out.append((tuple(row), []))
            continue
        except Exception:
            pass
        values: list[Any] = []
        problems: list[str] = []
        for col in range(res.nfields):
            raw = res.get_value(i, col)
            loader = cur.adapters.get_loader(res.ftype(col), pq.Format(res.fformat(col)))
            try:
                if raw is None:
                    values.append(None)
                    continue
                if loader is None:
                    raise TypeError(f"no loader for type oid {res.ftype(col)}")
                values.append(loader(res.ftype(col), cur).load(raw))
            except Exception as e:
                values.append(None)
                why = ("JSON nested too deeply for Python" if isinstance(e, RecursionError)
                       else first_line(e))
                problems.append(f"{(res.fname(col) or b'?').decode()}: {why}")
        out.append((tuple(values), problems or ["unknown"]))
    return out


def job_from_claim_row(row: tuple[Any, ...]) -> Job:
    """A :class:`Job` from a row of ``_sql.GET_JOBS``."""
    (id_, task, queue, payload, priority, run_at, attempts, max_attempts, key, flags, revision,
     created_at, locked_at) = row
    return Job(id_, task, queue, payload, priority, run_at, attempts, max_attempts, key, flags,
               created_at, locked_at, revision)


def job_from_enqueue_row(row: tuple[Any, ...], identifier: str, queue_name: str | None) -> Job:
    """A :class:`Job` from a row of ``_sql.ADD_JOB``/``ADD_JOBS``."""
    (id_, key, payload, priority, run_at, attempts, max_attempts, flags, created_at, locked_at,
     revision, last_error) = row
    return Job(id_, identifier, queue_name, payload, priority, run_at, attempts, max_attempts,
               key, flags, created_at, locked_at, revision, last_error)
