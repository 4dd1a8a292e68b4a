"""Cron in the runner: call ``schedule_crontab`` at every minute boundary.

All of cron is SQL (parsing, due times, catch-up, backfill, the exactly-once guard; see
docs/cron.md). The runner:

- reads the crontab file once at start and checks it with ``parse_crontab``; an invalid
  crontab stops the runner (exit code 2) with the database's line-numbered message;
- calls ``schedule_crontab(crontab, since)`` at start and then just after every minute
  boundary of the *database's* clock, ``since`` being the ``now`` of the previous successful
  call (null on the first). Minutes missed in between (a paused process, an overloaded
  machine, a database outage) are therefore scheduled by the next successful call;
- keeps going on errors: a failed call is logged and retried with backoff; ``since`` stays
  at the last success, so nothing is lost.

Any number of runners (and pg_cron or other timers) may schedule the same crontab: the SQL
guard schedules each minute once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import psycopg

from . import _sql
from ._db import ChannelLike, backoff_delay
from ._text import first_line
from .errors import ConfigurationError, CrontabError, GraphileWorkerError

log = logging.getLogger("gw_runner.cron")

T = TypeVar("T")


class CronScheduler:
    """Schedules the items of one crontab file at every minute boundary.

    ``channel`` returns the channel the calls go over (durable commits: a scheduled minute
    must not be lost in a server crash). ``task_names``: the tasks this runner handles (items
    of other tasks only get a warning: another runner may handle them).
    """

    def __init__(
        self,
        path: str,
        *,
        worker_id: str,
        channel: Callable[[], ChannelLike],
        task_names: Sequence[str],
    ) -> None:
        self.path = path
        self._channel = channel
        self._task_names = set(task_names)
        self._extra = {"worker_id": worker_id}
        self.text = ""
        self.items: list[tuple[str, str, str]] = []
        self._task: asyncio.Task[None] | None = None
        #: counters, for logs and tests
        self.calls = 0
        self.jobs_scheduled = 0

    async def prepare(self) -> None:
        """Read and check the crontab. Raises :class:`ConfigurationError` when the file
        cannot be read and :class:`~gw_runner.errors.CrontabError` when it is invalid."""
        try:
            with open(self.path, encoding="utf-8") as f:
                self.text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigurationError(f"crontab {self.path}: cannot read it: {e}") from e

        async def op(conn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            cur = await conn.execute(_sql.PARSE_CRONTAB, (self.text,))
            return await cur.fetchall()

        self.items = [(r[0], r[1], r[2]) for r in await self._channel().run(op)]
        log.info(
            "crontab %s: %d item(s)%s", self.path, len(self.items),
            ": " + ", ".join(f"{schedule} {ident}" for ident, _, schedule in self.items)
            if self.items else "", extra=self._extra,
        )
        for ident, task, _ in self.items:
            if task not in self._task_names:
                log.warning(
                    "crontab %s: item %s schedules task %r, which this runner does not handle; "
                    "its jobs wait for a runner that does", self.path, ident, task,
                    extra=self._extra,
                )

    async def prepare_checked(self) -> GraphileWorkerError | None:
        """:meth:`prepare`, with an unreadable file or an invalid crontab logged and returned
        (the runner then exits with status 2). Other database errors are raised."""
        try:
            await self.prepare()
        except (ConfigurationError, CrontabError) as e:
            text = str(e)
            if isinstance(e, CrontabError):
                text = f"crontab {self.path} is invalid: {text}"
            log.error("%s", text, extra=self._extra)
            return e
        return None

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self._loop(), name="gw-cron")
        return self._task

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _loop(self) -> None:
        if not self.items:
            return
        since: datetime | None = None
        failures = 0
        loop = asyncio.get_running_loop()
        while True:
            called = loop.time()
            try:
                count, db_now, idents, times, backfilled = await self._channel().run(
                    self._schedule_op(since)
                )
            except asyncio.CancelledError:
                raise
            except Exception as e:  # never stop: log, retry; `since` keeps what was missed
                failures += 1
                delay = backoff_delay(failures, base=1.0)
                log.error(
                    "cron: scheduling failed (%s); retrying in %.1f s; minutes missed "
                    "meanwhile are scheduled then",
                    first_line(e), delay,
                    extra=self._extra,
                )
                await asyncio.sleep(delay)
                continue
            if failures:
                log.warning("cron: scheduling works again after %d failed attempt(s)",
                            failures, extra=self._extra)
                failures = 0
            self.calls += 1
            since = db_now
            log.debug("cron: call %d at %s scheduled %d job(s)", self.calls,
                      _fmt_minute(db_now), count, extra=self._extra)
            if count:
                self.jobs_scheduled += count
                for ident, at, late in zip(idents, times, backfilled, strict=True):
                    log.info(
                        "cron: scheduled %s for %s%s", ident, _fmt_minute(at),
                        " (backfilled)" if late else "", extra=self._extra,
                    )
            # just after the next minute boundary of the database's clock (db_now is when
            # the call started; the call itself took `loop.time() - called`)
            into_minute = db_now.second + db_now.microsecond / 1_000_000
            wait = 60.0 - into_minute - (loop.time() - called)
            await asyncio.sleep(max(0.0, wait) + random.uniform(0.02, 0.25))

    def _schedule_op(
        self, since: datetime | None
    ) -> Callable[[psycopg.AsyncConnection[Any]], Awaitable[tuple[Any, ...]]]:
        params = (self.text, since)

        async def op(conn: psycopg.AsyncConnection[Any]) -> tuple[Any, ...]:
            # binary: the times come back the same whatever the session's DateStyle
            cur = await conn.execute(_sql.SCHEDULE_CRONTAB, params, binary=True)
            row = await cur.fetchone()
            assert row is not None  # an aggregate always returns a row
            return tuple(row)

        return op


def _fmt_minute(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="minutes")
    return str(value)
