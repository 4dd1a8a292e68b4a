"""The worker: one asyncio loop that wires the runner's stages together and runs them.

A job moves one way through three stages, carried in one record (``_record.JobRun``):

1. **claiming** (``_claiming``): the fetch loop claims batches with ``get_jobs`` into a
   local queue and gives unstarted jobs back;
2. **running** (``_running``): ``concurrency`` slots take jobs from that queue and call their
   handlers (async ones in the slot, sync ones on threads), within their time limits;
3. **reporting** (``_reporting``): outcomes go to the database in batches with
   ``report_jobs``; hooks fire and failures are logged once the database has recorded them.

Beside them: ``_wakeups`` (LISTEN, housekeeping, ``reset_locked``, pruning), ``_control``
(pauses, resumes, cancels), ``_recovery`` (registration, heartbeats, the stale-worker sweep)
and ``_cron`` (the crontab at every minute boundary). This module owns the lifecycle: start,
signals and shutdown, the exit status, and the public snapshot that health checks read.

Connections are reopened with capped exponential backoff and jitter whenever they are lost
(``_db.Channel``); outcomes that could not be reported are kept and sent again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

from ._api import WorkerOptions, resolve_connection, resolve_tasks
from ._claiming import Claimer
from ._control import ControlHandler
from ._cron import CronScheduler
from ._db import Channel, ChannelLike
from ._enqueue import HandlerEnqueuer
from ._hooks import HookDispatcher, WorkerHooks, WorkerStarted, WorkerStopped
from ._loader import TaskSpec
from ._pool import AsyncPool, PoolChannel
from ._recovery import Recovery
from ._reporting import Reporter
from ._running import ABANDON_AFTER, Slots
from ._settings import WorkerSettings, make_worker_id
from ._telemetry import Telemetry
from ._text import first_line
from ._wakeups import Housekeeping, Listener, Pruner
from .errors import DatabaseError, ExtensionMissing, GraphileWorkerError, WorkerOfAnotherRole

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

    from ._health import WorkerHealth, WorkerSnapshot

log = logging.getLogger("gw_runner.worker")

T = TypeVar("T")

#: Seconds the outcomes get to reach the database once the shutdown timeout has passed: the
#: documented bound of a shutdown is ``shutdown_timeout`` + this.
FINAL_REPORT_GRACE = 5.0
#: After a second signal (a forceful shutdown): seconds left to report the outcomes.
FORCED_STOP_GRACE = 3.0


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
    database refused the worker, outcomes could not be reported at shutdown, or an internal
    error stopped it); ``run_once()`` runs until nothing is runnable. ``async with worker:``
    starts it in the background (``start()``) and stops it on exit (``stop()``).
    ``request_shutdown()`` (from the loop's thread, e.g. a signal handler) starts a graceful
    shutdown without waiting; a second call, or ``force=True``, a forceful one. A worker runs
    once: make a new one to run again. See docs/api.md.
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
        settings, self._pool = resolve_connection(settings or WorkerSettings(), connection,
                                                  dict(options))
        self.settings = settings
        self.tasks: dict[str, TaskSpec] = resolve_tasks(tasks)
        self.worker_id = settings.worker_id or make_worker_id()
        if isinstance(hooks, WorkerHooks):
            hooks = [hooks]
        self._telemetry = Telemetry(settings, self.snapshot)
        self.hooks = HookDispatcher(hooks or (), self.worker_id)
        self._task_names = sorted(self.tasks)
        self._extra = {"worker_id": self.worker_id}
        # library API: lifecycle, health, hooks
        self.state = "new"  # new, starting, running, stopping, stopped
        self.status: int | None = None  # the exit status, once stopped
        self.start_error: BaseException | None = None
        self.abort_reason: str | None = None  # why running jobs are asked to stop
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._forced = asyncio.Event()  # a forceful shutdown was asked for
        self._status = 0  # 1 once something went wrong that the exit status must show
        self._grace: float | None = None
        self._final_deadline = 0.0
        self._stop_early = False
        self._last_tick = 0.0
        self._run_task: asyncio.Task[int] | None = None
        self._shutdown_task: asyncio.Future[None] | None = None
        self._started_event = asyncio.Event()
        self._stopped_event = asyncio.Event()
        self._done_event = asyncio.Event()
        #: ctx.add_job/add_jobs of the handlers
        self.enqueuer = HandlerEnqueuer(settings.connection, prepare=settings.prepared_statements,
                                        pool=self._pool)
        self._cron: CronScheduler | None = None
        self._recovery: Recovery | None = None
        # the connections: claims (and heartbeats) on one, reports (and the rest) on the other.
        # At shutdown the report channel retries until the final deadline (the last outcomes
        # must get out); while starting, a stop ends its connection attempts at once.
        self._claim = self._make_channel(
            "claim", async_commit=not settings.durable_claims, stopped=lambda: self._stopping,
        )
        self._report = self._make_channel(
            "report", stopped=lambda: self._stopping and (
                not self._started_event.is_set() or time.monotonic() > self._final_deadline
            ),
        )
        # the stages
        self._reporter = Reporter(
            worker_id=self.worker_id, channel=self._report, hooks=self.hooks,
            report_delay=settings.report_delay, batch_size=settings.effective_batch_size,
            idle=self._nothing_running, after_report=self._after_report,
            on_lost=self._check_registration, metrics=self._telemetry.metrics,
        )
        self._claimer = Claimer(
            worker_id=self.worker_id, task_names=self._task_names, settings=settings,
            claim_channel=self._claim, return_channel=self._report, hooks=self.hooks,
            stopping=lambda: self._stopping,
            deadline=lambda: self._final_deadline if self._stopping else None,
            idle=self._idle, on_drained=self._on_drained,
            on_undecodable=self._reporter.fail_undecodable, on_resize=self._reporter.resize,
            timer=self._telemetry.claim_timer,
        )
        self._slots = Slots(
            tasks=self.tasks, job_timeout=settings.job_timeout, worker_id=self.worker_id,
            host=self, claimer=self._claimer, reporter=self._reporter, hooks=self.hooks,
            recovery=lambda: self._recovery, stopping=lambda: self._stopping,
            on_task_done=self._on_task_done, tracer=self._telemetry.tracer,
            metrics=self._telemetry.metrics,
        )
        self._control = ControlHandler(worker_id=self.worker_id, claimer=self._claimer,
                                       slots=self._slots, stopping=lambda: self._stopping)
        self._listener = Listener(
            worker_id=self.worker_id, settings=settings, pool=self._pool,
            on_notify=self._claimer.on_notify, on_control=self._control.on_notify,
            stopping=lambda: self._stopping,
        )
        self._housekeeping = Housekeeping(
            worker_id=self.worker_id, settings=settings, claimer=self._claimer,
            channel=self._claim, stopping=lambda: self._stopping,
        )
        self._fetcher: asyncio.Task[None] | None = None
        self._report_task: asyncio.Task[None] | None = None

    # -- library API ---------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Run until nothing is runnable (no LISTEN, cron, pruning), then stop; the exit status."""
        if not self.settings.once:
            self.settings = self.settings.with_changes(once=True)
            self._claimer.settings = self._listener.settings = self.settings
        return await self.run()

    async def start(self) -> None:
        """Start :meth:`run` as a task of the running loop and wait until the worker is
        connected and has claimed once. Raises the error that kept it from starting (e.g.
        :class:`~gw_runner.errors.DatabaseError`: unknown database, extension missing, bad
        credentials)."""
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

    def snapshot(self) -> WorkerSnapshot:
        """The worker's state for health checks: plain values, safe to read from another
        thread."""
        from ._health import WorkerSnapshot

        s = self.settings
        return WorkerSnapshot(
            state=self.state,
            last_tick=self._last_tick,
            connected=self._claim.connected and self._report.connected,
            listening=self._listener.listening if s.listen and not s.once else None,
            running_jobs=len(self._slots.running),
            queued_jobs=len(self._claimer.queue),
        )

    def health(self, *, stall_after: float = 10.0) -> WorkerHealth:
        """Liveness and readiness (thread-safe enough to call from another thread, e.g. a
        health HTTP server): alive when the worker runs and its event loop ticked within
        ``stall_after`` seconds; ready when alive, not stopping, and its database connections
        work."""
        from ._health import health_from

        return health_from(self.snapshot(), stall_after=stall_after)

    @property
    def metrics_port(self) -> int | None:
        """The port of the metrics endpoint while it serves (``metrics_port=0``: a free one)."""
        return self._telemetry.metrics_port

    @property
    def shutdown_grace(self) -> float:
        """Seconds running jobs get at shutdown: ``stop(grace=...)`` or ``shutdown_timeout``."""
        return self._grace if self._grace is not None else self.settings.shutdown_timeout

    @property
    def threads_busy(self) -> bool:
        """True when sync handlers (abandoned at a timeout or at shutdown) still run in their
        threads."""
        return self._slots.threads_busy

    @property
    def abandoned_handlers(self) -> int:
        """Async handlers abandoned because they ignored cancellation, still running."""
        return self._slots.abandoned_handlers

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
            self._final_deadline = time.monotonic() + FORCED_STOP_GRACE
            if not self._forced.is_set():
                log.warning("forceful shutdown: failing %d running job(s) now",
                            len(self._slots.running), extra=self._extra)
        if not self._stopping:
            log.info("shutting down: no more claims; waiting up to %g s for %d running job(s)",
                     self.shutdown_grace, len(self._slots.running), extra=self._extra)
        self._begin_stop("the worker is shutting down")
        if force:
            self._forced.set()

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

    # -- the run -----------------------------------------------------------------------------

    def _make_channel(self, name: str, **kwargs: Any) -> ChannelLike:
        """A connection of the worker: its own (reopened when lost), or borrowed from the
        caller's pool for each operation."""
        if self._pool is not None:
            return PoolChannel(name, self._pool, worker_id=self.worker_id,
                               stopped=kwargs.get("stopped", lambda: False))
        s = self.settings
        kwargs.setdefault("prepare", s.prepared_statements)
        return Channel(name, s.connection, worker_id=self.worker_id, **kwargs)

    async def _run(self) -> int:
        self._loop = asyncio.get_running_loop()
        self._last_tick = time.monotonic()
        s = self.settings
        if self._stop_early:
            self._begin_stop("the worker is shutting down")
        log.info(
            "worker %s starting: %d task(s) [%s], concurrency %d, batch %s, poll %g s, %s%s",
            self.worker_id, len(self.tasks), ", ".join(self._task_names), s.concurrency,
            self._claimer.batch_size if s.batch_size is not None
            else f"{self._claimer.batch_size} (adaptive, up to {self._claimer.max_batch})",
            s.poll_interval,
            "LISTEN on" if s.listen and not s.once else "polling only",
            ", once" if s.once else "", extra=self._extra,
        )
        background: list[asyncio.Task[Any]] = []
        try:
            try:
                await self._telemetry.start(self._pool)
                if not await self._connect_and_prepare():
                    return 2
                await self._housekeeping.reset_locked()
                more = await self._claimer.first_claim()
            except GraphileWorkerError as e:  # a DatabaseError, or metrics that cannot bind
                if self._stopping and isinstance(e, DatabaseError):
                    # stopped while it could not connect (or register): it never started
                    log.error("stopped before the worker could start: %s", first_line(e),
                              extra=self._extra)
                    return 1
                self.start_error = e
                hint = ""
                if isinstance(e, ExtensionMissing):
                    hint = ("; is the extension installed in this database? "
                            "Run: CREATE EXTENSION graphile_worker")
                log.error("cannot start: %s%s", e, hint, extra=self._extra)
                return 1
            if self._stopping:
                return self._exit_status()
            if self._cron is not None:
                self._cron.start()
            if self._recovery is not None:
                self._recovery.start().add_done_callback(self._on_task_done)
            self._report_task = self._watch(self._reporter.run(), "gw-reporter")
            self._slots.start(s.concurrency)
            self._fetcher = self._watch(self._claimer.run(more), "gw-fetcher")
            background.append(self._watch(self._housekeeping.run(), "gw-housekeeping"))
            if s.listen and not s.once:
                background.append(self._watch(self._listener.run(), "gw-listener"))
            if s.prune_interval > 0 and not s.once:  # on the report connection, like cron
                background.append(self._watch(Pruner(
                    worker_id=self.worker_id, interval=s.prune_interval, channel=self._report,
                    stopping=lambda: self._stopping).run(), "gw-pruner"))
            background.append(self._watch(self._ticker(), "gw-ticker"))
            self.state = "stopping" if self._stopping else "running"
            self._started_event.set()
            self.hooks.emit("on_worker_started", WorkerStarted(
                self.worker_id, tuple(self._task_names), s.concurrency))
            await self._stopped_event.wait()
            if self._shutdown_task is not None:
                await self._shutdown_task
            return self._exit_status()
        finally:
            for t in background:
                t.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await self._stop_services()
            await self._claim.close()
            await self._report.close()
            await self.enqueuer.close()
            await self._telemetry.stop()
            self._slots.close()
            log.info("worker %s stopped", self.worker_id, extra=self._extra)

    async def _connect_and_prepare(self) -> bool:
        """Open the claim connection while the crontab is checked and the worker registers
        (on the report connection). False when the crontab is unusable (exit status 2)."""
        if self._pool is not None:
            await self._claim.connect()  # checks the caller's pool is open
            return await self._prepare_services()
        connecting = asyncio.ensure_future(self._claim.connect())
        try:
            prepared = await self._prepare_services()
        except BaseException:
            connecting.cancel()
            await asyncio.gather(connecting, return_exceptions=True)
            raise
        await connecting
        return prepared

    async def _prepare_services(self) -> bool:
        """Before the first claim: check the crontab (not with ``once``) and register for
        crash recovery. False when the crontab is unusable (logged); database errors are
        raised."""
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

    async def _stop_services(self) -> None:
        """Stop cron and the heartbeats; deregister only when every job this worker claimed
        was returned or reported (otherwise the sweep must release them)."""
        if self._cron is not None:
            await self._cron.stop()
        if self._recovery is not None:
            clean = self._exit_status() == 0 and self._stopped_event.is_set()
            await self._recovery.stop(clean=clean, deadline=max(
                self._final_deadline, time.monotonic() + 1.0))

    def _watch(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._on_task_done)
        return task

    def _on_task_done(self, task: asyncio.Task[Any]) -> None:
        """A task of the worker ended. One that died of an unexpected error while the worker
        runs would leave it half-working (claiming, reporting or running nothing) while it
        looks healthy: stop instead, with exit status 1, so a supervisor restarts it."""
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        assert exc is not None
        if self._stopping:
            log.error("%s failed during shutdown: %s", task.get_name(), first_line(exc),
                      exc_info=exc, extra=self._extra)
            return
        if isinstance(exc, WorkerOfAnotherRole):
            log.critical("worker id %s is now registered to another role (GWA05): this runner "
                         "can no longer act for it; shutting down (exit status 1): %s",
                         self.worker_id, first_line(exc), extra=self._extra)
        else:
            log.critical("internal error: %s stopped (%s); shutting down (exit status 1)",
                         task.get_name(), first_line(exc), exc_info=exc, extra=self._extra)
        self._status = 1
        self._begin_stop("the worker is shutting down after an internal error")

    async def _ticker(self) -> None:
        """Proves the loop is alive to :meth:`health` (a blocked loop stops ticking)."""
        while True:
            self._last_tick = time.monotonic()
            await asyncio.sleep(0.5)

    def _exit_status(self) -> int:
        return 1 if self._status or self._claimer.gave_up or self._reporter.gave_up else 0

    # -- wiring between the stages -------------------------------------------------------------

    def _nothing_running(self) -> bool:
        """No job runs or waits for a slot (the reporter reports at once then)."""
        claimer = self._claimer
        return not self._slots.running and not claimer.queue and not claimer.handoffs

    def _idle(self) -> bool:
        """Nothing runs and every outcome is reported (``once`` may end)."""
        return (self._nothing_running() and not self._reporter.pending
                and not self._reporter.busy)

    def _after_report(self, ids: list[int], retries: bool) -> None:
        self._claimer.release(ids)
        if retries:
            self._claimer.due_stale = True
        self._claimer.wake()  # queues may be free again, retries may be due now

    def _check_registration(self) -> None:
        if self._recovery is not None:
            self._recovery.check_soon()  # was this worker declared lost?

    def _on_drained(self) -> None:
        self._begin_stop("the worker finished (--once)")

    async def _on_swept(self) -> None:
        """This worker was declared lost and its jobs released: give back the claimed jobs
        it has not started (those still locked by it are unlocked; the others may be someone
        else's now, and are left alone)."""
        await self._claimer.return_jobs(self._claimer.unstarted(),
                                        reason="this worker was declared lost")

    # -- shutdown ----------------------------------------------------------------------------

    def _begin_stop(self, reason: str) -> None:
        if self._stopping:
            return
        self._stopping = True
        if self.state in ("starting", "running"):
            self.state = "stopping"
        self.abort_reason = reason
        self._final_deadline = time.monotonic() + self.shutdown_grace + FINAL_REPORT_GRACE
        self._claim.interrupt()
        self._report.interrupt()
        self._slots.abort_all(reason)
        self._claimer.stop()
        self._shutdown_task = asyncio.ensure_future(self._shutdown())

    def _time_left(self, cap: float) -> float:
        """Seconds until the shutdown's final deadline, at most ``cap``, at least 0.1."""
        return max(0.1, min(cap, self._final_deadline - time.monotonic()))

    async def _shutdown(self) -> None:
        """Stop claiming, return the unstarted jobs, give the running ones the shutdown
        timeout, fail those still running, report. Every step is bounded: the whole takes at
        most ``shutdown_timeout`` + ``FINAL_REPORT_GRACE`` seconds (less after a second
        signal)."""
        try:
            fetcher = self._fetcher
            if fetcher is not None:
                # a claim in flight finishes (its jobs are returned); a reconnect loop does not
                await asyncio.wait([fetcher], timeout=self._time_left(5.0))
                if not fetcher.done():
                    fetcher.cancel()
                    # The claim may have committed without its rows reaching us: stay
                    # registered (exit status 1), so the stale-worker sweep frees what it
                    # locked, rather than deregistering as if every claim were accounted for.
                    log.error("a claim (or its due-time query) was still in flight at "
                              "shutdown; cancelled. The worker stays registered: the "
                              "stale-worker sweep frees any jobs it may have locked",
                              extra=self._extra)
                    self._status = 1
                await asyncio.gather(fetcher, return_exceptions=True)
            claimer = self._claimer
            try:
                await asyncio.wait_for(claimer.stop_waiting(), self._time_left(2.0))
            except TimeoutError:
                pass  # the mark counts for nothing after 10 minutes
            await claimer.return_jobs(claimer.unstarted(), reason="shutdown")
            await self._control.settle()  # jobs of a paused task or queue, or cancelled ones
            if claimer.claim_unsure:
                await claimer.return_unheld()
                if claimer.claim_unsure:  # it failed: stay registered, the sweep frees them
                    self._status = 1
            await self._slots.wait(self.shutdown_grace, self._forced)
            why = ("was stopped forcefully" if self._forced.is_set()
                   else f"shut down (the job ran past the {self.shutdown_grace:g} s shutdown "
                   "timeout)")
            failed = self._slots.fail_running(
                f"the worker {self.worker_id} {why} before the job finished; it will be retried"
            )
            if failed:
                log.warning("failed %d job(s) still running at shutdown", failed, extra=self._extra)
            await self._slots.cancel(self._time_left(ABANDON_AFTER))
            reporter = self._reporter
            reporter.deadline = self._final_deadline
            reporter.wake()
            task = self._report_task
            if task is not None:
                await asyncio.wait([task], timeout=self._time_left(FINAL_REPORT_GRACE))
                if not task.done():
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
            if reporter.pending:
                try:
                    await asyncio.wait_for(reporter.flush(), self._time_left(FINAL_REPORT_GRACE))
                except TimeoutError:
                    pass  # logged by the reporter; the exit status says so
        except Exception:
            log.exception("error during shutdown", extra=self._extra)
            self._status = 1
        finally:
            self._stopped_event.set()
