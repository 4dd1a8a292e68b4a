"""The Python enqueue API: ``add_job``/``add_jobs`` on the caller's own connection, inside the
caller's transaction (nothing is committed here).

Arguments are checked before anything is sent: a wrong type raises ``TypeError`` (a wrong
value the SQL functions check raises their ``DatabaseError``), so bad input changes nothing.
The returned rows are read in binary format, which no session setting (DateStyle,
IntervalStyle, TimeZone, extra_float_digits...) changes; a value the standard loaders cannot
represent, or a client_encoding other than UTF-8, is decoded here by :func:`_decode_result`,
which never fails: once the SQL has run the job exists, and raising would make a retrying
caller enqueue it twice.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from . import _otel, _sql
from ._connections import wrong_connection
from ._db import (
    JSON_OID,
    JSONB_OID,
    ClaimJsonbLoader,
    ClaimJsonLoader,
    connect_kwargs,
    job_from_enqueue_row,
)
from ._job import Job
from .errors import error_from_psycopg

JOB_KEY_MODES = ("replace", "preserve_run_at", "unsafe_dedupe")


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One job for :func:`add_jobs` (the fields of SQL type ``graphile_worker.job_spec``)."""

    identifier: str
    payload: Any = None
    queue_name: str | None = None
    run_at: datetime | None = None
    max_attempts: int | None = None
    job_key: str | None = None
    priority: int | None = None
    flags: Sequence[str] | None = field(default=None)


# --- checking the arguments (before any SQL) ---------------------------------------------------


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _wrong_type(where: str, name: str, expected: str, value: object) -> TypeError:
    return TypeError(
        f"{where}: {name} must be {expected}, not {type(value).__name__} {_shown(value)}"
    )


