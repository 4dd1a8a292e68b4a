"""Helpers of the library API tests (imported as ``tests.api.support``)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


def run(coro: Coroutine[Any, Any, Any], timeout: float = 90) -> Any:
    """Run a test coroutine in a fresh event loop (the test's own), bounded by ``timeout``."""

    async def bounded() -> Any:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())
