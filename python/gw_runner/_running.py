"""The running stage: ``concurrency`` slots take jobs from the claiming stage, call their
handlers, and hand each outcome to the reporting stage.

A handler's return value is the job's result: written as JSON here, when the job completes
(``_record.encode_result``), and sent with the completion; a value that is not JSON fails the
attempt, one over ``RESULT_CAP_BYTES`` is logged (the database does not store it).

Async handlers are awaited in their slot; sync handlers run on daemon threads, one per slot
(``_threads``). A handler's time limit (``_threads.job_time_limit``) cancels an async
handler; one that ignores its cancellation for ``ABANDON_AFTER`` seconds is abandoned (its
job fails, a new slot takes its place, the handler runs on alone). A sync handler past its
limit is abandoned on its thread. Whatever a handler raises, ``BaseException`` included, and
however its exception prints, the job gets an outcome and the slot goes on.

A job cancelled while it runs (``cancel_jobs``, :meth:`Slots.cancel_job`) gets its context's
``cancelled`` flag and abort signal; an async handler is also cancelled, and the
``CancelledError`` it ends with fails the job like any error (the database ends it as
cancelled) instead of ending the slot.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ._claiming import Claimer
from ._context import JobContext, JobHost
from ._convert import PayloadError
from ._hooks import HookDispatcher, JobStarted
from ._job import Job
from ._loader import TaskSpec
from ._otel import JobTracer
from ._record import RESULT_CAP_BYTES, JobRun, ResultError, encode_result
from ._reporting import Reporter
from ._text import error_message
from ._threads import HandlerThreads, job_time_limit
from .errors import PermanentFailure, RetryLater, Snooze

if TYPE_CHECKING:
    from ._metrics import RunnerMetrics

log = logging.getLogger("gw_runner.worker")

#: A slot gives the event loop a turn after this many jobs in a row (see ``Slots._slot``).
_YIELD_EVERY = 8
#: Seconds an async handler gets, after it was cancelled at its time limit, to end before it
#: is abandoned (it ignored the cancellation) and its slot replaced.
ABANDON_AFTER = 2.0


class _Recovery(Protocol):
    def holds_jobs(self) -> bool: ...

    async def confirm(self) -> bool: ...


class _Slot:
    """One slot: a task that runs jobs one after the other. ``abandoned``: its async handler
    ignored cancellation; a new slot took its place, this one ends when the handler
    returns. ``run``: the job it runs; ``in_handler``: its async handler is being awaited;
    ``cancel_sent``: the task was cancelled for that job's cancel (withdrawn once the handler
    ends, so the slot goes on)."""

    __slots__ = ("abandoned", "cancel_sent", "in_handler", "index", "run", "task")

    def __init__(self, index: int) -> None:
        self.index = index
        self.task: asyncio.Task[None] | None = None
        self.abandoned = False
        self.run: JobRun | None = None
        self.in_handler = False
        self.cancel_sent = False

    def end_handler(self) -> None:
        """The async handler returned or raised: withdraw the cancel sent for its job, so
        only other cancellations (a forceful shutdown) count."""
        self.in_handler = False
        if self.cancel_sent:
            self.cancel_sent = False
            if self.task is not None:
                self.task.uncancel()


class Slots:
    """The slots of one worker (see the module docstring).

    ``recovery()`` returns the worker's crash recovery (or None): after a long pause a slot
    starts a claimed job only once a heartbeat confirms the worker still holds its jobs.
    ``on_task_done`` is called with each slot's task when it ends (the worker watches for
    slots that die of an internal error).
    """

    def __init__(
        self,
        *,
        tasks: dict[str, TaskSpec],
        job_timeout: float | None,
        worker_id: str,
        host: JobHost,
        claimer: Claimer,
        reporter: Reporter,
        hooks: HookDispatcher,
        recovery: Callable[[], _Recovery | None],
        stopping: Callable[[], bool],
        on_task_done: Callable[[asyncio.Task[Any]], None],
        tracer: JobTracer | None = None,
        metrics: RunnerMetrics | None = None,
    ) -> None:
        self._tasks = tasks
        self._tracer = tracer
        self._metrics = metrics
        self._job_timeout = job_timeout
        self.worker_id = worker_id
        self._host = host
        self._claimer = claimer
        self._reporter = reporter
        self._hooks = hooks
        self._recovery = recovery
        self._stopping = stopping
        self._on_task_done = on_task_done
        self._threads = (
            HandlerThreads("gw-job") if any(not t.is_async for t in tasks.values()) else None
        )
        self._extra = {"worker_id": worker_id}
        #: jobs being run, by id
        self.running: dict[int, JobRun] = {}
        self._slots: list[_Slot] = []
        self._abandoned: set[_Slot] = set()
        #: cancelled jobs this worker holds that were neither queued nor running when the
        #: cancel came (handed to a slot that has not started them): given back at start
        self._cancel_pending: set[int] = set()

    # -- state, for the worker ---------------------------------------------------------------

    @property
    def abandoned_handlers(self) -> int:
        """Async handlers abandoned because they ignored cancellation, still running."""
        return sum(1 for s in self._abandoned if s.task is not None and not s.task.done())

    @property
    def threads_busy(self) -> bool:
        """Sync handlers (abandoned at a timeout or at shutdown) still run in their threads."""
        return self._threads is not None and self._threads.busy

    def abort_all(self, reason: str) -> None:
        for run in self.running.values():
            if run.ctx is not None:
                run.ctx._set_abort(reason)

    def start(self, count: int) -> None:
        for _ in range(count):
            self._start_slot()

    def cancel_job(self, job_id: int) -> bool:
        """The job was cancelled (``cancel_jobs``). Running: set its context's ``cancelled``
        and abort signal and, for an async handler, cancel it (once); True. Otherwise (about to
        start, or finished and being reported) it is given back if a slot starts it; False."""
        run = self.running.get(job_id)
        if run is None or run.ctx is None:
            held = self._claimer.held
            self._cancel_pending = {i for i in self._cancel_pending if i in held}
            if job_id in held:
                self._cancel_pending.add(job_id)
            return False
        run.ctx._cancel()
        for slot in self._slots:
            if slot.run is run and slot.in_handler and not slot.cancel_sent:
                if slot.task is not None and not slot.task.done():
                    slot.cancel_sent = True
                    slot.task.cancel()
        return True

    def _start_slot(self) -> None:
        slot = _Slot(len(self._slots))
        slot.task = asyncio.create_task(self._slot(slot), name=f"gw-slot-{slot.index}")
        slot.task.add_done_callback(self._on_task_done)
        self._slots.append(slot)

    # -- shutdown ----------------------------------------------------------------------------

    async def wait(self, grace: float, forced: asyncio.Event) -> None:
        """Wait up to ``grace`` seconds for the running jobs, less if ``forced`` is set."""
        tasks = self._live_tasks()
        if not tasks:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        force_wait = asyncio.ensure_future(forced.wait())
        try:
            while not forced.is_set():
                pending = [t for t in tasks if not t.done()]
                remaining = deadline - loop.time()
                if not pending or remaining <= 0:
                    break
                await asyncio.wait([*pending, force_wait], timeout=remaining,
                                   return_when=asyncio.FIRST_COMPLETED)
        finally:
            force_wait.cancel()

    def fail_running(self, message: str) -> int:
        """Fail every job still running (shutdown); how many there were."""
        count = len(self.running)
        for run in list(self.running.values()):
            del self.running[run.job.id]
            if run.ctx is not None:
                run.ctx._set_abort("the worker is shutting down")
            self._finish_failed(run, message)
        return count

    async def cancel(self, timeout: float) -> None:
        """Cancel the slots; a handler that ignores its cancellation for ``timeout`` seconds
        is left behind (its job was failed by :meth:`fail_running`)."""
        tasks = self._live_tasks()
        for t in tasks:
            t.cancel()
        if not tasks:
            return
        _, stuck = await asyncio.wait(tasks, timeout=timeout)
        if stuck:
            for slot in self._slots:
                if slot.task in stuck:
                    slot.abandoned = True
                    self._abandoned.add(slot)
            log.error("%d async handler(s) ignored their cancellation at shutdown; left running "
                      "(their jobs were failed)", len(stuck), extra=self._extra)

    def close(self) -> None:
        if self._threads is not None:
            self._threads.close()

    def _live_tasks(self) -> list[asyncio.Task[None]]:
        return [s.task for s in self._slots
                if s.task is not None and not s.task.done() and not s.abandoned]

    # -- running jobs --------------------------------------------------------------------------

    async def _slot(self, slot: _Slot) -> None:
        take, take_nowait = self._claimer.take, self._claimer.take_nowait
        streak = 0  # jobs run since this slot last gave the event loop a turn
        while not (self._stopping() or slot.abandoned):
            run = take_nowait() or await take()
            if run is None:
                return
            if self._cancel_pending and run.job.id in self._cancel_pending:
                self._cancel_pending.discard(run.job.id)
                await self._claimer.return_jobs([run.job.id], reason="cancelled")
                continue
            recovery = self._recovery()
            if recovery is not None and not recovery.holds_jobs():
                # so long since the last heartbeat that a sweep may have released this job
                # (the process was paused?): start it only once a heartbeat says we still
                # hold our jobs; otherwise give it back (untouched if someone else holds it)
                self._claimer.handoffs += 1  # not idle meanwhile
                try:
                    still_ours = await recovery.confirm()
                finally:
                    self._claimer.handoffs -= 1
                if not still_ours:
                    await self._claimer.return_jobs([run.job.id],
                                                    reason="this worker was declared lost")
                    continue
            slot.run = run
            try:
                if self._tracer is None:
                    await self._run_job(run, slot)
                else:
                    await self._run_traced(run, slot, self._tracer)
            except asyncio.CancelledError:
                raise
            except Exception:
                # a failure of the runner's own code around the handler: the job fails, the
                # slot goes on
                log.exception("job %d (%s): internal error of the runner", run.job.id,
                              run.job.task_identifier,
                              extra={**self._extra, "job_id": run.job.id})
                if self.running.pop(run.job.id, None) is not None:
                    self._finish_failed(run, "internal error of the runner (see its log)")
            finally:
                slot.run = None
            streak += 1
            if streak >= _YIELD_EVERY:
                # A handler that never suspends (no await inside) would let this slot run the
                # whole local queue without the loop reading a claim or report result: give
                # the loop a turn every few jobs, so the next claim is sent in time.
                streak = 0
                await asyncio.sleep(0)

    async def _run_traced(self, run: JobRun, slot: _Slot, tracer: JobTracer) -> None:
        """:meth:`_run_job` inside the job's span (``--otel``), current in the slot's task
        (and in a sync handler's thread: see :meth:`_call_handler`)."""
        span, token = tracer.start(run.job)
        try:
            await self._run_job(run, slot)
        finally:
            tracer.end(span, token, run)

    async def _run_job(self, run: JobRun, slot: _Slot) -> None:
        job = run.job
        spec = self._tasks[job.task_identifier]
        ctx = run.ctx = JobContext(job, self._host)
        self.running[job.id] = run
        debug = log.isEnabledFor(logging.DEBUG)
        hooks = self._hooks
        metrics = self._metrics
        if debug or hooks or metrics is not None:
            run.started = time.perf_counter()
        if metrics is not None:
            metrics.job_started(job.task_identifier)
        if hooks:
            hooks.emit("on_job_started", JobStarted(self.worker_id, job))
        try:
            payload = job.payload
            if spec.convert is not None:
                payload = spec.convert(payload)
            result = await self._call_handler(spec, job, ctx, payload, slot, run)
            if type(result) is list and job.is_batch:
                result, failed = await _batch_outcome(job, result)
                if failed is not None:
                    if self.running.pop(job.id, None) is not None:
                        message, replacement = failed
                        self._finish_failed(run, message, payload=replacement, timed=True)
                    return
        except asyncio.CancelledError as e:
            task = slot.task
            if task is not None and task.cancelling() == 0 and not slot.abandoned:
                # not a cancellation of the slot (a forceful shutdown): the job's cancel, or
                # the handler's own CancelledError; the job fails like any error, the slot goes on
                if self.running.pop(job.id, None) is not None:
                    message = ("the job was cancelled (graphile_worker.cancel_jobs)"
                               if ctx.cancelled else error_message(e))
                    self._finish_failed(run, message, e, permanent=ctx.cancelled)
                return
            if self.running.pop(job.id, None) is not None:
                self._finish_failed(run, "the job was cancelled (forceful shutdown)")
            raise
        except PayloadError as e:
            if self.running.pop(job.id, None) is not None:
                self._finish_failed(run, f"invalid payload: {e}", e, permanent=True)
            return
        except Exception as e:
            if self.running.pop(job.id, None) is not None:
                if isinstance(e, Snooze):
                    run.snooze(e.delay, e)
                    if run.started:
                        run.duration = time.perf_counter() - run.started
                    self._reporter.add(run)
                elif isinstance(e, RetryLater):
                    self._finish_failed(run, error_message(e), e, retry_delay=e.delay)
                else:
                    self._finish_failed(run, error_message(e), e,
                                        permanent=isinstance(e, PermanentFailure))
            return
        except BaseException as e:
            # SystemExit, KeyboardInterrupt, GeneratorExit or a BaseException of a library,
            # raised by the handler: it fails this job like any error and stops nothing else
            if self.running.pop(job.id, None) is not None:
                self._finish_failed(
                    run, f"{error_message(e)} (a BaseException raised by the handler: a "
                    "handler cannot stop the runner)", e,
                )
            return
        if self.running.pop(job.id, None) is None:
            return  # failed by the shutdown or abandoned at its time limit meanwhile
        try:
            encoded = encode_result(result)
        except ResultError as e:
            self._finish_failed(run, str(e), e)
            return
        if encoded is not None and len(encoded) > RESULT_CAP_BYTES:
            log.warning(
                "job %d (%s) returned a result of %d bytes of JSON, over the cap of %d bytes: "
                "the job completes, its result is not stored", job.id, job.task_identifier,
                len(encoded), RESULT_CAP_BYTES,
                extra={**self._extra, "job_id": job.id, "task": job.task_identifier},
            )
        run.complete(encoded)
        if run.started:
            run.duration = time.perf_counter() - run.started
            if debug:
                log.debug("job %d (%s) completed in %.1f ms", job.id, job.task_identifier,
                          run.duration * 1000, extra={**self._extra, "job_id": job.id,
                                                      "task": job.task_identifier})
        self._reporter.add(run)

    def _finish_failed(
        self,
        run: JobRun,
        message: str,
        exc: BaseException | None = None,
        *,
        permanent: bool = False,
        retry_delay: float | None = None,
        payload: Any = None,
        timed: bool = False,
    ) -> None:
        run.fail(message, exc, permanent=permanent, retry_delay=retry_delay, payload=payload)
        if run.started and (exc is not None or timed):
            run.duration = time.perf_counter() - run.started
        self._reporter.add(run)

    async def _call_handler(
        self, spec: TaskSpec, job: Job, ctx: JobContext, payload: Any, slot: _Slot,
        run: JobRun,
    ) -> Any:
        """Call the handler within the job's time limit: an async handler past it is
        cancelled (and abandoned, its slot replaced, when it ignores the cancellation for
        ``ABANDON_AFTER`` seconds); a sync handler's thread is abandoned (it runs on until the
        handler returns; the slot gets a new thread). Either way the attempt fails with
        ``TimeoutError: task '...' timed out after N s``."""
        limit, source = job_time_limit(job.flags, spec.timeout, self._job_timeout)
        args = (payload, ctx) if spec.wants_ctx else (payload,)
        if spec.is_async:
            slot.in_handler = True  # from here on, a cancel of the job cancels the slot's task
            if limit is None:
                try:
                    return await spec.fn(*args)
                finally:
                    slot.end_handler()
            timer = asyncio.timeout(limit)
            watch = asyncio.get_running_loop().call_later(
                limit + ABANDON_AFTER, self._abandon_handler, slot, run,
                _timeout_message(spec.identifier, limit, source),
            )
            try:
                try:
                    async with timer:
                        return await spec.fn(*args)
                finally:
                    slot.end_handler()
            except TimeoutError:
                if not timer.expired():
                    raise  # the handler's own TimeoutError
                ctx._set_abort("timeout")
                raise TimeoutError(_timeout_message(spec.identifier, limit, source)) from None
            finally:
                watch.cancel()
        threads = self._threads
        assert threads is not None
        if self._tracer is None:
            call = threads.submit(spec.fn, *args)
        else:  # the thread runs the handler in this task's context, where the job's span is
            call = threads.submit(contextvars.copy_context().run, spec.fn, *args)
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
                extra={**self._extra, "job_id": job.id, "task": spec.identifier},
            )
            raise TimeoutError(
                _timeout_message(spec.identifier, limit or 0.0, source)
                + "; its thread was abandoned"
            )
        result = fut.result()
        if result is not None and inspect.isawaitable(result):
            result = await result
        return result

    def _abandon_handler(self, slot: _Slot, run: JobRun, timeout: str) -> None:
        """An async handler cancelled at its time limit is still running ``ABANDON_AFTER``
        seconds later: it ignores cancellation. Fail its job, leave the handler to itself (its
        slot ends when it returns) and start a new slot in its place."""
        job = run.job
        if self.running.get(job.id) is not run:
            return
        del self.running[job.id]
        slot.abandoned = True
        self._abandoned.add(slot)
        self._finish_failed(run, f"{timeout}; the handler ignored its cancellation and was "
                                 "abandoned (it may still be running)")
        log.error(
            "job %d (%s): the async handler ignored its cancellation at its time limit; the "
            "job is failed and the handler abandoned (it runs on in the background, %d "
            "abandoned); a new slot takes its place", job.id, job.task_identifier,
            len(self._abandoned),
            extra={**self._extra, "job_id": job.id, "task": job.task_identifier},
        )
        if not self._stopping():
            self._start_slot()


