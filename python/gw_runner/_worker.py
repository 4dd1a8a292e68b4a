"""The runner: claim jobs in batches, run handlers, report outcomes in batches.

One asyncio loop holds everything:

- the *fetcher* claims batches with ``get_jobs`` into a local queue, when the queue runs low,
  when a ``jobs:insert`` NOTIFY arrives, after outcomes were reported (a named queue may be
  free again), or when the next scheduled job is due (``next_job_due_at``) or the poll
  interval passes;
- ``concurrency`` *slots* take jobs from the local queue; async handlers are awaited in the
  slot, sync handlers run on daemon threads, one per slot (``_threads``: a sync handler past
  its time limit is abandoned and its slot gets a new thread);
- the *reporter* sends the outcomes with ``report_jobs``, one call per batch;
- the *listener* keeps a LISTEN connection of its own; *housekeeping* returns claimed jobs
  not started within the TTL and runs ``reset_locked`` every 8-10 minutes;
- *recovery* (``_recovery``) registers the worker, sends heartbeats and runs the stale-worker
  sweep; *cron* (``_cron``) schedules the crontab at every minute boundary.

Connections are reopened with capped exponential backoff and jitter whenever they are lost;
outcomes that could not be reported are kept and sent again.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

import psycopg

from . import _sql
from ._api import WorkerOptions, split_options
from ._context import JobContext
from ._convert import PayloadError
from ._cron import CronScheduler
from ._db import (
    FATAL_CONNECT_STATES,
    Channel,
    backoff_delay,
    claim_cursor,
    connect_kwargs,
    is_connection_error,
    job_from_claim_row,
)
from ._enqueue import JobSpec, add_job_async, add_jobs_async
from ._hooks import (
    HookDispatcher,
    JobFailed,
    JobPermanentlyFailed,
    JobsReturned,
    JobStarted,
    JobSucceeded,
    WorkerHooks,
    WorkerStarted,
    WorkerStopped,
)
from ._job import Job
from ._loader import TaskSpec, collect_tasks
from ._pool import AsyncPool, PoolChannel, is_pool, pool_conninfo
from ._recovery import Recovery
from ._settings import WorkerSettings, make_worker_id
from ._threads import HandlerThreads, job_time_limit
from .errors import (
    DatabaseError,
    ExtensionMissing,
    GraphileWorkerError,
    PermanentFailure,
    RetryLater,
)

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

    from ._health import WorkerHealth

log = logging.getLogger("gw_runner.worker")

T = TypeVar("T")

#: A slot gives the event loop a turn after this many jobs in a row (see ``_slot``).
_YIELD_EVERY = 8

_MAX_ERROR_LENGTH = 20_000
_FINAL_REPORT_GRACE = 15.0  # seconds to get the last outcomes out at shutdown


def error_message(exc: BaseException) -> str:
    """The ``last_error`` text for an exception raised by a handler."""
    if isinstance(exc, PermanentFailure | RetryLater):
        text = str(exc) or type(exc).__name__
    else:
        detail = str(exc)
        text = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    text = text.replace("\x00", "\\0")
    if len(text) > _MAX_ERROR_LENGTH:
        text = text[: _MAX_ERROR_LENGTH - 15] + "... (truncated)"
    return text


class _Outcome:
    """What the reporter needs to log a failure once the database has recorded it."""

    __slots__ = ("duration", "exc", "job", "message")

    def __init__(self, job: Job, message: str, exc: BaseException | None) -> None:
        self.job = job
        self.message = message
        self.exc = exc
        self.duration: float | None = None  # handler run time, kept for hooks


class Worker:
    """Runs the handlers of ``tasks`` against the queue, in the caller's event loop.

    - ``tasks``: a mapping identifier -> handler, an iterable of handlers marked with
      ``@task``, or the result of :func:`gw_runner.load_task_file`.
    - ``connection``: a libpq connection string, or an open
      ``psycopg_pool.AsyncConnectionPool`` to borrow connections from (the worker never
      closes it; its LISTEN connection is always its own, opened with the pool's conninfo).
    - ``hooks``: :class:`WorkerHooks` instances notified of lifecycle events.
    - ``settings`` and/or keyword ``options`` (the fields of :class:`WorkerSettings`).

    ``await worker.run()`` runs until stopped and returns an exit status (0 clean; 1 when the
    database refused the worker or outcomes could not be reported at shutdown);
    ``run_once()`` runs until nothing is runnable. ``async with worker:`` starts it in the
    background (``start()``) and stops it on exit (``stop()``). ``request_shutdown()`` (from
    the loop's thread, e.g. a signal handler) starts a graceful shutdown without waiting; a
    second call, or ``force=True``, a forceful one. A worker runs once: make a new one to run
    again. See docs/api.md.
    """

    def __init__(
        self,
        tasks: Mapping[str, Any] | Iterable[Callable[..., Any]],
        settings: WorkerSettings | None = None,
        *,
        connection: str | AsyncConnectionPool[Any] | AsyncPool | None = None,
        hooks: Iterable[WorkerHooks] | WorkerHooks | None = None,
        **options: Unpack[WorkerOptions],
    ) -> None:
        settings = settings or WorkerSettings()
        changes = split_options(dict(options))
        self._pool: AsyncPool | None = None
        if connection is not None:
            if isinstance(connection, str):
                changes["connection"] = connection
            elif is_pool(connection):
                self._pool = connection
            else:
                raise TypeError(
                    "connection must be a connection string or a "
                    f"psycopg_pool.AsyncConnectionPool, not {type(connection).__name__}"
                )
        if changes:
            settings = settings.with_changes(**changes)
        self.settings = settings
        if isinstance(tasks, Mapping) and tasks and all(
            isinstance(v, TaskSpec) for v in tasks.values()
        ):
            self.tasks: dict[str, TaskSpec] = dict(tasks)
        else:
            self.tasks = collect_tasks(tasks)
        self.worker_id = settings.worker_id or make_worker_id()
        if isinstance(hooks, WorkerHooks):
            hooks = [hooks]
        self.hooks = HookDispatcher(hooks or (), self.worker_id)
        self._task_names = sorted(self.tasks)
        self._forbidden = list(settings.forbidden_flags) if settings.forbidden_flags else None
        self._batch_size = settings.effective_batch_size
        self._low_water = max(settings.concurrency, self._batch_size // 2)
        self._queue_cap = self._batch_size + self._batch_size // 2
        self._report_threshold = max(self._batch_size, 50)
        self.abort_reason: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # local queue: (monotonic claim time, job); waiters are idle slots
        self._queue: deque[tuple[float, Job]] = deque()
        self._waiters: deque[asyncio.Future[Job | None]] = deque()
        self._running: dict[int, JobContext] = {}
        self._handoffs = 0
        # ids of every job this worker has claimed and not yet reported or returned
        self._held: set[int] = set()
        # a claim was retried on a new connection: the first attempt may have committed
        # without its rows reaching us (see _return_unheld)
        self._claim_unsure = False
        self._can_return_unheld = True
        # outcomes not yet reported
        self._completed: list[int] = []
        self._failures: list[dict[str, Any]] = []
        self._failed_info: dict[int, _Outcome] = {}
        self._reporting = False
        self._stopping = False
        self._forced = False
        self._finished_once = False
        self._status = 0
        self._due_stale = True
        self._due_at: float | None = None  # loop time of the next scheduled job, if known
        self._can_reset_locked = True
        self._threads: HandlerThreads | None = None
        self._recovery: Recovery | None = None
        self._cron: CronScheduler | None = None
        self._helper_conn: psycopg.AsyncConnection[Any] | None = None
        self._helper_lock: asyncio.Lock | None = None
        self._shutdown_task: asyncio.Future[None] | None = None
        self._final_deadline = 0.0
        # asyncio.Event binds to the running loop on first use, so these can be made here
        self._pulse = asyncio.Event()  # something may be runnable: claim now
        self._demand = asyncio.Event()  # the local queue runs low
        self._report_wake = asyncio.Event()
        self._force_event = asyncio.Event()
        self._stopped_event = asyncio.Event()
        # library API: lifecycle, health, hooks
        self.state = "new"  # new, starting, running, stopping, stopped
        self.status: int | None = None  # the exit status, once stopped
        self.start_error: BaseException | None = None
        self._grace: float | None = None
        self._run_task: asyncio.Task[int] | None = None
        self._started_event = asyncio.Event()
        self._done_event = asyncio.Event()
        self._last_tick = 0.0
        self._listening = False
        self._stop_early = False
        self._job_started: dict[int, float] = {}  # job id -> perf_counter, for hooks
        self._done_info: dict[int, tuple[Job, float]] = {}  # completed, not yet reported

    # -- library API ---------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Run until nothing is runnable (no LISTEN, no cron), then stop; the exit status."""
        if not self.settings.once:
            self.settings = self.settings.with_changes(once=True)
        return await self.run()

    async def start(self) -> None:
        """Start :meth:`run` as a task of the running loop and wait until the worker is
        connected and has claimed once. Raises the error that kept it from starting (e.g.
        :class:`~gw_runner.errors.DatabaseError`: unknown database, extension missing)."""
        if self._run_task is not None or self.state != "new":
            raise RuntimeError("this worker was already started; a worker runs once")
        self._run_task = asyncio.create_task(self.run(), name=f"gw-worker-{self.worker_id}")
        started = asyncio.ensure_future(self._started_event.wait())
        try:
            await asyncio.wait([self._run_task, started], return_when=asyncio.FIRST_COMPLETED)
        finally:
            started.cancel()
        if self._run_task.done() and not self._started_event.is_set():
            status = self._run_task.result()  # re-raises an unexpected exception
            if self.start_error is not None:
                raise self.start_error
            raise GraphileWorkerError(f"the worker stopped while starting (status {status})")

    async def stop(self, grace: float | None = None) -> None:
        """Stop gracefully and wait until stopped: no more claims, unstarted jobs are returned,
        running jobs get ``grace`` seconds (default: ``shutdown_timeout``) to finish and are
        then failed (to be retried). ``grace=0`` fails running jobs at once. Safe to call more
        than once, and before the worker started (then it never runs)."""
        if grace is not None:
            if not grace >= 0:
                raise ValueError(f"grace must be >= 0 seconds, got {grace!r}")
            self._grace = grace
        if self.state == "new" and self._run_task is None:
            self.state = "stopped"
            self.status = 0
            self._done_event.set()
            return
        if self._loop is not None:
            self.request_shutdown(force=grace == 0)
        else:
            self._stop_early = True  # run() was scheduled but has not begun yet
        if self._run_task is not None:
            await asyncio.gather(asyncio.shield(self._run_task), return_exceptions=True)
            if not self._run_task.cancelled() and self._run_task.exception() is not None:
                raise self._run_task.exception()  # type: ignore[misc]
        else:
            await self._done_event.wait()

    async def wait_stopped(self) -> int:
        """Wait until the worker has stopped (by :meth:`stop`, ``request_shutdown``, or the end
        of a ``once`` run); the exit status."""
        await self._done_event.wait()
        return self.status if self.status is not None else 0

    async def __aenter__(self) -> Worker:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def health(self, *, stall_after: float = 10.0) -> WorkerHealth:
        """Liveness and readiness (thread-safe enough to call from another thread, e.g. a
        health HTTP server): alive when the worker runs and its event loop ticked within
        ``stall_after`` seconds; ready when alive, not stopping, and its database connections
        work."""
        from ._health import worker_health

        return worker_health(self, stall_after=stall_after)

    @property
    def shutdown_grace(self) -> float:
        """Seconds running jobs get at shutdown: ``stop(grace=...)`` or ``shutdown_timeout``."""
        return self._grace if self._grace is not None else self.settings.shutdown_timeout

    # -- public ------------------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the worker is not running")
        return self._loop

    def request_shutdown(self, *, force: bool = False) -> None:
        """Stop claiming, return unstarted jobs, let running jobs finish within the shutdown
        timeout, fail the rest. Called again (or with ``force``), fail running jobs now."""
        if self._loop is None:
            return
        if self._stopping and not force:
            force = True
        if force:
            self._final_deadline = time.monotonic() + 5.0
            if not self._forced:
                log.warning(
                    "forceful shutdown: failing %d running job(s) now", len(self._running),
                    extra={"worker_id": self.worker_id},
                )
            self._forced = True
        if not self._stopping:
            log.info(
                "shutting down: no more claims; waiting up to %g s for %d running job(s)",
                self.shutdown_grace, len(self._running),
                extra={"worker_id": self.worker_id},
            )
        self._begin_stop("the worker is shutting down")
        if force:
            self._force_event.set()

    def run_from_thread(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the worker's loop from a handler thread and wait for it."""
        loop = self.loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            coro.close()
            raise RuntimeError(
                "ctx.add_job_sync()/add_jobs_sync() are for sync handlers; "
                "in an async handler use `await ctx.add_job(...)`"
            )
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    async def run(self) -> int:
        """Run until shut down (or, with ``once``, until nothing is runnable); returns the
        exit status (0 clean, 1 failure: see the class docstring)."""
        if self.state != "new":
            if self.state == "stopped" and self._loop is None:
                return 0  # stop() came before the worker ever ran
            raise RuntimeError("this worker already ran; a worker runs once: make a new one")
        self.state = "starting"
        status = 1
        try:
            status = await self._run()
            return status
        finally:
            self.status = status
            self.state = "stopped"
            if self._started_event.is_set():
                self.hooks.emit("on_worker_stopped", WorkerStopped(self.worker_id, status))
            await self.hooks.drain()
            self._done_event.set()

    def _make_channel(self, name: str, **kwargs: Any) -> Channel | PoolChannel:
        """A connection of the worker: its own (reopened when lost), or borrowed from the
        caller's pool for each operation."""
        if self._pool is not None:
            stopped = kwargs.get("stopped", lambda: False)
            return PoolChannel(name, self._pool, worker_id=self.worker_id, stopped=stopped)
        s = self.settings
        kwargs.setdefault("prepare", s.prepared_statements)
        return Channel(name, s.connection, worker_id=self.worker_id, **kwargs)

    async def _ticker(self) -> None:
        """Proves the loop is alive to :meth:`health` (a blocked loop stops ticking)."""
        while True:
            self._last_tick = time.monotonic()
            await asyncio.sleep(0.5)

    def _mark_started(self) -> None:
        self.state = "stopping" if self._stopping else "running"
        self._started_event.set()
        self.hooks.emit(
            "on_worker_started",
            WorkerStarted(self.worker_id, tuple(self._task_names), self.settings.concurrency),
        )

    async def _run(self) -> int:
        self._loop = asyncio.get_running_loop()
        self._last_tick = time.monotonic()
        s = self.settings
        self._helper_lock = asyncio.Lock()
        if any(not spec.is_async for spec in self.tasks.values()):
            self._threads = HandlerThreads("gw-job")
        self._claim = self._make_channel(
            "claim", async_commit=not s.durable_claims, stopped=lambda: self._stopping,
        )
        self._report = self._make_channel(
            "report", stopped=lambda: self._stopping and time.monotonic() > self._final_deadline,
        )
        if self._stop_early:
            self._begin_stop("the worker is shutting down")
        extra = {"worker_id": self.worker_id}
        log.info(
            "worker %s starting: %d task(s) [%s], concurrency %d, batch %d, poll %g s, %s%s",
            self.worker_id, len(self.tasks), ", ".join(self._task_names), s.concurrency,
            self._batch_size, s.poll_interval,
            "LISTEN on" if s.listen and not s.once else "polling only",
            ", once" if s.once else "", extra=extra,
        )
        background: list[asyncio.Task[Any]] = []
        try:
            try:
                if self._pool is None:
                    # the claim connection opens while the crontab is checked and the worker
                    # registers for crash recovery (on the report connection)
                    connecting = asyncio.ensure_future(self._claim.connect())
                    try:
                        prepared = await self._prepare_services()
                    except BaseException:
                        connecting.cancel()
                        await asyncio.gather(connecting, return_exceptions=True)
                        raise
                    await connecting
                else:
                    await self._claim.connect()  # checks the caller's pool is open
                    prepared = await self._prepare_services()
                if not prepared:
                    return 2
                await self._reset_locked()
                first = await self._claim.run(self._get_jobs_op(self._batch_size))
            except DatabaseError as e:
                if self._stopping:
                    return self._status
                self.start_error = e
                hint = ""
                if isinstance(e, ExtensionMissing):
                    hint = (
                        "; is the extension installed in this database? "
                        "Run: CREATE EXTENSION graphile_worker"
                    )
                log.error("cannot start: %s%s", e, hint, extra=extra)
                return 1
            if self._stopping:
                await self._return_jobs([j.id for j in first], reason="shutdown")
                return self._status
            self._start_services()
            self._reporter = asyncio.create_task(self._report_loop(), name="gw-reporter")
            self._slots = [
                asyncio.create_task(self._slot(), name=f"gw-slot-{i}")
                for i in range(s.concurrency)
            ]
            self._dispatch(first, time.monotonic())
            self._fetcher = asyncio.create_task(
                self._fetch_loop(more=len(first) >= self._batch_size), name="gw-fetcher"
            )
            background.append(asyncio.create_task(self._housekeeping(), name="gw-housekeeping"))
            if s.listen and not s.once:
                background.append(asyncio.create_task(self._listen_loop(), name="gw-listener"))
            background.append(asyncio.create_task(self._ticker(), name="gw-ticker"))
            self._mark_started()
            await self._stopped_event.wait()
            if self._shutdown_task is not None:
                await self._shutdown_task
            return self._status
        finally:
            for t in background:
                t.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await self._stop_services()
            await self._claim.close()
            await self._report.close()
            if self._helper_conn is not None:
                await self._helper_conn.close()
            if self._threads is not None:
                self._threads.close()
            log.info("worker %s stopped", self.worker_id, extra=extra)

    @property
    def threads_busy(self) -> bool:
        """True when sync handlers (abandoned at a timeout or at shutdown) still run in their
        threads."""
        return self._threads is not None and self._threads.busy

    # -- cron and crash recovery (_cron, _recovery) ---------------------------------------------

    async def _prepare_services(self) -> bool:
        """Before the first claim: check the crontab (not with ``once``) and register for
        crash recovery. False when the crontab is unusable (exit status 2, logged); database
        errors are raised."""
        s = self.settings
        if not s.once and s.crontab:
            self._cron = CronScheduler(
                s.crontab, worker_id=self.worker_id, channel=lambda: self._report,
                task_names=self._task_names,
            )
            error = await self._cron.prepare_checked()
            if error is not None:
                self.start_error = error
                return False
        if s.recovery:
            self._recovery = Recovery(
                self.worker_id, s, beat_channel=lambda: self._claim,
                control_channel=lambda: self._report, on_swept=self._on_swept,
                on_recovered=self.hooks.emit_jobs_recovered,
                info={"concurrency": s.concurrency, "tasks": self._task_names},
            )
            if not await self._recovery.register():
                self._recovery = None
        return True

    def _start_services(self) -> None:
        if self._cron is not None:
            self._cron.start()
        if self._recovery is not None:
            self._recovery.start()

    async def _stop_services(self) -> None:
        """Stop cron and the heartbeats; deregister only when every job this worker claimed
        was returned or reported (otherwise the sweep must release them)."""
        if self._cron is not None:
            await self._cron.stop()
        if self._recovery is not None:
            clean = self._status == 0 and self._stopped_event.is_set()
            await self._recovery.stop(clean=clean, deadline=time.monotonic() + 5.0)

    async def _on_swept(self) -> None:
        """This worker was declared lost and its jobs released: give back the claimed jobs
        it has not started (those still locked by it are unlocked; the others may be someone
        else's now, and are left alone)."""
        unstarted = [job.id for _, job in self._queue]
        self._queue.clear()
        await self._return_jobs(unstarted, reason="this worker was declared lost")
        self._demand.set()

    # -- claiming ----------------------------------------------------------------------------

    def _claim_op(
        self, size: int
    ) -> Callable[[psycopg.AsyncConnection[Any]], Awaitable[psycopg.AsyncCursor[Any]]]:
        """``get_jobs`` for up to ``size`` jobs; the cursor holds the claimed rows (committed:
        the connection is in autocommit), to be read with ``_claimed_jobs``."""
        params = (self.worker_id, self._task_names, size, self._forbidden)
        attempts = 0

        async def op(conn: psycopg.AsyncConnection[Any]) -> psycopg.AsyncCursor[Any]:
            nonlocal attempts
            attempts += 1
            if attempts > 1:  # retried after a lost connection or a transient error
                self._claim_unsure = True
            cur = claim_cursor(conn)
            await cur.execute(_sql.GET_JOBS, params)
            return cur

        return op

    def _get_jobs_op(
        self, size: int
    ) -> Callable[[psycopg.AsyncConnection[Any]], Awaitable[list[Job]]]:
        claim = self._claim_op(size)

        async def op(conn: psycopg.AsyncConnection[Any]) -> list[Job]:
            return await _claimed_jobs(await claim(conn))

        return op

    def _send_claim(self, size: int) -> asyncio.Future[psycopg.AsyncCursor[Any]]:
        return asyncio.ensure_future(self._claim.run(self._claim_op(size)))

    async def _give_back(self, claim: asyncio.Future[psycopg.AsyncCursor[Any]]) -> None:
        """A claim sent ahead whose jobs will not run (the worker stops): return them."""
        try:
            cur = await claim
        except DatabaseError:
            return  # the claim failed: nothing was claimed
        jobs = await _claimed_jobs(cur)
        await self._return_jobs([j.id for j in jobs], reason="shutdown")

    def _fetch_demand(self) -> int:
        queued = len(self._queue)
        if queued >= self._low_water:
            return 0
        # A full batch where the local queue has room for it (at most 1.5 batches queued), not
        # just the gap to one batch: about half as many claims (transactions) per job, and the
        # next claim is in flight while half a batch is still queued.
        return min(self._batch_size, self._queue_cap - queued)

    def _dispatch(self, jobs: list[Job], claimed_at: float) -> None:
        waiters = self._waiters
        queue = self._queue
        held = self._held
        for job in jobs:
            held.add(job.id)
            while waiters:
                fut = waiters.popleft()
                if not fut.done():
                    fut.set_result(job)
                    self._handoffs += 1  # handed to an idle slot, not started yet
                    break
            else:
                queue.append((claimed_at, job))

    async def _fetch_loop(self, more: bool) -> None:
        """Claim whenever the local queue runs low; when the last claim got less than it
        asked for, sleep until a pulse (NOTIFY, reported outcomes), the next due job, or the
        poll interval. ``more``: the previous claim was full, so more may be runnable.

        When claims cannot keep up (a full claim comes back to a local queue already below
        its low-water mark), the next claim is sent before this one's rows are read: the
        server claims while the runner reads and starts the previous batch. The local queue
        then holds at most two batches."""
        s = self.settings
        logged_error = False
        ahead: asyncio.Future[psycopg.AsyncCursor[Any]] | None = None  # a claim sent early
        ahead_want = 0
        try:
            while not self._stopping:
                if ahead is not None:
                    claim, want, ahead = ahead, ahead_want, None
                else:
                    if not more and not self._pulse.is_set():
                        if s.once:
                            if self._is_idle():
                                self._finish_once()
                                return
                            await self._pulse.wait()  # outcomes reported (or stop)
                        else:
                            delay = await self._idle_delay()
                            if log.isEnabledFor(logging.DEBUG):
                                log.debug(
                                    "idle: nothing runnable; next claim in %.3f s unless woken",
                                    delay, extra={"worker_id": self.worker_id},
                                )
                            if not await _wait_event(self._pulse, delay):
                                self._due_stale = True  # a blind poll: ask for the due time
                        more = True
                        continue
                    self._demand.clear()
                    want = self._fetch_demand()
                    if want <= 0:
                        await self._demand.wait()
                        continue
                    if self._claim_unsure:
                        await self._return_unheld()
                    self._pulse.clear()
                    claim = self._send_claim(want)
                try:
                    cur = await claim
                except DatabaseError as e:
                    if self._stopping:
                        return
                    if not logged_error:
                        log.error("claiming jobs failed: %s", e,
                                  extra={"worker_id": self.worker_id})
                        logged_error = True
                    await _wait_event(self._pulse, s.poll_interval)
                    more = True
                    continue
                logged_error = False
                got = cur.rowcount
                more = got >= want
                queued = len(self._queue)
                if more and not self._stopping and queued < self._low_water:
                    ahead_want = min(self._batch_size, 2 * self._batch_size - queued - got)
                    if ahead_want > 0:
                        if log.isEnabledFor(logging.DEBUG):
                            log.debug("claims are behind: claiming %d more before reading %d",
                                      ahead_want, got, extra={"worker_id": self.worker_id})
                        self._pulse.clear()
                        ahead = self._send_claim(ahead_want)
                        await asyncio.sleep(0)  # the claim goes out before the rows are read
                jobs = await _claimed_jobs(cur)
                if self._stopping:
                    await self._return_jobs([j.id for j in jobs], reason="shutdown")
                    return
                self._dispatch(jobs, time.monotonic())
        except asyncio.CancelledError:
            if ahead is not None:
                ahead.cancel()  # stuck: its jobs (if any) are left to the stale-lock sweeps
                ahead = None
            raise
        finally:
            if ahead is not None:
                await self._give_back(ahead)

    async def _idle_delay(self) -> float:
        """Seconds to sleep when nothing is runnable: until the next job is due, at most
        the poll interval."""
        s = self.settings
        loop = self.loop
        if self._due_stale:
            self._due_stale = False
            try:
                due_at, db_now = await self._claim.run(self._next_due_op)
            except DatabaseError as e:
                log.warning("next_job_due_at failed: %s", e, extra={"worker_id": self.worker_id})
                due_at = None
                db_now = None
            if due_at is not None and db_now is not None:
                seconds = (due_at - db_now).total_seconds()
                # a few ms late rather than early: the job must be due when we claim
                self._due_at = loop.time() + max(0.0, seconds) + 0.002
            else:
                self._due_at = None
        delay = s.poll_interval
        if self._due_at is not None:
            until_due = self._due_at - loop.time()
            if until_due <= delay:
                self._due_stale = True  # after this one, ask again
                delay = max(0.0, until_due)
        return delay

    async def _next_due_op(
        self, conn: psycopg.AsyncConnection[Any]
    ) -> tuple[datetime | None, datetime | None]:
        cur = await conn.execute(_sql.NEXT_JOB_DUE_AT, (self._task_names, self._forbidden))
        row = await cur.fetchone()
        return (row[0], row[1]) if row else (None, None)

    def _is_idle(self) -> bool:
        return (
            not self._queue
            and not self._handoffs
            and not self._running
            and not self._completed
            and not self._failures
            and not self._reporting
        )

    def _finish_once(self) -> None:
        log.info("nothing runnable left (--once): stopping", extra={"worker_id": self.worker_id})
        self._finished_once = True
        self._begin_stop("the worker finished (--once)")

    async def _return_unheld(self) -> None:
        """A claim was retried on a new connection, so its first attempt may have committed
        with its rows lost on the way: jobs locked by this worker that it does not hold would
        stay locked until reset_locked's 4-hour rule (the worker is alive, so no stale-worker
        sweep frees them). Give back every job locked by this worker except those it holds.
        Runs in the fetch loop, before a new claim: no claim of this worker is in flight."""
        self._claim_unsure = False
        if not self._can_return_unheld:
            return
        held = sorted(self._held)

        async def op(conn: psycopg.AsyncConnection[Any]) -> int:
            cur = await conn.execute(_sql.RETURN_UNHELD_JOBS, (self.worker_id, held))
            row = await cur.fetchone()
            return int(row[0]) if row and row[0] is not None else 0

        try:
            count = await self._claim.run(op)
        except DatabaseError as e:
            if e.sqlstate in ("42501", "42883"):
                log.warning(
                    "cannot call graphile_worker.return_unheld_jobs (%s): jobs of a claim whose "
                    "result was lost stay locked until reset_locked frees them; grant the "
                    "runner level again (grant_role) after upgrading the extension", e,
                    extra={"worker_id": self.worker_id},
                )
                self._can_return_unheld = False
                return
            log.warning("return_unheld_jobs failed (%s); trying again before the next claim",
                        e, extra={"worker_id": self.worker_id})
            self._claim_unsure = True
            return
        if count:
            log.warning(
                "a claim's result was lost with its connection: returned the %d job(s) it had "
                "locked to the queue", count, extra={"worker_id": self.worker_id},
            )

    async def _return_jobs(self, ids: list[int], *, reason: str) -> None:
        if not ids:
            return
        async def op(conn: psycopg.AsyncConnection[Any]) -> int:
            cur = await conn.execute(_sql.RETURN_JOBS, (self.worker_id, ids))
            row = await cur.fetchone()
            return int(row[0]) if row and row[0] is not None else 0

        try:
            count = await self._report.run(
                op, deadline=self._final_deadline if self._stopping else None
            )
        except DatabaseError as e:
            log.error(
                "could not return %d claimed job(s) (%s): %s; they stay locked by %s until the "
                "stale-lock sweep frees them",
                len(ids), reason, e, self.worker_id, extra={"worker_id": self.worker_id},
            )
            self._status = 1
            return
        self._held.difference_update(ids)
        log.info(
            "returned %d unstarted job(s) to the queue (%s)", count, reason,
            extra={"worker_id": self.worker_id},
        )
        if self.hooks:
            self.hooks.emit(
                "on_jobs_returned", JobsReturned(self.worker_id, tuple(ids), count, reason)
            )

    # -- running jobs ------------------------------------------------------------------------

    async def _slot(self) -> None:
        queue = self._queue
        streak = 0  # jobs run since this slot last gave the event loop a turn
        while True:
            if self._stopping:
                return
            if queue:
                _, job = queue.popleft()
                if len(queue) < self._low_water:
                    self._demand.set()
            else:
                fut: asyncio.Future[Job | None] = self.loop.create_future()
                self._waiters.append(fut)
                self._demand.set()
                got = await fut
                if got is None:
                    return
                self._handoffs -= 1
                job = got
            if self._recovery is not None and not self._recovery.holds_jobs():
                # so long since the last heartbeat that a sweep may have released this job
                # (the process was paused?): start it only once a heartbeat says we still
                # hold our jobs; otherwise give it back (untouched if someone else holds it)
                self._handoffs += 1  # not idle meanwhile
                try:
                    still_ours = await self._recovery.confirm()
                finally:
                    self._handoffs -= 1
                if not still_ours:
                    await self._return_jobs([job.id], reason="this worker was declared lost")
                    continue
            await self._run_job(job)
            streak += 1
            if streak >= _YIELD_EVERY:
                # A handler that never suspends (no await inside) would let this slot run the
                # whole local queue without the loop reading a claim or report result: give
                # the loop a turn every few jobs, so the next claim is sent in time.
                streak = 0
                await asyncio.sleep(0)

    async def _run_job(self, job: Job) -> None:
        spec = self.tasks[job.task_identifier]
        ctx = JobContext(job, self)
        self._running[job.id] = ctx
        debug = log.isEnabledFor(logging.DEBUG)
        hooks = self.hooks
        started = time.perf_counter() if debug or hooks else 0.0
        if hooks:
            self._job_started[job.id] = started
            hooks.emit("on_job_started", JobStarted(self.worker_id, job))
        result: Any = None
        try:
            payload = job.payload
            if spec.convert is not None:
                payload = spec.convert(payload)
            result = await self._call_handler(spec, job, ctx, payload)
            if result is not None and type(result) is list and type(job.payload) is list:
                failed = await self._batch_failures(job, result)
                if failed is not None:
                    if self._running.pop(job.id, None) is not None:
                        message, replacement = failed
                        self._add_failure(job, message, None, payload=replacement)
                    return
        except asyncio.CancelledError:
            if self._running.pop(job.id, None) is not None:
                self._add_failure(job, "the job was cancelled (forceful shutdown)", None)
            raise
        except PayloadError as e:
            if self._running.pop(job.id, None) is not None:
                self._add_failure(job, f"invalid payload: {e}", e, permanent=True)
            return
        except Exception as e:
            if self._running.pop(job.id, None) is not None:
                if isinstance(e, RetryLater):
                    self._add_failure(job, error_message(e), e, retry_delay=e.delay)
                else:
                    self._add_failure(
                        job, error_message(e), e, permanent=isinstance(e, PermanentFailure)
                    )
            return
        if self._running.pop(job.id, None) is None:
            return  # failed by the shutdown meanwhile
        self._completed.append(job.id)
        if hooks:
            self._job_started.pop(job.id, None)
            self._done_info[job.id] = (job, time.perf_counter() - started)
        self._note_outcome()
        if debug:
            log.debug(
                "job %d (%s) completed in %.1f ms", job.id, job.task_identifier,
                (time.perf_counter() - started) * 1000,
                extra={"job_id": job.id, "task": job.task_identifier,
                       "worker_id": self.worker_id},
            )

    async def _call_handler(self, spec: TaskSpec, job: Job, ctx: JobContext, payload: Any) -> Any:
        """Call the handler within the job's time limit (``_threads.job_time_limit``): an
        async handler past it is cancelled; a sync handler's thread is abandoned (it runs on
        until the handler returns; the slot gets a new thread). Either way the attempt fails
        with ``TimeoutError: task '...' timed out after N s``."""
        limit, source = job_time_limit(job.flags, spec.timeout, self.settings.job_timeout)
        args = (payload, ctx) if spec.wants_ctx else (payload,)
        if spec.is_async:
            if limit is None:
                return await spec.fn(*args)
            timer = asyncio.timeout(limit)
            try:
                async with timer:
                    return await spec.fn(*args)
            except TimeoutError:
                if not timer.expired():
                    raise  # the handler's own TimeoutError
                ctx._set_abort("timeout")
                raise TimeoutError(_timeout_message(spec.identifier, limit, source)) from None
        threads = self._threads
        assert threads is not None
        call = threads.submit(spec.fn, *args)
        fut = asyncio.wrap_future(call.future)
        try:
            done, _ = await asyncio.wait({fut}, timeout=limit)
        except asyncio.CancelledError:
            threads.abandon(call)  # forceful shutdown: the thread runs on, nobody waits
            raise
        if not done:
            ctx._set_abort("timeout")
            still = threads.abandon(call)
            log.warning(
                "job %d (%s): the sync handler ran past its %g s time limit; the job is failed "
                "and its thread abandoned: it runs on until the handler returns (%d abandoned "
                "thread(s) still running; check ctx.abort_signal in long sync handlers)",
                job.id, spec.identifier, limit, still,
                extra={"job_id": job.id, "task": spec.identifier, "worker_id": self.worker_id},
            )
            raise TimeoutError(
                _timeout_message(spec.identifier, limit or 0.0, source)
                + "; its thread was abandoned"
            )
        result = fut.result()
        if result is not None and inspect.isawaitable(result):
            result = await result
        return result

    async def _batch_failures(
        self, job: Job, result: list[Any]
    ) -> tuple[str, list[Any]] | None:
        """For a batch job (array payload) whose handler returned a list: the failure
        message and the payload of only the failed entries, or None if all succeeded."""
        payload: list[Any] = job.payload
        if len(result) != len(payload):
            log.warning(
                "job %d (%s): the handler returned a list of %d items for a batch of %d; "
                "treated as success",
                job.id, job.task_identifier, len(result), len(payload),
                extra={"job_id": job.id, "task": job.task_identifier,
                       "worker_id": self.worker_id},
            )
            return None
        if any(inspect.isawaitable(r) for r in result):
            result = await asyncio.gather(
                *(_as_awaitable(r) for r in result), return_exceptions=True
            )
        failed = [i for i, r in enumerate(result) if isinstance(r, BaseException)]
        if not failed:
            return None
        lines = [f"- [{i}] {error_message(result[i])}" for i in failed]
        message = f"Batch failures ({len(failed)} of {len(payload)}):\n" + "\n".join(lines)
        return message, [payload[i] for i in failed]

    # -- reporting ---------------------------------------------------------------------------

    def _add_failure(
        self,
        job: Job,
        message: str,
        exc: BaseException | None,
        *,
        permanent: bool = False,
        retry_delay: float | None = None,
        payload: Any = None,
    ) -> None:
        entry: dict[str, Any] = {"id": job.id, "message": message}
        if permanent:
            entry["permanent"] = True
        if retry_delay is not None:
            entry["retry_delay"] = retry_delay
        if payload is not None:
            entry["payload"] = payload
        self._failures.append(entry)
        outcome = self._failed_info[job.id] = _Outcome(job, message, exc)
        started = self._job_started.pop(job.id, None)
        if started is not None and (exc is not None or payload is not None):
            outcome.duration = time.perf_counter() - started
        self._note_outcome()

    def _note_outcome(self) -> None:
        n = len(self._completed) + len(self._failures)
        if n == 1 or n >= self._report_threshold or self._nothing_running():
            self._report_wake.set()

    def _nothing_running(self) -> bool:
        return not self._running and not self._queue and not self._handoffs

    def _report_now(self) -> bool:
        n = len(self._completed) + len(self._failures)
        return (
            n >= self._report_threshold
            or self._stopping
            or self._nothing_running()
        )

    async def _report_loop(self) -> None:
        loop = self.loop
        delay = self.settings.report_delay
        while True:
            await self._report_wake.wait()
            self._report_wake.clear()
            if not self._completed and not self._failures:
                if self._stopping and not self._running:
                    return
                continue
            if not self._report_now() and delay > 0:
                deadline = loop.time() + delay
                while not self._report_now():
                    remaining = deadline - loop.time()
                    if remaining <= 0 or not await _wait_event(self._report_wake, remaining):
                        break
                    self._report_wake.clear()
            await self._flush()
            self._report_wake.set()  # look again: more may have come in meanwhile

    async def _flush(self) -> None:
        completed, self._completed = self._completed, []
        failures, self._failures = self._failures, []
        if not completed and not failures:
            return
        self._reporting = True
        try:
            rows, retried = await self._send_report(completed, failures)
        finally:
            self._reporting = False
        held = self._held
        held.difference_update(completed)
        held.difference_update(f["id"] for f in failures)
        if self.hooks:
            self._emit_outcomes(rows)
        self._log_outcomes(rows, retried=retried)
        self._pulse.set()  # queues may be free again, retries may be due now

    def _emit_outcomes(self, rows: list[tuple[Any, ...]]) -> None:
        """Fire the job outcome hooks for the rows of ``report_jobs`` (before the failure
        log pops ``_failed_info``). A ``lost`` outcome fires nothing."""
        hooks, wid, done, info = self.hooks, self.worker_id, self._done_info, self._failed_info
        for job_id, outcome, _attempts, _max_attempts, run_at in rows:
            if outcome == "completed":
                entry = done.pop(job_id, None)
                if entry is not None:
                    hooks.emit("on_job_succeeded", JobSucceeded(wid, entry[0], entry[1]))
                continue
            done.pop(job_id, None)
            failed = info.get(job_id)
            if failed is None or outcome not in ("failed", "permanently_failed"):
                continue
            retry = outcome == "failed"
            hooks.emit("on_job_failed", JobFailed(
                wid, failed.job, failed.exc, failed.message, retry, run_at if retry else None,
                failed.duration,
            ))
            if not retry:
                hooks.emit("on_job_permanently_failed", JobPermanentlyFailed(
                    wid, failed.job, failed.exc, failed.message
                ))

    async def _send_report(
        self, completed: list[int], failures: list[dict[str, Any]]
    ) -> tuple[list[tuple[Any, ...]], bool]:
        """One ``report_jobs`` call, retried until it succeeds (a lost connection is retried
        by the channel). A batch the database keeps refusing is split in halves to isolate
        the entry at fault, which is then dropped with an error in the log."""
        calls = 0
        failures_json = json.dumps(failures, separators=(",", ":")) if failures else None
        params = (self.worker_id, completed or None, failures_json)

        async def op(conn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            nonlocal calls
            calls += 1
            cur = await conn.execute(_sql.REPORT_JOBS, params)
            return await cur.fetchall()

        attempt = 0
        while True:
            try:
                rows = await self._report.run(
                    op, deadline=self._final_deadline if self._stopping else None
                )
                return rows, calls > 1
            except DatabaseError as e:
                n = len(completed) + len(failures)
                if self._stopping:
                    ids = completed + [f["id"] for f in failures]
                    log.error(
                        "could not report the outcomes of %d job(s) at shutdown (%s); they stay "
                        "locked by %s until the stale-lock sweep frees them: %s",
                        n, e, self.worker_id, ids[:50], extra={"worker_id": self.worker_id},
                    )
                    self._status = 1
                    for f in failures:
                        self._failed_info.pop(f["id"], None)
                    return [], False
                attempt += 1
                if attempt >= 3 and n > 1:
                    half_c, half_f = len(completed) // 2, len(failures) // 2
                    rows_a, r_a = await self._send_report(completed[:half_c], failures[:half_f])
                    rows_b, r_b = await self._send_report(completed[half_c:], failures[half_f:])
                    return rows_a + rows_b, r_a or r_b
                if attempt >= 3:
                    log.error(
                        "the database refuses the outcome of job %s (%s); dropped: the job stays "
                        "locked by %s until the stale-lock sweep frees it",
                        (completed or [f["id"] for f in failures])[0], e, self.worker_id,
                        extra={"worker_id": self.worker_id},
                    )
                    for f in failures:
                        self._failed_info.pop(f["id"], None)
                    return [], False
                wait = backoff_delay(attempt)
                log.error(
                    "reporting %d outcome(s) failed (%s); retrying in %.1f s", n, e, wait,
                    extra={"worker_id": self.worker_id},
                )
                await asyncio.sleep(wait)

    def _log_outcomes(self, rows: list[tuple[Any, ...]], *, retried: bool) -> None:
        """Log failures once the database has recorded them (with the retry time); a
        traceback comes with the first failed attempt, a permanent failure, or at DEBUG."""
        info = self._failed_info
        debug = log.isEnabledFor(logging.DEBUG)
        for job_id, outcome, attempts, max_attempts, run_at in rows:
            if outcome == "completed":
                continue
            failed = info.pop(job_id, None)
            task = failed.job.task_identifier if failed else "?"
            extra = {"job_id": job_id, "task": task, "worker_id": self.worker_id}
            if outcome == "failed":
                self._due_stale = True
                log.warning(
                    "job %d (%s) attempt %d of %d failed: %s; retry at %s",
                    job_id, task, attempts, max_attempts,
                    failed.message if failed else "?", _fmt_time(run_at),
                    exc_info=_exc_info(failed) if attempts == 1 or debug else None,
                    extra=extra,
                )
            elif outcome == "permanently_failed":
                tried = failed.job.attempts if failed else attempts
                log.error(
                    "job %d (%s) failed permanently (attempt %d of %d): %s",
                    job_id, task, tried, failed.job.max_attempts if failed else max_attempts,
                    failed.message if failed else "?",
                    exc_info=_exc_info(failed), extra=extra,
                )
            elif outcome == "lost":
                if retried:
                    log.info(
                        "job %d (%s): outcome already recorded before the connection was "
                        "lost (or the job was unlocked meanwhile)", job_id, task, extra=extra,
                    )
                else:
                    log.warning(
                        "job %d (%s): outcome NOT recorded: the job is no longer locked by %s "
                        "(its lock was swept, or it was unlocked or completed elsewhere); it "
                        "may run again",
                        job_id, task, self.worker_id, extra=extra,
                    )
                    if self._recovery is not None:
                        self._recovery.check_soon()  # was this worker declared lost?

    # -- wake-ups ------------------------------------------------------------------------------

    def _on_notify(self, payload: str) -> None:
        if '"count":-' in payload:
            return  # a removal
        self._due_stale = True
        self._pulse.set()

    async def _listen_loop(self) -> None:
        s = self.settings
        conninfo = s.connection
        kwargs = connect_kwargs(
            conninfo, application_name="gw_runner listen", prepare=s.prepared_statements
        )
        if self._pool is not None:
            # never a pooled connection: LISTEN needs a session of its own
            conninfo, pool_kwargs = await pool_conninfo(self._pool)
            kwargs = {**pool_kwargs, **connect_kwargs(
                conninfo, application_name="gw_runner listen", prepare=s.prepared_statements
            )}
        failures = 0
        extra = {"worker_id": self.worker_id}
        while not self._stopping:
            conn: psycopg.AsyncConnection[Any] | None = None
            try:
                conn = await psycopg.AsyncConnection.connect(conninfo, **kwargs)
                await conn.execute(_sql.LISTEN)
                self._listening = True
                log.debug("listening on jobs:insert", extra=extra)
                if failures:
                    log.warning("LISTEN restored after %d failed attempt(s)", failures,
                                extra=extra)
                failures = 0
                self._on_notify("")  # jobs may have been added while we were not listening
                async for notify in conn.notifies():
                    self._on_notify(notify.payload)
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError) as e:
                self._listening = False
                if self._stopping:
                    return
                failures += 1
                delay = backoff_delay(failures)
                state = getattr(e, "sqlstate", None)
                if state in FATAL_CONNECT_STATES:
                    delay = max(delay, s.poll_interval)
                log.warning(
                    "LISTEN connection %s (%s); polling every %g s meanwhile; retrying in "
                    "%.1f s (attempt %d)",
                    "lost" if is_connection_error(e, conn) else "failed",
                    str(e).strip().split("\n", 1)[0] or type(e).__name__,
                    s.poll_interval, delay, failures, extra=extra,
                )
                await asyncio.sleep(delay)
            finally:
                self._listening = False
                if conn is not None:
                    try:
                        await conn.close()
                    except Exception:
                        pass

    async def _housekeeping(self) -> None:
        s = self.settings
        ttl = s.local_queue_ttl
        tick = max(0.05, min(ttl / 4, 5.0))
        low, high = s.reset_locked_interval
        next_reset = time.monotonic() + random.uniform(low, high)
        while not self._stopping:
            await asyncio.sleep(tick)
            now = time.monotonic()
            queue = self._queue
            if queue and queue[0][0] <= now - ttl:
                expired: list[int] = []
                while queue and queue[0][0] <= now - ttl:
                    expired.append(queue.popleft()[1].id)
                await self._return_jobs(expired, reason=f"not started within {ttl:g} s")
                self._demand.set()
            if now >= next_reset:
                next_reset = now + random.uniform(low, high)
                await self._reset_locked()

    async def _reset_locked(self) -> None:
        if not self._can_reset_locked:
            return

        async def op(conn: psycopg.AsyncConnection[Any]) -> int:
            cur = await conn.execute(_sql.RESET_LOCKED)
            row = await cur.fetchone()
            return int(row[0]) if row and row[0] is not None else 0

        try:
            count = await self._claim.run(op)
        except DatabaseError as e:
            if e.sqlstate == "42501":
                log.warning(
                    "not allowed to run graphile_worker.reset_locked (%s); the stale-lock sweep "
                    "is left to another role", e, extra={"worker_id": self.worker_id},
                )
                self._can_reset_locked = False
                return
            if isinstance(e.__cause__, psycopg.Error) and e.sqlstate in ("42883", "3F000"):
                raise
            log.warning("reset_locked failed: %s", e, extra={"worker_id": self.worker_id})
            return
        if count:
            log.info(
                "reset_locked unlocked %d job(s) locked for more than 4 hours", count,
                extra={"worker_id": self.worker_id},
            )

    # -- shutdown ----------------------------------------------------------------------------

    def _begin_stop(self, reason: str) -> None:
        if self._stopping:
            return
        self._stopping = True
        if self.state in ("starting", "running"):
            self.state = "stopping"
        self.abort_reason = reason
        self._final_deadline = time.monotonic() + self.shutdown_grace + _FINAL_REPORT_GRACE
        if hasattr(self, "_claim"):
            self._claim.interrupt()
            self._report.interrupt()
        for ctx in list(self._running.values()):
            ctx._set_abort(reason)
        self._pulse.set()
        self._demand.set()
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
        self._shutdown_task = asyncio.ensure_future(self._shutdown())

    async def _shutdown(self) -> None:
        try:
            fetcher = getattr(self, "_fetcher", None)
            if fetcher is not None:
                # a claim in flight finishes (its jobs are returned); a reconnect loop does not
                await asyncio.wait([fetcher], timeout=5.0)
                if not fetcher.done():
                    fetcher.cancel()
                    # The claim may have committed without its rows reaching us: stay
                    # registered (exit status 1), so the stale-worker sweep frees what it
                    # locked, rather than deregistering as if every claim were accounted for.
                    log.error(
                        "a claim (or its due-time query) was still in flight after 5 s at "
                        "shutdown; cancelled. The "
                        "worker stays registered: the stale-worker sweep frees any jobs it "
                        "may have locked", extra={"worker_id": self.worker_id},
                    )
                    self._status = 1
                await asyncio.gather(fetcher, return_exceptions=True)
            unstarted = [job.id for _, job in self._queue]
            self._queue.clear()
            await self._return_jobs(unstarted, reason="shutdown")
            if self._claim_unsure:
                await self._return_unheld()
                if self._claim_unsure:  # it failed: stay registered, the sweep frees them
                    self._status = 1
            slots = [t for t in getattr(self, "_slots", []) if not t.done()]
            if slots:
                deadline = self.loop.time() + self.shutdown_grace
                force_wait = asyncio.ensure_future(self._force_event.wait())
                try:
                    while not self._forced:
                        pending = [t for t in slots if not t.done()]
                        remaining = deadline - self.loop.time()
                        if not pending or remaining <= 0:
                            break
                        await asyncio.wait(
                            [*pending, force_wait], timeout=remaining,
                            return_when=asyncio.FIRST_COMPLETED,
                        )
                finally:
                    force_wait.cancel()
            if self._running:
                why = (
                    "was stopped forcefully" if self._forced
                    else f"shut down (the job ran past the {self.shutdown_grace:g} s shutdown "
                    "timeout)"
                )
                message = (
                    f"the worker {self.worker_id} {why} before the job finished; it will be "
                    "retried"
                )
                for job_id, ctx in list(self._running.items()):
                    del self._running[job_id]
                    ctx._set_abort("the worker is shutting down")
                    self._add_failure(ctx.job, message, None)
                log.warning(
                    "failed %d job(s) still running at shutdown",
                    len([f for f in self._failures if f["message"] == message]),
                    extra={"worker_id": self.worker_id},
                )
            for t in slots:
                if not t.done():
                    t.cancel()
            if slots:
                await asyncio.gather(*slots, return_exceptions=True)
            reporter = getattr(self, "_reporter", None)
            if reporter is not None:
                self._report_wake.set()
                await asyncio.gather(reporter, return_exceptions=True)
                if self._completed or self._failures:
                    await self._flush()
        except Exception:
            log.exception("error during shutdown", extra={"worker_id": self.worker_id})
            self._status = 1
        finally:
            self._stopped_event.set()

    # -- ctx helpers -------------------------------------------------------------------------

    async def _helper_connection(self) -> psycopg.AsyncConnection[Any]:
        conn = self._helper_conn
        if conn is None or conn.closed or conn.broken:
            s = self.settings
            conn = self._helper_conn = await psycopg.AsyncConnection.connect(
                s.connection,
                **connect_kwargs(s.connection, application_name="gw_runner helpers",
                                 prepare=s.prepared_statements),
            )
        return conn

    async def helper_add_job(self, identifier: str, payload: Any = None, **options: Any) -> Job:
        if self._pool is not None:
            async with self._pool.connection() as conn:
                return await add_job_async(conn, identifier, payload, **options)
        assert self._helper_lock is not None
        async with self._helper_lock:
            conn = await self._helper_connection()
            return await add_job_async(conn, identifier, payload, **options)

    async def helper_add_jobs(
        self, specs: Iterable[JobSpec | Mapping[str, Any]], *, job_key_preserve_run_at: bool
    ) -> list[Job]:
        if self._pool is not None:
            async with self._pool.connection() as conn:
                return await add_jobs_async(
                    conn, specs, job_key_preserve_run_at=job_key_preserve_run_at
                )
        assert self._helper_lock is not None
        async with self._helper_lock:
            conn = await self._helper_connection()
            return await add_jobs_async(
                conn, specs, job_key_preserve_run_at=job_key_preserve_run_at
            )


async def _claimed_jobs(cur: psycopg.AsyncCursor[Any]) -> list[Job]:
    return [job_from_claim_row(r) for r in await cur.fetchall()]


async def _wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait for ``event`` at most ``timeout`` seconds; return whether it is set."""
    if event.is_set():
        return True
    if timeout <= 0:
        return False
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return event.is_set()
    return True


async def _as_awaitable(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


def _exc_info(outcome: _Outcome | None) -> Any:
    if outcome is None or outcome.exc is None or isinstance(outcome.exc, PayloadError):
        return None
    if isinstance(outcome.exc, PermanentFailure | RetryLater):
        return None
    exc = outcome.exc
    return (type(exc), exc, exc.__traceback__)


def _timeout_message(task: str, limit: float, source: str) -> str:
    where = {"flag": f" (the job's flag timeout:{limit:g})",
             "runner": " (the runner's job timeout)"}.get(source, "")
    return f"task {task!r} timed out after {limit:g} s{where}"


def _fmt_time(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")
    return str(value)
