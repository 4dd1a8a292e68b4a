"""What a handler gets besides its payload: :class:`JobContext` and its :class:`AbortSignal`."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine, Iterable, Mapping, MutableMapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ._job import Job

if TYPE_CHECKING:
    from ._enqueue import JobSpec

T = TypeVar("T")


class Enqueuer(Protocol):
    async def add_job(self, identifier: str, payload: Any = None, **options: Any) -> Job: ...

    async def add_jobs(
        self, specs: Iterable[JobSpec | Mapping[str, Any]], *, job_key_preserve_run_at: bool
    ) -> list[Job]: ...


class JobHost(Protocol):
    """What a :class:`JobContext` needs of the worker running its job."""

    worker_id: str
    abort_reason: str | None

    @property
    def enqueuer(self) -> Enqueuer: ...

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    def run_from_thread(self, coro: Coroutine[Any, Any, T]) -> T: ...

job_logger = logging.getLogger("gw_runner.job")


class AbortSignal:
    """Set when the job should stop early: the runner is shutting down, the task's timeout
    has passed, or the job was cancelled (``cancel_jobs``). ``reason`` says which
    (``timeout``, ``cancelled``, or why the runner stops).

    Sync handlers poll ``is_set()`` or block in ``wait(timeout)``; async handlers
    ``await signal.wait_async()`` (or are cancelled on a forced shutdown).
    """

    __slots__ = ("_async", "_event", "_loop", "reason")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._event = threading.Event()
        self._loop = loop
        self._async: asyncio.Event | None = None
        self.reason: str | None = None

    def is_set(self) -> bool:
        return self._event.is_set()

    __bool__ = is_set

    def wait(self, timeout: float | None = None) -> bool:
        """Block the calling thread until the signal is set or ``timeout`` passes (sync
        handlers only). Returns whether it is set."""
        return self._event.wait(timeout)

    async def wait_async(self) -> None:
        """Wait until the signal is set (async handlers)."""
        if self._event.is_set():
            return
        if self._async is None:
            self._async = asyncio.Event()
            if self._event.is_set():
                return
        await self._async.wait()

    def set(self, reason: str) -> None:
        """Set the signal (the runner does this; thread-safe)."""
        if self._event.is_set():
            return
        self.reason = reason
        self._event.set()
        if self._async is not None:
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is self._loop:
                self._async.set()
            else:
                self._loop.call_soon_threadsafe(self._async.set)


class _JobLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger whose records carry the job id, task identifier and worker id."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        extra = kwargs.get("extra")
        kwargs["extra"] = {**self.extra, **extra} if extra else self.extra  # type: ignore[dict-item]
        return msg, kwargs


class JobContext:
    """The second argument of a handler.

    - ``job``: the :class:`Job` being run (id, task_identifier, queue_name, attempts,
      max_attempts, run_at, key, priority, flags, payload as stored...);
    - ``worker_id``: the id this runner locks jobs with;
    - ``logger``: a logger bound to the job (records carry ``job_id``, ``task``, ``worker_id``);
    - ``abort_signal``: an :class:`AbortSignal` set when the runner shuts down, the task's
      timeout passes or the job is cancelled;
    - ``cancelled``: true once the job was cancelled (``graphile_worker.cancel_jobs``) while it
      ran: it will not run again whatever the handler does, so it may stop at once;
    - ``add_job``/``add_jobs`` (async handlers, awaited) and ``add_job_sync``/``add_jobs_sync``
      (sync handlers, blocking): enqueue more jobs, each in its own transaction.
    """

    __slots__ = ("_abort", "_cancelled", "_logger", "_worker", "job", "worker_id")

    def __init__(self, job: Job, worker: JobHost) -> None:
        self.job = job
        self.worker_id = worker.worker_id
        self._worker = worker
        self._logger: _JobLogger | None = None
        self._abort: AbortSignal | None = None
        self._cancelled = False

    def __repr__(self) -> str:
        return f"<JobContext job {self.job.id} ({self.job.task_identifier})>"

    # Job fields, for brevity (ctx.job has them all).
    @property
    def job_id(self) -> int:
        return self.job.id

    @property
    def task_identifier(self) -> str:
        return self.job.task_identifier

    @property
    def attempts(self) -> int:
        return self.job.attempts

    @property
    def max_attempts(self) -> int:
        return self.job.max_attempts

    @property
    def is_last_attempt(self) -> bool:
        return self.job.attempts >= self.job.max_attempts

    @property
    def logger(self) -> logging.LoggerAdapter:  # type: ignore[type-arg]
        if self._logger is None:
            self._logger = _JobLogger(
                job_logger,
                {"job_id": self.job.id, "task": self.job.task_identifier,
                 "worker_id": self.worker_id},
            )
        return self._logger

    @property
    def abort_signal(self) -> AbortSignal:
        signal = self._abort
        if signal is None:
            signal = self._abort = AbortSignal(self._worker.loop)
            # read after the signal is in place: a cancel or stop from the loop's thread meanwhile
            # either sees the signal or is seen here
            reason = "cancelled" if self._cancelled else self._worker.abort_reason
            if reason is not None:
                signal.set(reason)
        return signal

    @property
    def cancelled(self) -> bool:
        """True once the job was cancelled while it ran (``graphile_worker.cancel_jobs``,
        ``gw_runner.cancel_jobs``): the database ends it as cancelled whatever the handler does
        now, so it should stop. ``abort_signal`` is set too, with reason ``cancelled``; an async
        handler is also cancelled (``asyncio.CancelledError`` at its current ``await``)."""
        return self._cancelled

    def _set_abort(self, reason: str) -> None:
        """Runner side: set the signal if a handler has looked at it (created lazily)."""
        if self._abort is not None:
            self._abort.set(reason)

    def _cancel(self) -> None:
        """Runner side: the job was cancelled (``cancelled`` and the abort signal)."""
        self._cancelled = True
        self._set_abort("cancelled")

    async def add_job(
        self,
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
        """Enqueue a job (async handlers). Same arguments as :func:`gw_runner.add_job`."""
        return await self._worker.enqueuer.add_job(
            identifier, payload, queue_name=queue_name, run_at=run_at,
            max_attempts=max_attempts, job_key=job_key, job_key_mode=job_key_mode,
            priority=priority, flags=flags,
        )

    async def add_jobs(
        self,
        specs: Iterable[JobSpec | Mapping[str, Any]],
        *,
        job_key_preserve_run_at: bool = False,
    ) -> list[Job]:
        """Enqueue several jobs in one statement (async handlers)."""
        return await self._worker.enqueuer.add_jobs(
            specs, job_key_preserve_run_at=job_key_preserve_run_at
        )

    def add_job_sync(self, identifier: str, payload: Any = None, **options: Any) -> Job:
        """Enqueue a job from a sync handler (blocks this worker thread until it is stored)."""
        return self._worker.run_from_thread(self.add_job(identifier, payload, **options))

    def add_jobs_sync(
        self,
        specs: Iterable[JobSpec | Mapping[str, Any]],
        *,
        job_key_preserve_run_at: bool = False,
    ) -> list[Job]:
        """Enqueue several jobs from a sync handler (blocking)."""
        return self._worker.run_from_thread(
            self.add_jobs(specs, job_key_preserve_run_at=job_key_preserve_run_at)
        )
