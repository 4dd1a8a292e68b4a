"""Live updates: one LISTEN connection per app (to the primary: a standby cannot LISTEN) and a
fan-out to the pages' server-sent-event streams, coalesced to at most one event per
``min_gap`` seconds per stream.

Enqueues (when a runner waits), pauses, limits, cancels and watched jobs notify; a runner
completing a job does not. So each stream also sends a ``tick`` every ``refresh`` seconds, on
which the page re-reads itself (and replaces what changed): notified changes show at once, the
others within the refresh interval. A page whose stream fails polls instead (dashboard.js).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import psycopg

from . import _queries

log = logging.getLogger("gw_runner.dashboard")

RECONNECT_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)


class LiveHub:
    """Starts its LISTEN task with the first subscriber, stops it with :meth:`close`."""

    def __init__(self, conninfo: str, connect_kwargs: dict[str, Any] | None = None,
                 refresh: float = 2.0, min_gap: float = 0.25) -> None:
        self.conninfo = conninfo
        self.connect_kwargs = dict(connect_kwargs or {})
        self.refresh = refresh
        self.min_gap = min_gap
        self.listening = False
        self._subscribers: set[asyncio.Event] = set()
        self._task: asyncio.Task[None] | None = None

    def _ensure_started(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._listen())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    def wake(self) -> None:
        """Tell every open page to refresh now."""
        for event in self._subscribers:
            event.set()

    async def _listen(self) -> None:
        attempt = 0
        while True:
            try:
                kwargs = {**self.connect_kwargs, "autocommit": True}
                conn = await psycopg.AsyncConnection.connect(self.conninfo, **kwargs)
                async with conn:
                    for statement in _queries.LISTEN:
                        await conn.execute(statement)
                    self.listening = True
                    attempt = 0
                    log.info("dashboard: listening for job notifications")
                    self.wake()  # changes made while not listening
                    async for _ in conn.notifies():
                        self.wake()
                why = "the notifications ended"  # the connection closed without an error
            except asyncio.CancelledError:
                self.listening = False
                raise
            except Exception as exc:  # any failure: reconnect, pages keep ticking meanwhile
                why = str(exc)
            # reconnect after a pause that grows while it keeps failing, however it ended
            self.listening = False
            delay = RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
            attempt += 1
            log.warning("dashboard: LISTEN connection lost (%s); retrying in %.1f s", why, delay)
            await asyncio.sleep(delay)

    async def stream(self) -> AsyncIterator[str]:
        """Server-sent events: ``change`` after a notification, ``tick`` every ``refresh`` s,
        never two within ``min_gap`` s."""
        self._ensure_started()
        event = asyncio.Event()
        self._subscribers.add(event)
        try:
            yield f"retry: {int(self.refresh * 1000)}\n\n"
            loop = asyncio.get_running_loop()
            last = loop.time()
            while True:
                try:
                    await asyncio.wait_for(event.wait(), timeout=self.refresh)
                    kind = "change"
                except TimeoutError:
                    kind = "tick"
                event.clear()
                gap = self.min_gap - (loop.time() - last)
                if gap > 0:
                    await asyncio.sleep(gap)
                    event.clear()  # coalesced into this one
                last = loop.time()
                yield f"event: {kind}\ndata: {{}}\n\n"
        finally:
            self._subscribers.discard(event)