async def _batch_outcome(
    job: Job, result: list[Any]
) -> tuple[list[Any] | None, tuple[str, list[Any]] | None]:
    """For a batch job (array payload) whose handler returned a list: the job's result (the
    list with its awaitables awaited; None for a list of the wrong length, which is no batch
    result) and, if some entries failed, the failure message and the payload of only the
    failed entries."""
    payload: list[Any] = job.payload
    if len(result) != len(payload):
        log.warning(
            "job %d (%s): the handler returned a list of %d items for a batch of %d; treated "
            "as success, with no result", job.id, job.task_identifier, len(result),
            len(payload), extra={"job_id": job.id, "task": job.task_identifier},
        )
        return None, None
    if any(inspect.isawaitable(r) for r in result):
        result = await asyncio.gather(*(_as_awaitable(r) for r in result),
                                      return_exceptions=True)
    failed = [i for i, r in enumerate(result) if isinstance(r, BaseException)]
    if not failed:
        return result, None
    lines = [f"- [{i}] {error_message(result[i])}" for i in failed]
    message = f"Batch failures ({len(failed)} of {len(payload)}):\n" + "\n".join(lines)
    return result, (message, [payload[i] for i in failed])


async def _as_awaitable(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


def _timeout_message(task: str, limit: float, source: str) -> str:
    where = {"flag": f" (the job's flag timeout:{limit:g})",
             "runner": " (the runner's job timeout)"}.get(source, "")
    return f"task {task!r} timed out after {limit:g} s{where}"
