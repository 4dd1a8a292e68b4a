"""The claiming stage: jobs come out of the database in batches into a local queue.

The fetch loop claims with ``get_jobs`` whenever the local queue runs low. When a claim gets
less than it asked for, it sleeps until something may be runnable: a ``jobs:insert`` NOTIFY,
outcomes reported (a named queue may be free again), the next scheduled job's due time or the
poll interval. Listening, it first marks itself waiting (``wait_for_jobs``, which also returns
the due time): enqueuers notify only while some runner waits (so a busy fleet costs them no
NOTIFY), and an enqueue whose transaction was open when the mark was written commits without
notifying. So after marking it claims again at once, then after ``FIRST_RECHECK`` seconds,
doubling, up to the poll interval. A notification means a producer took the mark off: the
next idle spell marks again. Polling only (``--no-listen``), or against an extension before
0.1.5, it asks ``next_job_due_at`` instead. When claims cannot keep up (a full claim comes
back to a queue already below its low-water mark), the next claim is sent before this one's
rows are read, so the server claims while the runner reads; the queue then holds at most two
batches.

Unless ``batch_size`` is set, the batch size adapts to the backlog (:meth:`Claimer._adapt`): it
starts at ``max(2 x concurrency, 50)``; while claims come back full, it doubles (up to
``ADAPTIVE_MAX_BATCH``) when the slots run more than a batch in ``BATCH_PACE`` seconds and halves
when they run less than half of one; it halves when a claim comes back short (no backlog), and
goes back to the start size at once when a full claim holds jobs of named queues (big batches
would keep those queues' heads from the other runners).

The stage owns the local queue and the ids of every job this worker holds (claimed, not yet
reported or returned), and gives jobs back: ``return_jobs`` for unstarted ones (shutdown,
queue TTL, a sweep that declared this worker lost, a paused task or queue, a cancel: see
:meth:`Claimer.withdraw`) and ``return_unheld_jobs`` after a claim whose result may have been
lost with its connection. Rows it cannot decode go to ``on_undecodable``; slots take jobs
with :meth:`Claimer.take`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import psycopg

from . import _sql
from ._aio import wait_event
from ._db import (
    ChannelLike,
    UndecodableRow,
    claim_cursor,
    count_op,
    fetchall_lenient,
    read_claimed,
)
from ._hooks import HookDispatcher, JobsReturned
from ._job import Job
from ._record import JobRun
from ._settings import WorkerSettings
from .errors import DatabaseError, WorkerOfAnotherRole

log = logging.getLogger("gw_runner.worker")

ClaimOp = Callable[[psycopg.AsyncConnection[Any]], Awaitable[psycopg.AsyncCursor[Any]]]

#: the largest batch the adaptive batch size grows to (graphile-worker's tuned local queue)
ADAPTIVE_MAX_BATCH = 500
#: the adaptive batch size aims at about this many seconds of work per claim
BATCH_PACE = 0.1
#: after marking itself waiting, the runner claims again after this many seconds, then after
#: twice as long, and so on up to the poll interval (an enqueue that saw no waiting runner)
FIRST_RECHECK = 0.05


class Claimer:
    """Claims jobs into the local queue (see the module docstring).

    - ``claim_channel`` claims (and asks for due times); ``return_channel`` gives jobs back;
    - ``stopping()``: the worker is shutting down; ``deadline()``: until when, at shutdown,
      jobs may still be given back;
    - ``idle()``: no job runs and no outcome waits to be reported (``once`` ends then);
      ``on_drained()``: with ``once``, nothing runnable is left;
    - ``on_undecodable(rows)``: claimed rows that cannot be read (their jobs must fail).
    """

    def __init__(
        self,
        *,
        worker_id: str,
        task_names: list[str],
        settings: WorkerSettings,
        claim_channel: ChannelLike,
        return_channel: ChannelLike,
        hooks: HookDispatcher,
        stopping: Callable[[], bool],
        deadline: Callable[[], float | None],
        idle: Callable[[], bool],
        on_drained: Callable[[], None],
        on_undecodable: Callable[[list[UndecodableRow]], None],
        on_resize: Callable[[int], None] = lambda size: None,
        timer: Callable[[float], None] | None = None,
    ) -> None:
        self.worker_id = worker_id
        #: called with the seconds of each claim's round trip (metrics), or None
        self._timer = timer
        self.settings = settings
        self._task_names = task_names
        self._forbidden = list(settings.forbidden_flags) if settings.forbidden_flags else None
        #: the most jobs the next claim asks for (adapted unless settings.batch_size is set)
        self.batch_size = settings.effective_batch_size
        self._base_batch = self.batch_size
        self._adaptive = settings.batch_size is None
        #: the largest batch the adaptive size grows to
        self.max_batch = max(self._base_batch, ADAPTIVE_MAX_BATCH)
        #: jobs handed to slots so far, and (time, that count) when the pace was last taken
        self.taken = 0
        self._pace_mark = (0.0, 0)
        self._full = False  # the last claim came back full: there is a backlog
        self._named = False  # ... and it held jobs of named queues
        self._on_resize = on_resize
        self._low_water = max(settings.concurrency, self.batch_size // 2)
        self._queue_cap = self.batch_size + self.batch_size // 2
        self._claim = claim_channel
        self._return = return_channel
        self._hooks = hooks
        self._stopping = stopping
        self._deadline = deadline
        self._idle = idle
        self._on_drained = on_drained
        self._on_undecodable = on_undecodable
        self._extra = {"worker_id": worker_id}
        #: claimed jobs waiting for a slot, oldest first
        self.queue: deque[JobRun] = deque()
        #: idle slots waiting for a job
        self._waiters: deque[asyncio.Future[JobRun | None]] = deque()
        #: jobs handed to an idle slot and not started yet
        self.handoffs = 0
        #: ids of every job this worker claimed and has not reported or returned
        self.held: set[int] = set()
        #: a claim was retried on a new connection: its first attempt may have committed
        #: without its rows reaching us (see return_unheld)
        self.claim_unsure = False
        self._can_return_unheld = True
        self.pulse = asyncio.Event()  # something may be runnable: claim now
        self._demand = asyncio.Event()  # the local queue runs low
        self.due_stale = True  # ask next_job_due_at again before the next idle sleep
        self._due_at: float | None = None  # loop time of the next scheduled job, if known
        #: wait_for_jobs marks this worker waiting (listening, and the extension has it)
        self._can_wait = settings.listen and not settings.once
        self._marked = False  # marked waiting, and no notification since
        self._notifications = 0  # jobs:insert notifications (and LISTEN connections) so far
        self._recheck: float | None = None  # the next pause before claiming again, if marked
        #: jobs could not be given back (the worker exits with status 1)
        self.gave_up = False

    # -- for the other stages -------------------------------------------------------------

    def wake(self) -> None:
        """Something may be runnable: claim now."""
        self.pulse.set()

    def on_notify(self, payload: str) -> None:
        """A ``jobs:insert`` notification (or a LISTEN (re)connection, with ``""``)."""
        if log.isEnabledFor(logging.DEBUG):
            log.debug("notified: %r", payload, extra=self._extra)
        if '"count":-' in payload:
            return  # a removal
        self.due_stale = True
        self._marked = False  # a producer took the mark off (or LISTEN reconnected)
        self._notifications += 1
        self.pulse.set()

    def take_nowait(self) -> JobRun | None:
        """The next job of the local queue for a slot, or None when it is empty (then
        :meth:`take` waits). Once per job, so without a coroutine."""
        queue = self.queue
        if not queue:
            return None
        run = queue.popleft()
        self.taken += 1
        if len(queue) < self._low_water:
            self._demand.set()
        return run

    async def take(self) -> JobRun | None:
        """The next job for a slot; None when the worker stops."""
        run = self.take_nowait()
        if run is not None:
            return run
        fut: asyncio.Future[JobRun | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        self._demand.set()
        handed = await fut
        if handed is not None:
            self.handoffs -= 1
        return handed

    def release(self, ids: list[int]) -> None:
        """These jobs were reported: this worker no longer holds them."""
        self.held.difference_update(ids)

    def stop(self) -> None:
        """The worker stops: idle slots get None from :meth:`take`, the loop ends."""
        self.pulse.set()
        self._demand.set()
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)

    def expired(self, ttl: float) -> list[int]:
        """Take the jobs claimed more than ``ttl`` seconds ago and not started out of the
        local queue (to be given back)."""
        queue, limit = self.queue, time.monotonic() - ttl
        ids: list[int] = []
        while queue and queue[0].claimed_at <= limit:
            ids.append(queue.popleft().job.id)
        if ids:
            self._demand.set()
        return ids

    def withdraw(self, match: Callable[[JobRun], bool]) -> list[int]:
        """Take the jobs of the local queue that ``match`` out of it, in their order (to be
        given back: their task or queue was paused, or they were cancelled)."""
        taken = [run for run in self.queue if match(run)]
        if taken:
            kept = [run for run in self.queue if not match(run)]
            self.queue.clear()
            self.queue.extend(kept)
            self._demand.set()
        return [run.job.id for run in taken]

    def unstarted(self) -> list[int]:
        """Take every job of the local queue out of it (to be given back)."""
        ids = [run.job.id for run in self.queue]
        self.queue.clear()
        self._demand.set()
        return ids

    # -- claiming ---------------------------------------------------------------------------

    def _claim_op(self, size: int) -> ClaimOp:
        """``get_jobs`` for up to ``size`` jobs; the cursor holds the claimed rows (committed:
        the connection is in autocommit), to be read with ``read_claimed``."""
        params = (self.worker_id, self._task_names, size, self._forbidden)
        attempts = 0

        async def op(conn: psycopg.AsyncConnection[Any]) -> psycopg.AsyncCursor[Any]:
            nonlocal attempts
            attempts += 1
            if attempts > 1:  # retried after a lost connection or a transient error
                self.claim_unsure = True
            cur = claim_cursor(conn)
            timer = self._timer
            if timer is None:
                await cur.execute(_sql.GET_JOBS, params)
            else:
                began = time.perf_counter()
                await cur.execute(_sql.GET_JOBS, params)
                timer(time.perf_counter() - began)
            return cur

        return op

    async def first_claim(self) -> bool:
        """The claim at start (errors are raised: the worker cannot start); queues the jobs
        and returns whether it was full."""
        size = self.batch_size
        claim = self._claim_op(size)

        async def op(conn: psycopg.AsyncConnection[Any]) -> tuple[list[Job], list[Any]]:
            return await read_claimed(await claim(conn))

        jobs, bad = await self._claim.run(op)
        if self._stopping():
            await self.return_jobs([j.id for j in jobs] + [b.job.id for b in bad],
                                   reason="shutdown")
            return False
        self._dispatch(jobs, bad)
        return len(jobs) + len(bad) >= size

    def _send_claim(self, size: int) -> asyncio.Future[psycopg.AsyncCursor[Any]]:
        return asyncio.ensure_future(self._claim.run(self._claim_op(size)))

    async def _give_back(self, claim: asyncio.Future[psycopg.AsyncCursor[Any]]) -> None:
        """A claim sent ahead whose jobs will not run (the worker stops): return them."""
        try:
            cur = await claim
        except DatabaseError:
            return  # the claim failed: nothing was claimed
        jobs, bad = await read_claimed(cur)
        await self.return_jobs([j.id for j in jobs] + [b.job.id for b in bad],
                               reason="shutdown")

    def _demand_size(self) -> int:
        queued = len(self.queue)
        if queued >= self._low_water:
            return 0
        # A full batch where the local queue has room for it (at most 1.5 batches queued), not
        # just the gap to one batch: about half as many claims (transactions) per job, and the
        # next claim is in flight while half a batch is still queued.
        return min(self.batch_size, self._queue_cap - queued)

    def _adapt(self) -> None:
        """The adaptive batch size (see the module docstring), before a claim the local queue
        asks for."""
        size = self.batch_size
        now = time.monotonic()
        since, ran = now - self._pace_mark[0], self.taken - self._pace_mark[1]
        if not self._full:
            size = max(self._base_batch, size // 2)
        elif self._named:
            size = self._base_batch
        elif ran < size:
            # the pace is taken over at least a batch: since a batch is at least 2 x
            # concurrency, that spans at least one job's run, not one wave of completions
            return
        else:
            per_pace = ran / since * BATCH_PACE  # jobs the slots run in BATCH_PACE seconds
            if per_pace > size:
                size = min(self.max_batch, size * 2)
            elif per_pace < size / 2:
                size = max(self._base_batch, size // 2)
        self._pace_mark = (now, self.taken)
        if size != self.batch_size:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("batch size %d -> %d", self.batch_size, size, extra=self._extra)
            self.batch_size = size
            self._low_water = max(self.settings.concurrency, size // 2)
            self._queue_cap = size + size // 2
            self._on_resize(size)

    def _dispatch(self, jobs: list[Job], bad: list[UndecodableRow]) -> None:
        claimed_at = time.monotonic()
        waiters, queue, held = self._waiters, self.queue, self.held
        for job in jobs:
            held.add(job.id)
            run = JobRun(job, claimed_at)
            while waiters:
                fut = waiters.popleft()
                if not fut.done():
                    fut.set_result(run)
                    self.taken += 1
                    self.handoffs += 1  # handed to an idle slot, not started yet
                    break
            else:
                queue.append(run)
        if bad:
            held.update(row.job.id for row in bad)
            self._on_undecodable(bad)

    async def run(self, more: bool) -> None:
        """The fetch loop (see the module docstring). ``more``: the previous claim was full,
        so more may be runnable."""
        s = self.settings
        logged_error = False
        ahead: asyncio.Future[psycopg.AsyncCursor[Any]] | None = None  # a claim sent early
        ahead_want = 0
        try:
            while not self._stopping():
                if ahead is not None:
                    claim, want, ahead = ahead, ahead_want, None
                else:
                    if not more and not self.pulse.is_set():
                        if s.once:
                            if self._idle() and not self.queue and not self.handoffs:
                                log.info("nothing runnable left (--once): stopping",
                                         extra=self._extra)
                                self._on_drained()
                                return
                            await self.pulse.wait()  # outcomes reported (or stop)
                        else:
                            delay, recheck = await self._idle_delay()
                            if log.isEnabledFor(logging.DEBUG):
                                log.debug("idle: nothing runnable; next claim in %.3f s unless "
                                          "woken", delay, extra=self._extra)
                            if (delay > 0 and not await wait_event(self.pulse, delay)
                                    and not recheck):
                                self.due_stale = True  # a blind poll: ask for the due time
                        more = True
                        continue
                    self._demand.clear()
                    if self._adaptive:
                        self._adapt()
                    want = self._demand_size()
                    if want <= 0:
                        await self._demand.wait()
                        continue
                    if self.claim_unsure:
                        await self.return_unheld()
                    self.pulse.clear()
                    claim = self._send_claim(want)
                try:
                    cur = await claim
                except DatabaseError as e:
                    if isinstance(e, WorkerOfAnotherRole):
                        raise  # retrying cannot help: the worker stops
                    if self._stopping():
                        return
                    if not logged_error:
                        log.error("claiming jobs failed: %s", e, extra=self._extra)
                        logged_error = True
                    await wait_event(self.pulse, s.poll_interval)
                    more = True
                    continue
                except Exception:
                    # not a database error: a bug, or something no one foresaw. The claim may
                    # have committed: give back whatever this worker locked and does not hold
                    # before the next claim, and go on after a pause.
                    if self._stopping():
                        return
                    log.exception("claiming jobs failed unexpectedly; the jobs of this claim, "
                                  "if any, are given back before the next one", extra=self._extra)
                    self.claim_unsure = True
                    await wait_event(self.pulse, s.poll_interval)
                    more = True
                    continue
                logged_error = False
                got = cur.rowcount
                more = got >= want
                queued = len(self.queue)
                if more and not self._stopping() and queued < self._low_water:
                    if self._adaptive:
                        self._full = True  # (named: as in the claim before, rows unread)
                        self._adapt()
                    ahead_want = min(self.batch_size, 2 * self.batch_size - queued - got)
                    if ahead_want > 0:
                        if log.isEnabledFor(logging.DEBUG):
                            log.debug("claims are behind: claiming %d more before reading %d",
                                      ahead_want, got, extra=self._extra)
                        self.pulse.clear()
                        ahead = self._send_claim(ahead_want)
                        await asyncio.sleep(0)  # the claim goes out before the rows are read
                jobs, bad = await read_claimed(cur)
                if self._stopping():
                    await self.return_jobs([j.id for j in jobs] + [b.job.id for b in bad],
                                           reason="shutdown")
                    return
                self._dispatch(jobs, bad)
                if self._adaptive:
                    self._full = more
                    self._named = more and any(job.queue_name is not None for job in jobs)
        except asyncio.CancelledError:
            if ahead is not None:
                ahead.cancel()  # stuck: its jobs (if any) are left to the stale-lock sweeps
                ahead = None
            raise
        finally:
            if ahead is not None:
                await self._give_back(ahead)

    # -- due times ----------------------------------------------------------------------------

    async def _idle_delay(self) -> tuple[float, bool]:
        """Seconds to sleep when nothing is runnable (0: claim again at once, after marking
        this worker waiting): until the next job is due, at most the poll interval, or the
        next recheck; and whether that sleep is a recheck."""
        loop = asyncio.get_running_loop()
        if self._can_wait and not self._marked:
            due = await self._mark_waiting()
            if self._marked:
                self.due_stale = False
                self._set_due(due)
                self._recheck = FIRST_RECHECK
                return 0.0, True
        if self.due_stale:
            self.due_stale = False
            try:
                due = await self._claim.run(self._next_due_op)
            except DatabaseError as e:
                log.warning("next_job_due_at failed: %s", e, extra=self._extra)
                due = (None, None)
            self._set_due(due)
        delay = self.settings.poll_interval
        if self._due_at is not None:
            until_due = self._due_at - loop.time()
            if until_due <= delay:
                self.due_stale = True  # after this one, ask again
                delay = max(0.0, until_due)
        recheck = self._recheck
        if self._marked and recheck is not None and recheck < delay:
            nxt = recheck * 2
            self._recheck = nxt if nxt < self.settings.poll_interval else None
            return recheck, True
        return delay, False

    def _set_due(self, due: tuple[datetime | None, datetime | None]) -> None:
        due_at, db_now = due
        if due_at is not None and db_now is not None:
            seconds = (due_at - db_now).total_seconds()
            # a few ms late rather than early: the job must be due when we claim
            self._due_at = asyncio.get_running_loop().time() + max(0.0, seconds) + 0.002
        else:
            self._due_at = None

    async def _mark_waiting(self) -> tuple[datetime | None, datetime | None]:
        """``wait_for_jobs``: mark this worker waiting; returns (due time, database time).
        An extension before 0.1.5, or a role without the function, turns marking off (the
        runner then asks ``next_job_due_at``; enqueuers notify on every job anyway)."""
        heard = self._notifications
        try:
            due = await self._claim.run(self._wait_op)
        except DatabaseError as e:
            if e.sqlstate in ("42501", "42883"):
                log.warning(
                    "cannot call graphile_worker.wait_for_jobs (%s): falling back to "
                    "next_job_due_at. Upgrade the extension to 0.1.5 or later, or grant the "
                    "runner level again (grant_role)", e, extra=self._extra,
                )
                self._can_wait = False
            else:
                log.warning("wait_for_jobs failed: %s", e, extra=self._extra)
            return (None, None)
        # A notification that arrived while the call ran may have taken this very mark off
        # (the mark is visible from its commit on, before the reply is read here): then the
        # worker is not marked, and it marks itself again at its next idle spell.
        self._marked = self._notifications == heard
        return due

    async def _wait_op(
        self, conn: psycopg.AsyncConnection[Any]
    ) -> tuple[datetime | None, datetime | None]:
        cur = await conn.execute(
            _sql.WAIT_FOR_JOBS, (self.worker_id, self._task_names, self._forbidden), binary=True
        )
        rows = await fetchall_lenient(cur)  # a time Python cannot hold counts as unknown
        return (rows[0][0], rows[0][1]) if rows else (None, None)

    async def stop_waiting(self) -> None:
        """At shutdown: remove this worker's waiting mark (enqueuers would otherwise count
        it as a live runner for up to 10 minutes: see wait_for_jobs)."""
        if not self._can_wait:
            return
        try:
            await self._claim.run(count_op(_sql.STOP_WAITING, (self.worker_id, self._task_names)))
        except DatabaseError as e:
            log.debug("could not remove the waiting mark: %s", e, extra=self._extra)

    async def _next_due_op(
        self, conn: psycopg.AsyncConnection[Any]
    ) -> tuple[datetime | None, datetime | None]:
        cur = await conn.execute(
            _sql.NEXT_JOB_DUE_AT, (self._task_names, self._forbidden), binary=True
        )
        rows = await fetchall_lenient(cur)  # a time Python cannot hold counts as unknown
        return (rows[0][0], rows[0][1]) if rows else (None, None)

    # -- giving jobs back -----------------------------------------------------------------------

    async def return_unheld(self) -> None:
        """A claim was retried on a new connection, so its first attempt may have committed
        with its rows lost on the way: jobs locked by this worker that it does not hold would
        stay locked until reset_locked's 4-hour rule (the worker is alive, so no stale-worker
        sweep frees them). Give back every job locked by this worker except those it holds.
        Runs before a new claim (or at shutdown): no claim of this worker is in flight."""
        self.claim_unsure = False
        if not self._can_return_unheld:
            return
        held = sorted(self.held)
        try:
            count = await self._claim.run(count_op(_sql.RETURN_UNHELD_JOBS,
                                                    (self.worker_id, held)))
        except DatabaseError as e:
            if e.sqlstate in ("42501", "42883"):
                log.warning(
                    "cannot call graphile_worker.return_unheld_jobs (%s): jobs of a claim whose "
                    "result was lost stay locked until reset_locked frees them; grant the "
                    "runner level again (grant_role) after upgrading the extension", e,
                    extra=self._extra,
                )
                self._can_return_unheld = False
                return
            log.warning("return_unheld_jobs failed (%s); trying again before the next claim",
                        e, extra=self._extra)
            self.claim_unsure = True
            return
        if count:
            log.warning("a claim's result was lost with its connection: returned the %d job(s) "
                        "it had locked to the queue", count, extra=self._extra)

    async def return_jobs(self, ids: list[int], *, reason: str) -> None:
        """Give back claimed jobs that were not started (their attempt is refunded)."""
        if not ids:
            return
        try:
            count = await self._return.run(
                count_op(_sql.RETURN_JOBS, (self.worker_id, ids)), deadline=self._deadline()
            )
        except DatabaseError as e:
            if self._can_return_unheld:
                # Refused or lost: this worker no longer holds them, so return_unheld_jobs
                # (before the next claim, or at shutdown) gives them back with any other
                # job it locks and does not hold. Woken so that is now, not after an idle wait.
                log.warning("could not return %d claimed job(s) (%s): %s; giving them back "
                            "before the next claim", len(ids), reason, e, extra=self._extra)
                self.held.difference_update(ids)
                self.claim_unsure = True
                self.pulse.set()
                return
            log.error(
                "could not return %d claimed job(s) (%s): %s; they stay locked by %s until the "
                "stale-lock sweep frees them", len(ids), reason, e, self.worker_id,
                extra=self._extra,
            )
            self.gave_up = True
            return
        self.held.difference_update(ids)
        if reason == "cancelled":  # cancel_jobs: the database ends them as cancelled
            log.info("gave back %d cancelled job(s) not started yet: they end as cancelled",
                     count, extra=self._extra)
        else:
            log.info("returned %d unstarted job(s) to the queue (%s)", count, reason,
                     extra=self._extra)
        if self._hooks:
            self._hooks.emit("on_jobs_returned",
                             JobsReturned(self.worker_id, tuple(ids), count, reason))