def _check_str(where: str, name: str, value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise _wrong_type(where, name, "a str or None", value)


def _check_int(where: str, name: str, value: object) -> int | None:
    """An int option: a real ``int`` (an int subclass such as IntEnum is converted), never a
    bool, float or str: ``1.5`` would be rounded by the server and ``"5"`` cast."""
    if value is None or type(value) is int:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    raise _wrong_type(where, name, "an int or None", value)


def _check_run_at(where: str, value: object) -> None:
    if value is not None and not isinstance(value, datetime):
        raise _wrong_type(where, "run_at", "a datetime or None", value)


def _flags(where: str, flags: object) -> list[str] | None:
    if flags is None:
        return None
    if isinstance(flags, str | bytes | bytearray) or not isinstance(flags, Iterable):
        raise _wrong_type(where, "flags", "a list of strings or None", flags)
    result = list(flags)
    for flag in result:
        if not isinstance(flag, str):
            raise _wrong_type(where, "each flag", "a str", flag)
    return result


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
#: For a session whose client_encoding is not UTF-8: non-ASCII characters as \u escapes, the
#: same JSON value in any encoding.
_ASCII_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def _dump_payload(where: str, payload: Any, ascii_only: bool = False) -> str | None:
    if payload is None:
        return None
    try:
        return (_ASCII_ENCODER if ascii_only else _ENCODER).encode(payload)
    except TypeError as e:
        raise TypeError(f"{where}: the payload is not JSON-serialisable: {e}") from e
    except (ValueError, RecursionError) as e:
        # NaN and infinities are not JSON; circular or too deeply nested structures
        raise ValueError(f"{where}: the payload cannot be stored as JSON: {e}") from e


def _add_job_params(
    where: str,
    identifier: object,
    payload: Any,
    queue_name: object,
    run_at: object,
    max_attempts: object,
    job_key: object,
    job_key_mode: object,
    priority: object,
    flags: object,
    encoding: str,
) -> tuple[Any, ...]:
    if not isinstance(identifier, str):
        raise _wrong_type(where, "identifier (the task name)", "a str", identifier)
    _check_str(where, "queue_name", queue_name)
    _check_str(where, "job_key", job_key)
    _check_run_at(where, run_at)
    if job_key_mode is not None and not isinstance(job_key_mode, str):
        raise _wrong_type(where, "job_key_mode", f"one of {', '.join(JOB_KEY_MODES)}", job_key_mode)
    return (
        identifier,
        _dump_payload(where, payload, encoding != "utf-8"),
        queue_name,
        run_at,
        _check_int(where, "max_attempts", max_attempts),
        job_key,
        _check_int(where, "priority", priority),
        _flags(where, flags),
        job_key_mode or "replace",
    )


def _wrong_connection(where: str, conn: object, *, want_async: bool) -> TypeError:
    return wrong_connection(
        where, conn, want_async=want_async,
        plain_sql="enqueue with plain SQL: `select graphile_worker.add_job(...)` (docs/enqueue.md)",
    )


# --- the job_spec[] literal ------------------------------------------------------------------


def _quote(text: str) -> str:
    """Double-quote a value for a composite or array literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _field(value: str | None) -> str:
    return "" if value is None else _quote(value)


def _spec_literal(spec: JobSpec, func: str, i: int, ascii_only: bool) -> str:
    """Check one spec and write its composite literal. A spec with only an identifier and a
    payload (the usual bulk enqueue) takes a short path; ``where`` is built only for an
    error message."""
    identifier = spec.identifier
    if type(identifier) is not str:
        if not isinstance(identifier, str):
            raise _wrong_type(f"{func} spec {i}", "identifier (the task name)", "a str",
                              identifier)
    payload = spec.payload
    if payload is None:
        dumped = ""
    else:
        try:
            dumped = _quote((_ASCII_ENCODER if ascii_only else _ENCODER).encode(payload))
        except (TypeError, ValueError, RecursionError):
            _dump_payload(f"{func} spec {i}", payload, ascii_only)  # raises the clear error
            raise
    if (spec.queue_name is None and spec.run_at is None and spec.max_attempts is None
            and spec.job_key is None and spec.priority is None and spec.flags is None):
        return "(" + _quote(identifier) + "," + dumped + ",,,,,,)"
    where = f"{func} spec {i}"
    _check_str(where, "queue_name", spec.queue_name)
    _check_str(where, "job_key", spec.job_key)
    _check_run_at(where, spec.run_at)
    max_attempts = _check_int(where, "max_attempts", spec.max_attempts)
    priority = _check_int(where, "priority", spec.priority)
    flags = _flags(where, spec.flags)
    fields = (
        _quote(identifier),
        dumped,
        _field(spec.queue_name),
        _field(spec.run_at.isoformat() if spec.run_at is not None else None),
        _field(None if max_attempts is None else str(max_attempts)),
        _field(spec.job_key),
        _field(None if priority is None else str(priority)),
        _field(None if flags is None else "{" + ",".join(_quote(f) for f in flags) + "}"),
    )
    return "(" + ",".join(fields) + ")"


def _as_spec(item: JobSpec | Mapping[str, Any], where: str) -> JobSpec:
    if isinstance(item, JobSpec):
        return item
    if isinstance(item, Mapping):
        try:
            return JobSpec(**item)
        except TypeError as e:
            raise TypeError(f"{where}: invalid job spec {dict(item)!r}: {e}") from None
    raise TypeError(f"{where}: a job spec is a JobSpec or a mapping, not {type(item).__name__}")


def _specs(
    func: str, specs: Iterable[JobSpec | Mapping[str, Any]], encoding: str
) -> tuple[list[JobSpec], str]:
    """The specs, checked, and the text of the ``graphile_worker.job_spec[]`` holding them."""
    if isinstance(specs, str | bytes | Mapping) or not isinstance(specs, Iterable):
        raise TypeError(
            f"{func}: specs must be a list of JobSpec objects or mappings, not "
            f"{type(specs).__name__}"
        )
    spec_list: list[JobSpec] = []
    literals: list[str] = []
    ascii_only = encoding != "utf-8"
    for i, item in enumerate(specs):
        spec = item if type(item) is JobSpec else _as_spec(item, f"{func} spec {i}")
        spec_list.append(spec)
        literals.append(_quote(_spec_literal(spec, func, i, ascii_only)))
    return spec_list, "{" + ",".join(literals) + "}"


def _jobs_from_rows(rows: list[tuple[Any, ...]], specs: Sequence[JobSpec]) -> list[Job]:
    """Attach task identifier and queue name to the returned rows: keyed rows by their key,
    the others in the order of the unkeyed specs (the order add_jobs inserts them)."""
    by_key = {s.job_key: s for s in specs if s.job_key is not None}
    unkeyed = iter([s for s in specs if s.job_key is None])
    jobs = []
    for row in rows:
        key = row[1]
        spec = by_key.get(key) if key is not None else None
        if spec is None:
            spec = next(unkeyed, None)
        if spec is None:  # unreachable unless add_jobs changes its contract
            spec = specs[0]
        jobs.append(job_from_enqueue_row(row, spec.identifier, spec.queue_name))
    return jobs


# --- reading the returned rows, whatever the session's settings ----------------------------


def _is_load_error(exc: Exception) -> bool:
    """True for an error of psycopg's loaders (a value they cannot represent, text they cannot
    decode), false for an error of the server or the connection (raised in pipeline mode when
    the results are fetched)."""
    if isinstance(exc, psycopg.Error):
        return isinstance(exc, psycopg.DataError) and exc.sqlstate is None
    return True


_INT8 = struct.Struct("!q").unpack
_INT4 = struct.Struct("!i").unpack
_INT2 = struct.Struct("!h").unpack
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
#: What a timestamp Python cannot hold reads as (PostgreSQL's infinities included).
_LATEST = datetime.max.replace(tzinfo=UTC)
_EARLIEST = datetime.min.replace(tzinfo=UTC)


def _timestamptz(data: bytes, tz: tzinfo) -> datetime:
    micros = _INT8(data)[0]
    try:
        utc = _PG_EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        return _LATEST if micros > 0 else _EARLIEST
    try:
        return utc.astimezone(tz)
    except OverflowError:  # representable in UTC but not in the session's time zone
        return utc


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text  # e.g. nested deeper than Python's recursion limit: the JSON text itself


def _decode_result(cur: psycopg.Cursor[Any] | psycopg.AsyncCursor[Any]) -> list[tuple[Any, ...]]:
    """The rows of the current (binary) result, decoded here for every column type
    ``add_job``/``add_jobs`` return; never raises."""
    res = cur.pgresult
    assert res is not None
    encoding = cur.connection.info.encoding
    if encoding == "ascii":  # SQL_ASCII: the server sends the database's bytes as they are
        encoding = "utf-8"
    tz = cur.connection.info.timezone

    def text(data: bytes) -> str:
        return data.decode(encoding, errors="replace")

    decoders: dict[int, Callable[[bytes], Any]] = {
        20: lambda d: _INT8(d)[0],
        23: lambda d: _INT4(d)[0],
        21: lambda d: _INT2(d)[0],
        25: text,
        114: lambda d: _json(text(d)),
        3802: lambda d: _json(text(d[1:])),  # a version byte, then the JSON text
        1184: lambda d: _timestamptz(d, tz),
    }
    columns = [decoders.get(res.ftype(c), bytes) for c in range(res.nfields)]
    rows = []
    for r in range(res.ntuples):
        values = []
        for c, decode in enumerate(columns):
            data = res.get_value(r, c)
            values.append(None if data is None else decode(bytes(data)))
        rows.append(tuple(values))
    return rows


def _fast_json(cur: psycopg.Cursor[Any] | psycopg.AsyncCursor[Any]) -> None:
    """The runner's JSON loaders for the returned payload and flags (on this cursor only: the
    connection is the caller's); 5,000 rows read in about half the time."""
    cur.adapters.register_loader(JSON_OID, ClaimJsonLoader)
    cur.adapters.register_loader(JSONB_OID, ClaimJsonbLoader)


