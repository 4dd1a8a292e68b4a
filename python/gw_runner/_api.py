"""Typed keyword arguments of :class:`~gw_runner.Worker` and small helpers of the library API.

``Worker(tasks, connection=..., hooks=[...], **options)`` takes the fields of
:class:`~gw_runner.WorkerSettings` (except ``connection``, which may also be a pool) as
keyword arguments; :class:`WorkerOptions` spells them out for type checkers.
``tests/api/test_api.py`` checks that it lists every settings field.
"""

from __future__ import annotations

from typing import Any, TypedDict


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


def split_options(options: dict[str, Any]) -> dict[str, Any]:
    """Settings changes from ``options`` (a copy; sequences of flags become tuples)."""
    changes = dict(options)
    flags = changes.get("forbidden_flags")
    if flags is not None and not isinstance(flags, str | tuple):
        changes["forbidden_flags"] = tuple(flags)
    return changes
