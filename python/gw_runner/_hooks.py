"""Lifecycle hooks: typed events a :class:`~gw_runner.Worker` emits, for logs and metrics.

Subclass :class:`WorkerHooks`, override the ``on_*`` methods you need and pass instances as
``Worker(..., hooks=[...])``. Each method gets one frozen event object. Methods run in the
worker's event loop, so they must be quick and must not block; a method that returns an
awaitable (an ``async def`` method) is scheduled as a task instead of being awaited. An
exception raised by a hook is logged (logger ``gw_runner.hooks``) and otherwise ignored: it
never changes a job's outcome or stops the worker.

Job outcome events fire once the database has recorded the outcome (``report_jobs``), so
they agree with the table: ``on_job_failed`` knows whether the job will be retried and when.
The order, per job: ``on_job_started``, then either ``on_job_succeeded``, or ``on_job_failed``
(``will_retry`` true or false) followed, when no attempt is left, by
``on_job_permanently_failed``, or ``on_job_cancelled`` (the job was cancelled while it ran:
``cancel_jobs``). See docs/api.md.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ._job import Job

log = logging.getLogger("gw_runner.hooks")

__all__ = [
    "JobCancelled",
    "JobFailed",
    "JobPermanentlyFailed",
    "JobStarted",
    "JobSucceeded",
    "JobsRecovered",
    "JobsReturned",
    "WorkerHooks",
    "WorkerStarted",
    "WorkerStopped",
]


@dataclass(frozen=True, slots=True)
class WorkerStarted:
    """The worker is connected and has claimed for the first time: jobs may start now."""

    worker_id: str
    tasks: tuple[str, ...]
    concurrency: int


@dataclass(frozen=True, slots=True)
class WorkerStopped:
    """The worker has stopped: every outcome it could report is reported, its connections are
    closed. ``status`` is 0 for a clean stop, 1 when outcomes or returns could not be sent."""

    worker_id: str
    status: int


@dataclass(frozen=True, slots=True)
class JobStarted:
    """A claimed job's handler is about to run (``job.attempts`` counts this attempt)."""

    worker_id: str
    job: Job


@dataclass(frozen=True, slots=True)
class JobSucceeded:
    """The handler returned and the job was deleted from the queue. ``duration``: seconds the
    handler ran."""

    worker_id: str
    job: Job
    duration: float


@dataclass(frozen=True, slots=True)
class JobFailed:
    """An attempt failed and the database recorded it.

    ``error`` is the exception the handler raised (None when the worker failed the job
    itself: shutdown timeout, forced shutdown); ``message`` is the ``last_error`` stored.
    ``will_retry``: the job will run again at ``retry_at``; when false, attempts are used up
    (or the handler raised ``PermanentFailure``) and ``on_job_permanently_failed`` follows.
    ``duration``: seconds the handler ran (None when it did not run to an end).
    """

    worker_id: str
    job: Job
    error: BaseException | None
    message: str
    will_retry: bool
    retry_at: datetime | None
    duration: float | None


@dataclass(frozen=True, slots=True)
class JobPermanentlyFailed:
    """The job will not run again: it stays in the table with ``attempts = max_attempts``.
    Fires right after the ``JobFailed`` event (``will_retry=False``) of the same attempt."""

    worker_id: str
    job: Job
    error: BaseException | None
    message: str


@dataclass(frozen=True, slots=True)
class JobCancelled:
    """The job was cancelled while it ran (``cancel_jobs``) and the database ended it as
    cancelled when the runner reported it: it will not run again. ``duration``: seconds the
    handler ran (None when it did not run to an end). A job cancelled before it started fires
    no job event (it is among the ``on_jobs_returned`` ids, ``reason="cancelled"``)."""

    worker_id: str
    job: Job
    duration: float | None


@dataclass(frozen=True, slots=True)
class JobsReturned:
    """Claimed jobs given back unstarted (``return_jobs``: attempt refunded): ``reason`` is
    ``shutdown``, ``not started within N s`` (the local queue's TTL), ``paused`` (their task or
    queue was paused), ``cancelled`` (cancelled before they started: the database ends them
    as cancelled instead of giving them back) or ``this worker was declared lost``. ``count``
    is how many the database released (ids no longer locked by this worker are skipped)."""

    worker_id: str
    job_ids: tuple[int, ...]
    count: int
    reason: str


@dataclass(frozen=True, slots=True)
class JobsRecovered:
    """This worker's stale-worker sweep (``recover_stale_workers``) released the jobs of a
    worker that stopped beating: ``lost_worker_id``, its ``last_heartbeat_at``, and how many
    jobs were unlocked."""

    worker_id: str
    lost_worker_id: str
    jobs_recovered: int
    last_heartbeat_at: datetime | None