def _read_rows(cur: psycopg.Cursor[Any], encoding: str) -> list[tuple[Any, ...]]:
    """The returned rows: psycopg's loaders, unless they fail or the session's encoding is
    not UTF-8 (JSON text in another encoding, or SQL_ASCII text that psycopg returns as
    bytes)."""
    try:
        rows = cur.fetchall()
    except Exception as e:
        if not _is_load_error(e):
            raise
        return _decode_result(cur)
    return rows if encoding == "utf-8" else _decode_result(cur)


async def _read_rows_async(cur: psycopg.AsyncCursor[Any], encoding: str) -> list[tuple[Any, ...]]:
    """:func:`_read_rows` for an async cursor."""
    try:
        rows = await cur.fetchall()
    except Exception as e:
        if not _is_load_error(e):
            raise
        return _decode_result(cur)
    return rows if encoding == "utf-8" else _decode_result(cur)


# --- sync --------------------------------------------------------------------------------------


def add_job(
    conn: psycopg.Connection[Any],
    identifier: str,
    payload: Any = None,
    *,
    queue_name: str | None = None,
    run_at: datetime | None = None,
    max_attempts: int | None = None,
    job_key: str | None = None,
    job_key_mode: str | None = None,
    priority: int | None = None,
    flags: Iterable[str] | None = None,
) -> Job:
    """Enqueue one job with ``graphile_worker.add_job`` on ``conn``, inside its current
    transaction (commit it, or use an autocommit connection, for the job to become visible).

    ``payload`` is any JSON-serialisable value (default ``{}``); ``run_at`` a datetime
    (aware, or naive in the session time zone); ``job_key_mode`` is ``replace`` (default),
    ``preserve_run_at`` or ``unsafe_dedupe``. An argument of the wrong type raises
    ``TypeError`` (a payload that is not JSON ``TypeError``/``ValueError``) before anything is
    sent; SQL errors are raised as subclasses of :class:`gw_runner.errors.DatabaseError`
    chosen by SQLSTATE.
    """
    if not isinstance(conn, psycopg.Connection):
        raise _wrong_connection("add_job()", conn, want_async=False)
    tracer = _otel.enqueue_tracer
    if tracer is None:
        return _add_job(conn, identifier, payload, queue_name, run_at, max_attempts, job_key,
                        job_key_mode, priority, flags)
    with tracer.sending("add_job", [identifier], queue_name, None) as sending:
        job = _add_job(conn, identifier, payload, queue_name, run_at, max_attempts, job_key,
                       job_key_mode, priority, sending.flags(flags))
        sending.sent([job])
        return job


