"""Heartbeats and the stale-worker sweep: the runner side of crash recovery.

A runner with recovery on (the default):

- registers itself with ``register_worker`` before its first claim, giving its stale
  threshold (``stale_after``);
- calls ``heartbeat`` every ``heartbeat_interval``. The loop survives every error: a lost
  connection is reopened (with backoff, by the channel), an SQL error is logged and retried
  with backoff, and each failure says how long ago the last heartbeat reached the database.
  A heartbeat that returns ``false`` means that another runner's sweep declared this one lost
  (it was paused, or could not reach the database, for longer than the threshold) and
  released its jobs: that is logged at ERROR, the claimed-but-unstarted jobs are given back
  (``on_swept``), and the runner registers again. Outcomes of the jobs it was running come
  back from ``report_jobs`` as ``lost`` (the database refuses them: the jobs may be held by
  another runner now) and are logged;
- calls ``recover_stale_workers`` every ``sweep_interval`` (with +-25 % jitter), always right
  after a successful heartbeat of its own (so a runner never sweeps itself), and only once
  its own heartbeats have succeeded without a gap for ``min(stale_after, 60 s)``: after an
  outage of the database every runner gets that long to beat again before anyone sweeps;
- deregisters with ``deregister_worker`` at a clean shutdown, after its jobs were returned or
  reported. If some outcome could not be reported it does *not* deregister: its registration
  goes stale and the sweep releases whatever it still holds.

Every statement is one call of a ``graphile_worker`` function from :mod:`gw_runner._sql`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import psycopg

from . import _sql
from ._aio import wait_event
from ._db import ChannelLike, backoff_delay, fetchall_lenient
from ._settings import WorkerSettings
from ._text import first_line, fmt_time
from .errors import DatabaseError, WorkerOfAnotherRole

log = logging.getLogger("gw_runner.recovery")

T = TypeVar("T")

#: The longest a runner waits, after its own heartbeats resumed, before it sweeps.
SWEEP_GRACE_CAP = 60.0
#: SQLSTATEs after which recovery is switched off instead of failing the runner: the
#: installed SQL has no recovery functions (older version), or this role may not call them.
_UNAVAILABLE_STATES = frozenset({"42883", "42501"})


class Recovery:
    """The heartbeat/sweep loop of one worker.

    ``beat_channel`` and ``control_channel`` return the channels to use (looked up at each
    call, so the worker may replace them): heartbeats and sweeps go over the first, register
    and deregister over the second. ``on_swept`` is awaited when the worker learns it was
    swept, before it registers again; ``on_recovered(lost_worker_id, jobs, last_heartbeat_at)``
    is called for each lost worker this worker's sweep released (the hooks' event).
    """

    def __init__(
        self,
        worker_id: str,
        settings: WorkerSettings,
        *,
        beat_channel: Callable[[], ChannelLike],
        control_channel: Callable[[], ChannelLike],
        on_swept: Callable[[], Awaitable[None]],
        on_recovered: Callable[[str, int, datetime | None], None] | None = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        self.worker_id = worker_id
        self.settings = settings
        self._beat_channel = beat_channel
        self._control_channel = control_channel
        self._on_swept = on_swept
        self._on_recovered = on_recovered
        self._info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "heartbeat_interval": settings.heartbeat_interval,
            **(info or {}),
        }
        self._extra = {"worker_id": worker_id}
        self.registered = False
        self.available = True
        self._can_sweep = True
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_ok = 0.0  # monotonic time of the last heartbeat the database accepted
        self._last_ok_sent = 0.0  # ...and when it was sent
        self._confirmation: asyncio.Future[bool] | None = None
        self._healthy_since: float | None = None
        self._failures = 0
        self._next_beat = 0.0
        self._next_sweep = 0.0
        #: counters, for logs and tests
        self.heartbeats = 0
        self.times_swept = 0
        self.jobs_recovered = 0

    @property
    def sweep_grace(self) -> float:
        return min(self.settings.stale_after, SWEEP_GRACE_CAP)

    def holds_jobs(self) -> bool:
        """True when no sweep can have declared this worker lost yet: the last heartbeat the
        database accepted was sent less than (80 % of) the stale threshold ago. False after a
        pause (SIGSTOP, a frozen VM) or an outage that long: :meth:`confirm` first."""
        if not self.registered:
            return False
        return time.monotonic() - self._last_ok_sent < 0.8 * self.settings.stale_after

    async def confirm(self) -> bool:
        """Send a heartbeat now and wait for its answer: True when this worker is still
        registered (nothing of its was released), False when it had been declared lost (its
        unstarted jobs were given back, it registered again)."""
        if self._confirmation is None or self._confirmation.done():
            self._confirmation = asyncio.get_running_loop().create_future()
        self._wake.set()
        return await asyncio.shield(self._confirmation)

    def _confirm(self, value: bool) -> None:
        if self._confirmation is not None and not self._confirmation.done():
            self._confirmation.set_result(value)

    # -- registration ----------------------------------------------------------------------

    async def register(self) -> bool:
        """Register at start. Returns False (and switches recovery off, with a warning) when
        the installed SQL has no recovery functions or this role may not call them; other
        errors are raised."""
        started = time.monotonic()
        try:
            await self._control_channel().run(self._register_op)
        except DatabaseError as e:
            if e.sqlstate in _UNAVAILABLE_STATES:
                self.available = False
                log.warning(
                    "crash recovery is off: cannot call graphile_worker.register_worker (%s); "
                    "%s. Jobs of a crashed runner are then released only by the 4-hour "
                    "stale-lock rule",
                    e,
                    "upgrade the extension" if e.sqlstate == "42883"
                    else "grant this role the runner level",
                    extra=self._extra,
                )
                return False
            raise
        now = time.monotonic()
        self.registered = True
        self._last_ok = now
        self._last_ok_sent = started
        self._healthy_since = now
        log.info(
            "registered for crash recovery: heartbeat every %g s, lost after %g s without one, "
            "sweep every ~%g s", self.settings.heartbeat_interval, self.settings.stale_after,
            self.settings.sweep_interval, extra=self._extra,
        )
        return True

    async def _register_op(self, conn: psycopg.AsyncConnection[Any]) -> None:
        info = json.dumps(self._info, separators=(",", ":"), default=str)
        await conn.execute(
            _sql.REGISTER_WORKER,
            (self.worker_id, timedelta(seconds=self.settings.stale_after), info),
        )

    # -- the loop --------------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        s = self.settings
        now = time.monotonic()
        self._next_beat = now + s.heartbeat_interval
        # the first sweep: after the grace period, at a random point of one sweep interval
        self._next_sweep = now + self.sweep_grace + random.uniform(0, s.sweep_interval)
        self._task = asyncio.create_task(self._loop(), name="gw-recovery")
        return self._task

    def check_soon(self) -> None:
        """Send a heartbeat now (e.g. a report came back ``lost``: were we swept?)."""
        self._wake.set()

    async def _loop(self) -> None:
        s = self.settings
        while True:
            try:
                now = time.monotonic()
                wait = min(self._next_beat, self._next_sweep) - now
                woken = False
                if wait > 0:
                    woken = await wait_event(self._wake, wait)
                self._wake.clear()
                now = time.monotonic()
                sweep_due = now >= self._next_sweep
                if not (woken or sweep_due or now >= self._next_beat):
                    continue
                ok = await self._beat()
                if not ok:
                    delay = min(s.heartbeat_interval, backoff_delay(self._failures))
                    self._next_beat = time.monotonic() + delay
                    # a sweep follows a successful heartbeat: a due sweep waits for the next
                    # beat too (it did not, and the loop spun without a pause while the
                    # database was out of reach)
                    self._next_sweep = max(self._next_sweep, self._next_beat)
                    continue
                self._next_beat = time.monotonic() + s.heartbeat_interval
                if sweep_due:
                    healthy_for = time.monotonic() - (self._healthy_since or time.monotonic())
                    if healthy_for >= self.sweep_grace:
                        await self._sweep()
                        self._next_sweep = time.monotonic() + s.sweep_interval * random.uniform(
                            0.75, 1.25
                        )
                    else:
                        self._next_sweep = time.monotonic() + (self.sweep_grace - healthy_for)
            except (asyncio.CancelledError, WorkerOfAnotherRole):
                raise
            except Exception:  # never stop silently: log and carry on
                self._failures += 1
                delay = min(s.heartbeat_interval, backoff_delay(self._failures))
                log.exception(
                    "unexpected error in the heartbeat loop; retrying in %.1f s", delay,
                    extra=self._extra,
                )
                self._next_beat = time.monotonic() + delay

    async def _beat(self) -> bool:
        """One heartbeat (or registration, when not registered); True when it reached the
        database and this worker is registered."""
        s = self.settings
        call_started = time.monotonic()
        try:
            if self.registered:
                alive = await self._beat_channel().run(self._heartbeat_op)
            else:
                await self._control_channel().run(self._register_op)
                alive = True
                self.registered = True
                log.warning("registered again as %s", self.worker_id, extra=self._extra)
        except (asyncio.CancelledError, WorkerOfAnotherRole):
            raise  # another role holds this worker id: retrying cannot help (the worker stops)
        except Exception as e:
            self._failures += 1
            self._healthy_since = None
            since = time.monotonic() - self._last_ok
            log.error(
                "heartbeat failed (%s); retrying; the last heartbeat reached the database "
                "%.1f s ago, this worker counts as lost after %g s (attempt %d)",
                first_line(e), since, s.stale_after,
                self._failures, extra=self._extra,
            )
            return False
        now = time.monotonic()
        gap = now - self._last_ok
        if not alive:
            self.registered = False
            self.times_swept += 1
            log.error(
                "WORKER DECLARED LOST: %s is no longer registered: another runner's sweep "
                "released its jobs because no heartbeat reached the database for more than "
                "%g s (the last one %.1f s ago: was the process paused, or the database out of "
                "reach?). Jobs it is still running may run elsewhere too; their outcomes will "
                "be refused ('lost'). Returning its unstarted jobs and registering again",
                self.worker_id, s.stale_after, gap, extra=self._extra,
            )
            await self._on_swept()
            self._confirm(False)  # a slot waiting to start a job it claimed: not its any more
            try:
                await self._control_channel().run(self._register_op)
            except (asyncio.CancelledError, WorkerOfAnotherRole):
                raise
            except Exception as e:
                self._failures += 1
                self._healthy_since = None
                log.error("registering again failed (%s); retrying", e, extra=self._extra)
                return False
            self.registered = True
            log.warning("registered again as %s", self.worker_id, extra=self._extra)
            self._healthy_since = now
            self._last_ok = now
            self._last_ok_sent = call_started
            self._failures = 0
            return True
        elif self._failures:
            log.warning(
                "heartbeat restored after %d failed attempt(s); %.1f s without one",
                self._failures, gap, extra=self._extra,
            )
            self._healthy_since = now
        elif now - call_started > s.heartbeat_interval:
            log.warning(
                "heartbeat restored: the database was out of reach for %.1f s (reconnected); "
                "%.1f s without a heartbeat (lost after %g s)", now - call_started, gap,
                s.stale_after, extra=self._extra,
            )
            self._healthy_since = now
        elif gap > 2 * s.heartbeat_interval + 1.0:
            log.warning(
                "no heartbeat for %.1f s (the heartbeat interval is %g s): the process was "
                "paused or its event loop blocked (a handler doing blocking work in an async "
                "function?); after %g s it would count as lost", gap, s.heartbeat_interval,
                s.stale_after, extra=self._extra,
            )
            self._healthy_since = now
        if self._healthy_since is None:
            self._healthy_since = now
        self._failures = 0
        self._last_ok = now
        self._last_ok_sent = call_started
        self.heartbeats += 1
        self._confirm(True)
        return True

    async def _heartbeat_op(self, conn: psycopg.AsyncConnection[Any]) -> bool:
        cur = await conn.execute(_sql.HEARTBEAT, (self.worker_id,))
        row = await cur.fetchone()
        return bool(row and row[0])

    async def _sweep(self) -> None:
        if not self._can_sweep:
            return
        try:
            rows = await self._beat_channel().run(self._sweep_op)
        except asyncio.CancelledError:
            raise
        except DatabaseError as e:
            if e.sqlstate == "42501":
                log.warning(
                    "not allowed to run graphile_worker.recover_stale_workers (%s); sweeping is "
                    "left to other runners", e, extra=self._extra,
                )
                self._can_sweep = False
                return
            log.warning("stale-worker sweep failed (%s); trying again later", e,
                        extra=self._extra)
            return
        total = 0
        for worker_id, last_heartbeat_at, recovered in rows:
            total += recovered or 0
            log.warning(
                "recovered %d job(s) of lost worker %s (last heartbeat %s); they will be "
                "retried (the crashed attempt counts)",
                recovered or 0, worker_id, fmt_time(last_heartbeat_at),
                extra={**self._extra, "lost_worker_id": worker_id, "recovered": recovered},
            )
            if self._on_recovered is not None:
                try:
                    self._on_recovered(worker_id, recovered or 0, last_heartbeat_at)
                except Exception:
                    log.exception("the jobs-recovered hook failed", extra=self._extra)
        if rows:
            self.jobs_recovered += total
            log.info(
                "stale-worker sweep: recovered %d job(s) of %d lost worker(s) (%d recovered "
                "by this runner so far)", total, len(rows), self.jobs_recovered,
                extra={**self._extra, "recovered": total},
            )

    async def _sweep_op(
        self, conn: psycopg.AsyncConnection[Any]
    ) -> list[tuple[Any, ...]]:
        cur = await conn.execute(
            _sql.RECOVER_STALE_WORKERS, (timedelta(seconds=self.settings.recovery_delay),),
            binary=True,  # times come back the same whatever the session's DateStyle
        )
        return await fetchall_lenient(cur)

    # -- stopping --------------------------------------------------------------------------

    async def stop(self, *, clean: bool, deadline: float | None = None) -> None:
        """Stop the loop; deregister when ``clean`` (every job was returned or reported)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if not self.registered:
            return
        if not clean:
            log.warning(
                "not deregistering %s: some of its jobs may still be locked; the stale-worker "
                "sweep of another runner will release them %g s after the last heartbeat",
                self.worker_id, self.settings.stale_after, extra=self._extra,
            )
            return

        async def op(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute(_sql.DEREGISTER_WORKER, (self.worker_id,))

        try:
            await self._control_channel().run(op, deadline=deadline)
        except Exception as e:
            log.warning(
                "could not deregister (%s); the registration goes stale and is removed by a "
                "sweep", e, extra=self._extra,
            )
            return
        self.registered = False
        log.debug("deregistered", extra=self._extra)
