"""Small asyncio helpers shared by the runner's stages."""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
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


class Backoff:
    """A backoff sleep that a shutdown can cut short (the channels' reconnect waits)."""

    def __init__(self, max_delay: float) -> None:
        self.max_delay = max_delay
        self._interrupt = asyncio.Event()

    def interrupt(self, max_delay: float = 1.0) -> None:
        """Cut a sleep short and keep later ones under ``max_delay`` (shutdown)."""
        self.max_delay = max_delay
        self._interrupt.set()

    async def sleep(self, delay: float) -> None:
        if not self._interrupt.is_set():
            await wait_event(self._interrupt, delay)
        self._interrupt.clear()