def _add_job(
    conn: psycopg.Connection[Any], identifier: str, payload: Any, queue_name: str | None,
    run_at: datetime | None, max_attempts: int | None, job_key: str | None,
    job_key_mode: str | None, priority: int | None, flags: Iterable[str] | None,
) -> Job:
    encoding = conn.info.encoding
    params = _add_job_params(
        "add_job()", identifier, payload, queue_name, run_at, max_attempts, job_key,
        job_key_mode, priority, flags, encoding,
    )
    try:
        with conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(_sql.ADD_JOB, params, binary=True)
            rows = _read_rows(cur, encoding)
    except psycopg.Error as e:
        raise error_from_psycopg(e) from e
    return job_from_enqueue_row(rows[0], identifier, queue_name)


def add_jobs(
    conn: psycopg.Connection[Any],
    specs: Iterable[JobSpec | Mapping[str, Any]],
    *,
    job_key_preserve_run_at: bool = False,
) -> list[Job]:
    """Enqueue many jobs in one statement (``graphile_worker.add_jobs``) inside the current
    transaction of ``conn``. ``specs`` are :class:`JobSpec` objects or mappings with the same
    keys, checked like the arguments of :func:`add_job` before anything is sent. Returns the
    jobs (one per spec; specs sharing a key give one job)."""
    if not isinstance(conn, psycopg.Connection):
        raise _wrong_connection("add_jobs()", conn, want_async=False)
    if not isinstance(job_key_preserve_run_at, bool):
        raise _wrong_type("add_jobs()", "job_key_preserve_run_at", "a bool",
                          job_key_preserve_run_at)
    tracer = _otel.enqueue_tracer
    if tracer is None:
        return _add_jobs(conn, specs, job_key_preserve_run_at)
    items = tracer.listed(specs)
    with tracer.sending_specs("add_jobs", items) as sending:
        jobs = _add_jobs(conn, sending.specs(items), job_key_preserve_run_at)
        sending.sent(jobs)
        return jobs


def _add_jobs(
    conn: psycopg.Connection[Any], specs: Iterable[JobSpec | Mapping[str, Any]],
    job_key_preserve_run_at: bool,
) -> list[Job]:
    encoding = conn.info.encoding
    spec_list, literal = _specs("add_jobs()", specs, encoding)
    if not spec_list:
        return []
    try:
        with conn.cursor(row_factory=tuple_row) as cur:
            _fast_json(cur)
            cur.execute(_sql.ADD_JOBS, (literal, job_key_preserve_run_at), binary=True)
            rows = _read_rows(cur, encoding)
    except psycopg.Error as e:
        raise error_from_psycopg(e) from e
    return _jobs_from_rows(rows, spec_list)


# --- async -------------------------------------------------------------------------------------


async def add_job_async(
    conn: psycopg.AsyncConnection[Any],
    identifier: str,
    payload: Any = None,
    *,
    queue_name: str | None = None,
    run_at: datetime | None = None,
    max_attempts: int | None = None,
    job_key: str | None = None,
    job_key_mode: str | None = None,
    priority: int | None = None,
    flags: Iterable[str] | None = None,
) -> Job:
    """:func:`add_job` for a ``psycopg.AsyncConnection``."""
    if not isinstance(conn, psycopg.AsyncConnection):
        raise _wrong_connection("add_job_async()", conn, want_async=True)
    tracer = _otel.enqueue_tracer
    if tracer is None:
        return await _add_job_async(conn, identifier, payload, queue_name, run_at, max_attempts,
                                    job_key, job_key_mode, priority, flags)
    with tracer.sending("add_job", [identifier], queue_name, None) as sending:
        job = await _add_job_async(conn, identifier, payload, queue_name, run_at, max_attempts,
                                   job_key, job_key_mode, priority, sending.flags(flags))
        sending.sent([job])
        return job


