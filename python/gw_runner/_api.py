"""Typed keyword arguments of :class:`~gw_runner.Worker` and small helpers of the library API.

``Worker(tasks, connection=..., hooks=[...], **options)`` takes the fields of
:class:`~gw_runner.WorkerSettings` (except ``connection``, which may also be a pool) as
keyword arguments; :class:`WorkerOptions` spells them out for type checkers.
``tests/api/test_embedded.py`` checks that it lists every settings field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypedDict

from ._loader import TaskSpec, collect_tasks
from ._pool import AsyncPool, is_pool
from ._settings import WorkerSettings


class WorkerOptions(TypedDict, total=False):
    """Keyword options of :class:`~gw_runner.Worker`: the fields of
    :class:`~gw_runner.WorkerSettings` other than ``connection`` (see there and
    docs/runner.md for their meaning and defaults)."""

    concurrency: int
    once: bool
    poll_interval: float
    listen: bool
    batch_size: int | None
    local_queue_ttl: float
    report_delay: float
    shutdown_timeout: float
    crontab: str | None
    forbidden_flags: tuple[str, ...] | None
    prepared_statements: bool
    worker_id: str | None
    durable_claims: bool
    reset_locked_interval: tuple[float, float]
    recovery: bool
    heartbeat_interval: float
    stale_after: float
    sweep_interval: float
    recovery_delay: float
    job_timeout: float | None
    prune_interval: float
    metrics_port: int | None
    metrics_host: str
    metrics_stats_interval: float
    otel: bool


def split_options(options: dict[str, Any]) -> dict[str, Any]:
    """Settings changes from ``options`` (a copy; sequences of flags become tuples)."""
    changes = dict(options)
    flags = changes.get("forbidden_flags")
    if flags is not None and not isinstance(flags, str | tuple):
        changes["forbidden_flags"] = tuple(flags)
    return changes


def resolve_connection(
    settings: WorkerSettings, connection: Any, options: dict[str, Any]
) -> tuple[WorkerSettings, AsyncPool | None]:
    """``Worker``'s settings with its keyword options applied, and the caller's pool when
    ``connection`` is one (a string becomes the ``connection`` setting)."""
    changes = split_options(options)
    pool: AsyncPool | None = None
    if connection is not None:
        if isinstance(connection, str):
            changes["connection"] = connection
        elif is_pool(connection):
            pool = connection
        else:
            raise TypeError(
                "connection must be a connection string or a "
                f"psycopg_pool.AsyncConnectionPool, not {type(connection).__name__}"
            )
    return (settings.with_changes(**changes) if changes else settings), pool


def resolve_tasks(
    tasks: Mapping[str, Any] | Iterable[Callable[..., Any]],
) -> dict[str, TaskSpec]:
    """``Worker``'s tasks: a loaded task file as it is, anything else collected."""
    if isinstance(tasks, Mapping) and tasks and all(
        isinstance(v, TaskSpec) for v in tasks.values()
    ):
        return dict(tasks)
    return collect_tasks(tasks)

