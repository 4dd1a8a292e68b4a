"""The reporting stage: outcomes of finished jobs go to the database in batches.

Slots hand each finished :class:`~gw_runner._record.JobRun` to :meth:`Reporter.add`. The
report loop sends what has gathered in one ``report_jobs`` call: at once when it is the
first outcome, when a batch is full or when nothing else is running, otherwise within
``report_delay``. A call that fails on a lost connection is retried by the channel; a call
the database refuses is split in halves until the entry at fault is alone (at once for data
errors, after three tries for others), which is then recorded as a plain failure saying the
database refused its outcome, or dropped with an error in the log if even that is refused. A
completion that carries a result (the handler's return value, as JSON text) goes with the
completed ids as ``results``, aligned with them in every call, halves included; a refused one
is first sent again without its result (the job completes; only the result is lost), so each
entry is tried at most three ways: as it is, as a bare completion, as a plain failure.

Once the database has answered, the outcome hooks fire and failures are logged with their
retry time; ``after_report`` tells the claiming stage which jobs it no longer holds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import psycopg

from . import _sql
from ._aio import wait_event
from ._convert import PayloadError
from ._db import ChannelLike, UndecodableRow, backoff_delay, fetchall_lenient
from ._hooks import HookDispatcher, JobCancelled, JobFailed, JobPermanentlyFailed, JobSucceeded
from ._record import JobRun
from ._text import first_line, fmt_time, storable
from .errors import DatabaseError, PermanentFailure, RetryLater, Snooze, WorkerOfAnotherRole

if TYPE_CHECKING:
    from ._metrics import RunnerMetrics

log = logging.getLogger("gw_runner.worker")

#: SQLSTATE classes of errors that repeating the same report cannot fix (bad data, a
#: constraint, a program limit such as a report too large, a GW input error, a trigger's
#: exception): the report is split at once.
_DATA_ERROR_CLASSES = ("22", "23", "54", "GW", "P0")

Row = tuple[Any, ...]
#: One outcome in a report: a job id (completed, no result), ``(id, result JSON text)``
#: (completed with a result) or a failure entry (``JobRun.failure_entry``).
Entry = int | tuple[int, str] | dict[str, Any]


class Reporter:
    """Collects outcomes and reports them (see the module docstring).

    - ``idle()``: true when no job is running or waiting to run (report at once then);
    - ``after_report(ids, retries)``: the jobs ``ids`` are reported (or given up on);
      ``retries``: some will run again later (the next due time changed);
    - ``on_lost()``: the database refused an outcome because the job is no longer locked by
      this worker (was the worker declared lost?).
    """

    def __init__(
        self,
        *,
        worker_id: str,
        channel: ChannelLike,
        hooks: HookDispatcher,
        report_delay: float,
        batch_size: int,
        idle: Callable[[], bool],
        after_report: Callable[[list[int], bool], None],
        on_lost: Callable[[], None],
        metrics: RunnerMetrics | None = None,
    ) -> None:
        self.worker_id = worker_id
        #: the metrics endpoint's counters (each report's round trip and outcomes), or None
        self._metrics = metrics
        self._timer = metrics.observe_report if metrics is not None else None
        self._channel = channel
        self._hooks = hooks
        self._delay = report_delay
        self._threshold = max(batch_size, 50)
        self._idle = idle
        self._after_report = after_report
        self._on_lost = on_lost
        self._pending: list[JobRun] = []
        self._wake = asyncio.Event()
        self._extra = {"worker_id": worker_id}
        #: a report is on its way to the database
        self.busy = False
        #: set at shutdown: reports are tried until this monotonic time, then given up
        self.deadline: float | None = None
        #: some outcome could not be reported (the worker exits with status 1)
        self.gave_up = False
        #: the extension is older than 0.1.7 (report_jobs takes no results): sent without them
        self._results_unsupported = False

    @property
    def pending(self) -> int:
        return len(self._pending)

    def add(self, run: JobRun) -> None:
        """A job has its outcome: report it."""
        self._pending.append(run)
        n = len(self._pending)
        if n == 1 or n >= self._threshold or self._idle():
            self._wake.set()

    def fail_undecodable(self, rows: list[UndecodableRow]) -> None:
        """Claimed rows that cannot be read: their jobs fail for good (retrying cannot help),
        the rest of the batch runs."""
        now = time.monotonic()
        for row in rows:
            log.error("job %d: %s", row.job.id, row.message,
                      extra={**self._extra, "job_id": row.job.id})
            run = JobRun(row.job, now)
            run.fail(row.message, permanent=True)
            self.add(run)

    def resize(self, batch_size: int) -> None:
        """The claims' batch size changed: report in batches of about that many."""
        self._threshold = max(batch_size, 50)

    def wake(self) -> None:
        self._wake.set()

    def _report_now(self) -> bool:
        return len(self._pending) >= self._threshold or self.deadline is not None or self._idle()

    async def run(self) -> None:
        """The report loop: ends at shutdown once nothing is left to report."""
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._pending:
                if self.deadline is not None and self._idle():
                    return
                continue
            if not self._report_now() and self._delay > 0:
                until = loop.time() + self._delay
                while not self._report_now():
                    remaining = until - loop.time()
                    if remaining <= 0 or not await wait_event(self._wake, remaining):
                        break
                    self._wake.clear()
            await self.flush()
            self._wake.set()  # look again: more may have come in meanwhile

    async def flush(self) -> None:
        """Report everything pending now."""
        batch, self._pending = self._pending, []
        if not batch:
            return
        self.busy = True
        try:
            rows, retried = await self._send([_entry(run) for run in batch])
        except asyncio.CancelledError:
            # stopped with outcomes on their way (the shutdown's bound passed): they are not
            # known to be recorded
            log.error("gave up reporting the outcomes of %d job(s) at shutdown; they stay "
                      "locked by %s until the stale-lock sweep frees them: %s", len(batch),
                      self.worker_id, [run.job.id for run in batch][:50], extra=self._extra)
            self.gave_up = True
            raise
        finally:
            self.busy = False
        runs = {run.job.id: run for run in batch}
        if self._hooks:
            self._emit(rows, runs)
        if self._metrics is not None:
            self._metrics.record(rows, runs)
        retries = self._log(rows, runs, retried=retried)
        self._after_report(list(runs), retries)

    # -- sending ---------------------------------------------------------------------------

    async def _send(self, entries: list[Entry]) -> tuple[list[Row], bool]:
        return await self._send_entries(entries, refused=False)

    async def _send_entries(
        self, entries: list[Entry], *, refused: bool
    ) -> tuple[list[Row], bool]:
        if self._results_unsupported:
            entries = [e[0] if isinstance(e, tuple) else e for e in entries]
        completed: list[int] = []
        results: list[str] = []  # aligned with completed: "null" for no result
        with_result = False
        failures: list[dict[str, Any]] = []
        for e in entries:
            if isinstance(e, int):
                completed.append(e)
                results.append("null")
            elif isinstance(e, tuple):
                completed.append(e[0])
                results.append(e[1])
                with_result = True
            else:
                failures.append(e)
        calls = 0
        failures_json = (
            json.dumps(failures, separators=(",", ":"), default=_storable_default)
            if failures else None
        )
        # no result in this call (the usual case): the statement without results, which
        # extensions older than 0.1.7 accept too
        statement = _sql.REPORT_JOBS_WITH_RESULTS if with_result else _sql.REPORT_JOBS
        params: tuple[Any, ...] = (self.worker_id, completed or None, failures_json)
        if with_result:
            params += (f"[{','.join(results)}]",)

        async def op(conn: psycopg.AsyncConnection[Any]) -> list[Row]:
            nonlocal calls
            calls += 1
            timer = self._timer
            if timer is None:
                cur = await conn.execute(statement, params, binary=True)
                return await fetchall_lenient(cur)
            began = time.perf_counter()
            cur = await conn.execute(statement, params, binary=True)
            rows = await fetchall_lenient(cur)
            timer(time.perf_counter() - began)
            return rows

        attempt = 0
        while True:
            try:
                return await self._channel.run(op, deadline=self.deadline), calls > 1
            except DatabaseError as e:
                if isinstance(e, WorkerOfAnotherRole):
                    raise  # retrying or splitting cannot help: the worker stops
                if with_result and e.sqlstate == "42883":
                    # report_jobs of an extension older than 0.1.7 takes no results
                    log.warning(
                        "the graphile_worker extension is older than 0.1.7: handlers' results "
                        "are not stored (ALTER EXTENSION graphile_worker UPDATE); %s",
                        first_line(e), extra=self._extra,
                    )
                    self._results_unsupported = True
                    return await self._send_entries(entries, refused=refused)
                ids = [_entry_id(x) for x in entries]
                data_error = (e.sqlstate or "")[:2] in _DATA_ERROR_CLASSES
                stopping = self.deadline is not None
                if stopping and (not data_error or time.monotonic() >= (self.deadline or 0)):
                    log.error(
                        "could not report the outcomes of %d job(s) at shutdown (%s); they stay "
                        "locked by %s until the stale-lock sweep frees them: %s",
                        len(ids), first_line(e), self.worker_id, ids[:50], extra=self._extra,
                    )
                    self.gave_up = True
                    return [], False
                attempt += 1
                if data_error or attempt >= 3:
                    if len(entries) > 1:
                        half = len(entries) // 2
                        rows_a, r_a = await self._send_entries(entries[:half], refused=refused)
                        rows_b, r_b = await self._send_entries(entries[half:], refused=refused)
                        return rows_a + rows_b, r_a or r_b
                    if not refused:
                        return await self._send_refused(entries[0], e)
                    log.error(
                        "the database refuses the outcome of job %s (%s); dropped: the job "
                        "stays locked by %s until the stale-lock sweep frees it", ids[0],
                        first_line(e), self.worker_id, extra=self._extra,
                    )
                    return [], False
                wait = backoff_delay(attempt)
                log.error("reporting %d outcome(s) failed (%s); retrying in %.1f s", len(ids),
                          first_line(e), wait, extra=self._extra)
                await asyncio.sleep(wait)

    async def _send_refused(
        self, entry: Entry, error: DatabaseError
    ) -> tuple[list[Row], bool]:
        """The database refused this one outcome. A completion with a result is sent again
        without it (the job completes, its result is lost); anything else is recorded as a
        failure that says so instead (the attempt counts, the job is retried), with nothing of
        the refused entry but its id."""
        job_id = _entry_id(entry)
        if isinstance(entry, tuple):
            log.error(
                "the database refuses the outcome of job %d with its result (%d bytes of JSON; "
                "%s); completing it without its result", job_id, len(entry[1]),
                first_line(error), extra={**self._extra, "job_id": job_id},
            )
            return await self._send_entries([job_id], refused=False)
        log.error(
            "the database refuses the outcome of job %d (%s); recording a failure instead",
            job_id, first_line(error), extra={**self._extra, "job_id": job_id},
        )
        plain: dict[str, Any] = {
            "id": job_id,
            "message": storable(
                f"the database refused to record this attempt's outcome "
                f"({error.sqlstate or 'no SQLSTATE'}: {first_line(error)[:500]})"
            ),
        }
        return await self._send_entries([plain], refused=True)

    # -- after the database answered -------------------------------------------------------

    def _emit(self, rows: list[Row], runs: dict[int, JobRun]) -> None:
        """The outcome hooks for the rows of ``report_jobs`` (``completed``, ``failed``,
        ``permanently_failed``, ``cancelled``; ``snoozed`` and ``lost`` fire nothing)."""
        hooks, wid = self._hooks, self.worker_id
        for job_id, outcome, _attempts, _max_attempts, run_at in rows:
            run = runs.get(job_id)
            if run is None:
                continue
            if outcome == "completed":
                hooks.emit("on_job_succeeded", JobSucceeded(wid, run.job, run.duration or 0.0))
            elif outcome in ("failed", "permanently_failed"):
                retry = outcome == "failed"
                hooks.emit("on_job_failed", JobFailed(
                    wid, run.job, run.exc, run.message, retry, run_at if retry else None,
                    run.duration,
                ))
                if not retry:
                    hooks.emit("on_job_permanently_failed",
                               JobPermanentlyFailed(wid, run.job, run.exc, run.message))
            elif outcome == "cancelled":
                hooks.emit("on_job_cancelled", JobCancelled(wid, run.job, run.duration))

    def _log(self, rows: list[Row], runs: dict[int, JobRun], *, retried: bool) -> bool:
        """Log failures once the database has recorded them (with the retry time); a
        traceback comes with the first failed attempt, a permanent failure, or at DEBUG.
        True when some job will be retried."""
        debug = log.isEnabledFor(logging.DEBUG)
        retries = False
        for job_id, outcome, attempts, max_attempts, run_at in rows:
            if outcome == "completed":
                continue
            run = runs.get(job_id)
            task = run.job.task_identifier if run else "?"
            message = run.message if run else "?"
            extra = {"job_id": job_id, "task": task, "worker_id": self.worker_id}
            if outcome == "snoozed":
                retries = True
                log.info("job %d (%s) snoozed: runs again at %s (no attempt used)", job_id,
                         task, fmt_time(run_at), extra=extra)
            elif outcome == "failed":
                retries = True
                log.warning(
                    "job %d (%s) attempt %d of %d failed: %s; retry at %s",
                    job_id, task, attempts, max_attempts, message, fmt_time(run_at),
                    exc_info=_exc_info(run) if attempts == 1 or debug else None, extra=extra,
                )
            elif outcome == "cancelled":
                log.info("job %d (%s) cancelled (cancel_jobs): ended as cancelled, not retried",
                         job_id, task, extra=extra)
            elif outcome == "permanently_failed":
                log.error(
                    "job %d (%s) failed permanently (attempt %d of %d): %s", job_id, task,
                    run.job.attempts if run else attempts,
                    run.job.max_attempts if run else max_attempts, message,
                    exc_info=_exc_info(run), extra=extra,
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
                        "may run again", job_id, task, self.worker_id, extra=extra,
                    )
                    self._on_lost()
        return retries


def _entry(run: JobRun) -> Entry:
    if run.outcome != "completed":
        return run.failure_entry()
    return run.job.id if run.result is None else (run.job.id, run.result)


def _entry_id(entry: Entry) -> int:
    if isinstance(entry, int):
        return entry
    if isinstance(entry, tuple):
        return entry[0]
    return int(entry["id"])


def _storable_default(value: Any) -> Any:
    """``json.dumps``' fallback for values of a batch job's payload it cannot serialise."""
    return storable(repr(value))


def _exc_info(run: JobRun | None) -> Any:
    exc = run.exc if run is not None else None
    if exc is None or isinstance(exc, PayloadError | PermanentFailure | RetryLater | Snooze):
        return None
    return (type(exc), exc, exc.__traceback__)