async def _add_job_async(
    conn: psycopg.AsyncConnection[Any], identifier: str, payload: Any, queue_name: str | None,
    run_at: datetime | None, max_attempts: int | None, job_key: str | None,
    job_key_mode: str | None, priority: int | None, flags: Iterable[str] | None,
) -> Job:
    encoding = conn.info.encoding
    params = _add_job_params(
        "add_job_async()", identifier, payload, queue_name, run_at, max_attempts, job_key,
        job_key_mode, priority, flags, encoding,
    )
    try:
        async with conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(_sql.ADD_JOB, params, binary=True)
            rows = await _read_rows_async(cur, encoding)
    except psycopg.Error as e:
        raise error_from_psycopg(e) from e
    return job_from_enqueue_row(rows[0], identifier, queue_name)


async def add_jobs_async(
    conn: psycopg.AsyncConnection[Any],
    specs: Iterable[JobSpec | Mapping[str, Any]],
    *,
    job_key_preserve_run_at: bool = False,
) -> list[Job]:
    """:func:`add_jobs` for a ``psycopg.AsyncConnection``."""
    if not isinstance(conn, psycopg.AsyncConnection):
        raise _wrong_connection("add_jobs_async()", conn, want_async=True)
    if not isinstance(job_key_preserve_run_at, bool):
        raise _wrong_type("add_jobs_async()", "job_key_preserve_run_at", "a bool",
                          job_key_preserve_run_at)
    tracer = _otel.enqueue_tracer
    if tracer is None:
        return await _add_jobs_async(conn, specs, job_key_preserve_run_at)
    items = tracer.listed(specs)
    with tracer.sending_specs("add_jobs", items) as sending:
        jobs = await _add_jobs_async(conn, sending.specs(items),
                                     job_key_preserve_run_at)
        sending.sent(jobs)
        return jobs


async def _add_jobs_async(
    conn: psycopg.AsyncConnection[Any], specs: Iterable[JobSpec | Mapping[str, Any]],
    job_key_preserve_run_at: bool,
) -> list[Job]:
    encoding = conn.info.encoding
    spec_list, literal = _specs("add_jobs_async()", specs, encoding)
    if not spec_list:
        return []
    try:
        async with conn.cursor(row_factory=tuple_row) as cur:
            _fast_json(cur)
            await cur.execute(_sql.ADD_JOBS, (literal, job_key_preserve_run_at), binary=True)
            rows = await _read_rows_async(cur, encoding)
    except psycopg.Error as e:
        raise error_from_psycopg(e) from e
    return _jobs_from_rows(rows, spec_list)


class HandlerEnqueuer:
    """``ctx.add_job``/``ctx.add_jobs`` of a worker's handlers: each call in its own
    transaction, on a connection of the worker's own (one at a time, opened on first use and
    reopened when lost) or one borrowed from the caller's pool."""

    def __init__(self, conninfo: str, *, prepare: bool, pool: Any = None) -> None:
        self._conninfo = conninfo
        self._prepare = prepare
        self._pool = pool
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lock: asyncio.Lock | None = None

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            conn = self._conn = await psycopg.AsyncConnection.connect(
                self._conninfo, **connect_kwargs(
                    self._conninfo, application_name="gw_runner helpers", prepare=self._prepare
                ),
            )
        return conn

    async def add_job(self, identifier: str, payload: Any = None, **options: Any) -> Job:
        if self._pool is not None:
            async with self._pool.connection() as conn:
                return await add_job_async(conn, identifier, payload, **options)
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            return await add_job_async(await self._connection(), identifier, payload, **options)

    async def add_jobs(
        self, specs: Iterable[JobSpec | Mapping[str, Any]], *, job_key_preserve_run_at: bool
    ) -> list[Job]:
        if self._pool is not None:
            async with self._pool.connection() as conn:
                return await add_jobs_async(
                    conn, specs, job_key_preserve_run_at=job_key_preserve_run_at
                )
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            return await add_jobs_async(await self._connection(), specs,
                                        job_key_preserve_run_at=job_key_preserve_run_at)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

