"""What wakes and tidies a worker besides its own claims: the LISTEN connection (a job was
added: claim now; a flow-control notification goes to ``_control``), housekeeping (give back
jobs not started within the local queue's TTL; ``reset_locked`` at start and every 8-10
minutes) and the pruner (``prune_finished_jobs`` every ``prune_interval``: finished jobs kept
past their retention are deleted)."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from . import _sql
from ._claiming import Claimer
from ._control import CHANNEL as CONTROL_CHANNEL
from ._db import (
    FATAL_CONNECT_STATES,
    ChannelLike,
    backoff_delay,
    connect_kwargs,
    count_op,
    is_connection_error,
)
from ._pool import AsyncPool, pool_conninfo
from ._settings import WorkerSettings
from ._text import first_line
from .errors import DatabaseError

log = logging.getLogger("gw_runner.worker")

#: Most finished jobs one ``prune_finished_jobs`` call deletes. The call runs on the report
#: connection, so reports wait for it: 2,000 rows take some 20-40 ms on a busy server, 10,000
#: (the function's default) 100-200 ms. With calls of 10,000 back to back a draining runner
#: kept 0.67-0.75x of its rate; paced calls of 2,000 kept all of it (docs/history.md).
PRUNE_BATCH = 2_000
#: Most calls in one round of pruning (a round goes on while calls delete a full batch): at
#: most 500,000 rows a round, so a large backlog is worked off over several rounds.
PRUNE_MAX_CALLS = 250
#: The longest wait after rounds that failed in a row, in seconds (unless the interval is
#: longer).
PRUNE_MAX_BACKOFF = 300.0


class Listener:
    """A ``LISTEN "jobs:insert"`` and ``"graphile_worker:control"`` connection of the worker's
    own (never a pooled one: LISTEN needs a session), reopened with backoff. A job
    notification wakes the claimer (``on_notify``); a flow-control one goes to ``on_control``."""

    def __init__(
        self,
        *,
        worker_id: str,
        settings: WorkerSettings,
        pool: AsyncPool | None,
        on_notify: Callable[[str], None],
        on_control: Callable[[str], None],
        stopping: Callable[[], bool],
    ) -> None:
        self.worker_id = worker_id
        self.settings = settings
        self._pool = pool
        self._on_notify = on_notify
        self._on_control = on_control
        self._stopping = stopping
        #: the LISTEN connection is up
        self.listening = False

    async def run(self) -> None:
        s = self.settings
        conninfo = s.connection
        kwargs = connect_kwargs(
            conninfo, application_name="gw_runner listen", prepare=s.prepared_statements
        )
        if self._pool is not None:
            conninfo, pool_kwargs = await pool_conninfo(self._pool)
            kwargs = {**pool_kwargs, **connect_kwargs(
                conninfo, application_name="gw_runner listen", prepare=s.prepared_statements
            )}
        failures = 0
        extra = {"worker_id": self.worker_id}
        while not self._stopping():
            conn: psycopg.AsyncConnection[Any] | None = None
            try:
                conn = await psycopg.AsyncConnection.connect(conninfo, **kwargs)
                await conn.execute(_sql.LISTEN)
                await conn.execute(_sql.LISTEN_CONTROL)
                self.listening = True
                log.debug("listening on jobs:insert and graphile_worker:control", extra=extra)
                if failures:
                    log.warning("LISTEN restored after %d failed attempt(s)", failures,
                                extra=extra)
                failures = 0
                self._on_notify("")  # jobs may have been added while we were not listening
                async for notify in conn.notifies():
                    if notify.channel == CONTROL_CHANNEL:
                        self._on_control(notify.payload)
                    else:
                        self._on_notify(notify.payload)
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError) as e:
                self.listening = False
                if self._stopping():
                    return
                failures += 1
                delay = backoff_delay(failures)
                if getattr(e, "sqlstate", None) in FATAL_CONNECT_STATES:
                    delay = max(delay, s.poll_interval)
                log.warning(
                    "LISTEN connection %s (%s); polling every %g s meanwhile; retrying in "
                    "%.1f s (attempt %d)", "lost" if is_connection_error(e, conn) else "failed",
                    first_line(e), s.poll_interval, delay, failures, extra=extra,
                )
                await asyncio.sleep(delay)
            finally:
                self.listening = False
                if conn is not None:
                    try:
                        await conn.close()
                    except Exception:
                        pass


class Housekeeping:
    """Returns jobs not started within the local queue's TTL (``return_jobs``) and runs
    ``reset_locked`` (jobs locked for more than 4 hours) every 8-10 minutes at random."""

    def __init__(
        self,
        *,
        worker_id: str,
        settings: WorkerSettings,
        claimer: Claimer,
        channel: ChannelLike,
        stopping: Callable[[], bool],
    ) -> None:
        self.worker_id = worker_id
        self.settings = settings
        self._claimer = claimer
        self._channel = channel
        self._stopping = stopping
        self._can_reset_locked = True

    async def run(self) -> None:
        s = self.settings
        ttl = s.local_queue_ttl
        tick = max(0.05, min(ttl / 4, 5.0))
        low, high = s.reset_locked_interval
        next_reset = time.monotonic() + random.uniform(low, high)
        while not self._stopping():
            await asyncio.sleep(tick)
            expired = self._claimer.expired(ttl)
            if expired:
                await self._claimer.return_jobs(expired, reason=f"not started within {ttl:g} s")
            now = time.monotonic()
            if now >= next_reset:
                next_reset = now + random.uniform(low, high)
                await self.reset_locked()

    async def reset_locked(self) -> None:
        """Unlock jobs and queues locked for more than 4 hours. A role not allowed to is
        warned once; a missing function (no extension) is raised."""
        if not self._can_reset_locked:
            return
        op: Callable[[psycopg.AsyncConnection[Any]], Awaitable[int]] = count_op(
            _sql.RESET_LOCKED
        )
        try:
            count = await self._channel.run(op)
        except DatabaseError as e:
            extra = {"worker_id": self.worker_id}
            if e.sqlstate == "42501":
                log.warning("not allowed to run graphile_worker.reset_locked (%s); the "
                            "stale-lock sweep is left to another role", e, extra=extra)
                self._can_reset_locked = False
                return
            if isinstance(e.__cause__, psycopg.Error) and e.sqlstate in ("42883", "3F000"):
                raise
            log.warning("reset_locked failed: %s", e, extra=extra)
            return
        if count:
            log.info("reset_locked unlocked %d job(s) locked for more than 4 hours", count,
                     extra={"worker_id": self.worker_id})


class Pruner:
    """Deletes the finished jobs kept past their retention: a round every ``prune_interval``
    seconds (+-25 % jitter), the first one within the first interval. A round calls
    ``prune_finished_jobs`` again while a call deletes a full batch (:data:`PRUNE_BATCH`), at
    most :data:`PRUNE_MAX_CALLS` times, pausing as long as the last call took (so pruning
    holds the report connection at most half the time) and letting reports go first. One
    runner of a fleet prunes at a time: the others' calls return 0 at once. A role that may not
    prune (or an extension without the function) is warned once and pruning stops; other
    errors are logged and the next round tries again."""

    def __init__(
        self,
        *,
        worker_id: str,
        interval: float,
        channel: ChannelLike,
        stopping: Callable[[], bool],
    ) -> None:
        self.worker_id = worker_id
        self.interval = interval
        self._channel = channel
        self._stopping = stopping
        self._extra = {"worker_id": worker_id}
        #: finished jobs this runner deleted so far (for logs and tests)
        self.pruned = 0
        #: rounds in a row that failed: the next one waits twice as long for each, up to
        #: PRUNE_MAX_BACKOFF (or the interval, when that is longer)
        self._failures = 0

    def next_delay(self, *, jitter: bool = True) -> float:
        """Seconds until the next round: the interval (+-25 % with ``jitter``), doubled for
        each round in a row that failed, at most :data:`PRUNE_MAX_BACKOFF` (or the interval
        when that is longer)."""
        delay = self.interval
        if self._failures:
            delay = min(delay * 2 ** min(self._failures, 20), max(PRUNE_MAX_BACKOFF, delay))
        return delay * random.uniform(0.75, 1.25) if jitter else delay

    async def run(self) -> None:
        while not self._stopping():
            await asyncio.sleep(self.next_delay())
            if self._stopping() or not await self.prune_round():
                return

    async def prune_round(self) -> bool:
        """One round; False when pruning is not possible for this runner (warned)."""
        started = time.monotonic()
        op = count_op(_sql.PRUNE_FINISHED_JOBS, (PRUNE_BATCH,))
        deleted = calls = 0
        full = False
        pause = 0.0
        while calls < PRUNE_MAX_CALLS and not self._stopping():
            if calls:
                # reports waiting for the channel go first, and pruning takes at most half of it
                await asyncio.sleep(pause)
            call_started = time.monotonic()
            try:
                count = await self._channel.run(op)
            except DatabaseError as e:
                if e.sqlstate in ("42501", "42883"):
                    log.warning(
                        "not pruning finished jobs: cannot call "
                        "graphile_worker.prune_finished_jobs (%s); %s", first_line(e),
                        "upgrade the extension to 0.1.7 or later" if e.sqlstate == "42883"
                        else "pruning is left to another role (grant this one the runner "
                        "level, or run prune_finished_jobs from cron)", extra=self._extra,
                    )
                    return False
                self._failures += 1
                log.warning("pruning finished jobs failed (%s); trying again in about %.2g s",
                            first_line(e), self.next_delay(jitter=False), extra=self._extra)
                break
            self._failures = 0
            calls += 1
            deleted += count
            pause = time.monotonic() - call_started
            full = count >= PRUNE_BATCH
            if not full:
                break
        self.pruned += deleted
        took = time.monotonic() - started
        if deleted:
            log.info(
                "pruned %d finished job(s) past their retention in %.2f s (%d call(s))%s",
                deleted, took, calls,
                "; more remain, the next round goes on" if full else "",
                extra={**self._extra, "pruned": deleted},
            )
        else:
            log.debug("pruning: no finished job past its retention (%.3f s)", took,
                      extra=self._extra)
        return True
