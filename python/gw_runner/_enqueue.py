"""The Python enqueue API: ``add_job``/``add_jobs`` on the caller's own connection, inside the
caller's transaction (nothing is committed here)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from . import _sql
from ._db import job_from_enqueue_row
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


def _dump_payload(payload: Any) -> str | None:
    if payload is None:
        return None
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def _flags(flags: Iterable[str] | None) -> list[str] | None:
    if flags is None:
        return None
    if isinstance(flags, str):
        raise TypeError("flags must be a list of strings, not a string")
    return list(flags)


def _add_job_params(
    identifier: str,
    payload: Any,
    queue_name: str | None,
    run_at: datetime | None,
    max_attempts: int | None,
    job_key: str | None,
    job_key_mode: str | None,
    priority: int | None,
    flags: Iterable[str] | None,
) -> tuple[Any, ...]:
    return (
        identifier,
        _dump_payload(payload),
        queue_name,
        run_at,
        max_attempts,
        job_key,
        priority,
        _flags(flags),
        job_key_mode or "replace",
    )


# --- the job_spec[] literal ------------------------------------------------------------------


def _quote(text: str) -> str:
    """Double-quote a value for a composite or array literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _field(value: str | None) -> str:
    return "" if value is None else _quote(value)


def _spec_literal(spec: JobSpec) -> str:
    flags = _flags(spec.flags)
    fields = (
        _field(spec.identifier),
        _field(_dump_payload(spec.payload)),
        _field(spec.queue_name),
        _field(spec.run_at.isoformat() if spec.run_at is not None else None),
        _field(None if spec.max_attempts is None else str(int(spec.max_attempts))),
        _field(spec.job_key),
        _field(None if spec.priority is None else str(int(spec.priority))),
        _field(None if flags is None else "{" + ",".join(_quote(f) for f in flags) + "}"),
    )
    return "(" + ",".join(fields) + ")"


def _as_spec(item: JobSpec | Mapping[str, Any]) -> JobSpec:
    if isinstance(item, JobSpec):
        spec = item
    elif isinstance(item, Mapping):
        try:
            spec = JobSpec(**item)
        except TypeError as e:
            raise TypeError(f"invalid job spec {dict(item)!r}: {e}") from None
    else:
        raise TypeError(f"a job spec is a JobSpec or a mapping, not {type(item).__name__}")
    if not isinstance(spec.identifier, str):
        raise TypeError(f"job spec identifier must be a str, not {type(spec.identifier).__name__}")
    for name in ("queue_name", "job_key"):
        value = getattr(spec, name)
        if value is not None and not isinstance(value, str):
            raise TypeError(f"job spec {name} must be a str or None")
    if spec.run_at is not None and not isinstance(spec.run_at, datetime):
        raise TypeError("job spec run_at must be a datetime or None")
    return spec


def specs_literal(specs: Sequence[JobSpec]) -> str:
    """The text of a ``graphile_worker.job_spec[]`` value holding ``specs``."""
    return "{" + ",".join(_quote(_spec_literal(s)) for s in specs) + "}"


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
    ``preserve_run_at`` or ``unsafe_dedupe``. SQL errors are raised as subclasses of
    :class:`gw_runner.errors.DatabaseError` chosen by SQLSTATE.
    """
    params = _add_job_params(
        identifier, payload, queue_name, run_at, max_attempts, job_key, job_key_mode, priority,
        flags,
    )
    try:
        with conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(_sql.ADD_JOB, params)
            row = cur.fetchone()
    except psycopg.Error as e:
        raise error_from_psycopg(e) from e
    assert row is not None
    return job_from_enqueue_row(row, identifier, queue_name)


def add_jobs(
    conn: psycopg.Connection[Any],
    specs: Iterable[JobSpec | Mapping[str, Any]],
    *,
    job_key_preserve_run_at: bool = False,
) -> list[Job]:
    """Enqueue many jobs in one statement (``graphile_worker.add_jobs``) inside the current
    transaction of ``conn``. ``specs`` are :class:`JobSpec` objects or mappings with the same
    keys. Returns the jobs (one per spec; specs sharing a key give one job)."""
    spec_list = [_as_spec(s) for s in specs]
    if not spec_list:
        return []
    try:
        with conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(_sql.ADD_JOBS, (specs_literal(spec_list), job_key_preserve_run_at))
            rows = cur.fetchall()
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
    params = _add_job_params(
        identifier, payload, queue_name, run_at, max_attempts, job_key, job_key_mode, priority,
        flags,
    )
    try:
        async with conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(_sql.ADD_JOB, params)
            row = await cur.fetchone()
    except psycopg.Error as e:
        raise error_from_psycopg(e) from e
    assert row is not None
    return job_from_enqueue_row(row, identifier, queue_name)


async def add_jobs_async(
    conn: psycopg.AsyncConnection[Any],
    specs: Iterable[JobSpec | Mapping[str, Any]],
    *,
    job_key_preserve_run_at: bool = False,
) -> list[Job]:
    """:func:`add_jobs` for a ``psycopg.AsyncConnection``."""
    spec_list = [_as_spec(s) for s in specs]
    if not spec_list:
        return []
    try:
        async with conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(_sql.ADD_JOBS, (specs_literal(spec_list), job_key_preserve_run_at))
            rows = await cur.fetchall()
    except psycopg.Error as e:
        raise error_from_psycopg(e) from e
    return _jobs_from_rows(rows, spec_list)