HookResult = Awaitable[None] | None


class WorkerHooks:
    """Base class of worker hooks: every method does nothing; override the ones you need.

    Methods may be plain (called in the loop, must not block) or ``async def`` (scheduled as
    a task; the worker waits up to 5 s for such tasks when it stops). Exceptions are logged
    and ignored.
    """

    def on_worker_started(self, event: WorkerStarted) -> HookResult:
        return None

    def on_worker_stopped(self, event: WorkerStopped) -> HookResult:
        return None

    def on_job_started(self, event: JobStarted) -> HookResult:
        return None

    def on_job_succeeded(self, event: JobSucceeded) -> HookResult:
        return None

    def on_job_failed(self, event: JobFailed) -> HookResult:
        return None

    def on_job_permanently_failed(self, event: JobPermanentlyFailed) -> HookResult:
        return None

    def on_job_cancelled(self, event: JobCancelled) -> HookResult:
        return None

    def on_jobs_returned(self, event: JobsReturned) -> HookResult:
        return None

    def on_jobs_recovered(self, event: JobsRecovered) -> HookResult:
        return None


_HOOK_NAMES = tuple(name for name in vars(WorkerHooks) if name.startswith("on_"))


class HookDispatcher:
    """Calls the hooks' methods for each event; only overridden methods are called, so a
    worker without hooks pays one truth test per event.

    ``bool(dispatcher)`` is false when no hook is registered. ``emit_*`` methods build and
    dispatch one event each (the recovery sweep calls :meth:`emit_jobs_recovered`).
    """

    def __init__(self, hooks: Iterable[WorkerHooks], worker_id: str) -> None:
        self.worker_id = worker_id
        self.hooks: tuple[WorkerHooks, ...] = tuple(hooks)
        for hook in self.hooks:
            if not any(callable(getattr(hook, name, None)) for name in _HOOK_NAMES):
                raise TypeError(
                    f"hook {hook!r} has none of the methods {', '.join(_HOOK_NAMES)}; "
                    "subclass gw_runner.WorkerHooks"
                )
        self._methods: dict[str, tuple[Callable[[Any], HookResult], ...]] = {}
        for name in _HOOK_NAMES:
            base = getattr(WorkerHooks, name)
            methods = []
            for hook in self.hooks:
                method = getattr(hook, name, None)
                if method is None or getattr(type(hook), name, None) is base:
                    continue  # not overridden: skip the call
                methods.append(method)
            self._methods[name] = tuple(methods)
        self._active = any(self._methods.values())
        self._tasks: set[asyncio.Task[Any]] = set()

    def __bool__(self) -> bool:
        return self._active

    def emit(self, name: str, event: Any) -> None:
        """Call every ``name`` method with ``event``; never raises."""
        for method in self._methods.get(name, ()):
            try:
                result = method(event)
                if result is not None and inspect.isawaitable(result):
                    self._schedule(name, method, result)
            except Exception:
                log.exception(
                    "hook %s raised; ignored", _describe(method),
                    extra={"worker_id": self.worker_id, "hook": name},
                )

    def _schedule(self, name: str, method: Any, awaitable: Awaitable[None]) -> None:
        async def run() -> None:
            await awaitable

        task = asyncio.ensure_future(run())
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if t.cancelled():
                return
            exc = t.exception()
            if exc is not None:
                log.error(
                    "hook %s raised; ignored", _describe(method),
                    exc_info=(type(exc), exc, exc.__traceback__),
                    extra={"worker_id": self.worker_id, "hook": name},
                )

        task.add_done_callback(done)

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait (at most ``timeout`` seconds) for hook tasks still running; cancel the rest."""
        if not self._tasks:
            return
        pending = set(self._tasks)
        _, still = await asyncio.wait(pending, timeout=timeout)
        for task in still:
            task.cancel()
        if still:
            log.warning(
                "%d async hook call(s) still running after %g s were cancelled", len(still),
                timeout, extra={"worker_id": self.worker_id},
            )

    # -- one method per event, for the worker (and the recovery sweep) ---------------------

    def emit_jobs_recovered(
        self, lost_worker_id: str, jobs_recovered: int, last_heartbeat_at: datetime | None
    ) -> None:
        """The recovery sweep released ``jobs_recovered`` jobs of ``lost_worker_id``."""
        if self._methods["on_jobs_recovered"]:
            self.emit(
                "on_jobs_recovered",
                JobsRecovered(self.worker_id, lost_worker_id, jobs_recovered, last_heartbeat_at),
            )


def _describe(method: Any) -> str:
    owner = getattr(method, "__self__", None)
    name = getattr(method, "__name__", repr(method))
    return f"{type(owner).__name__}.{name}" if owner is not None else name
