"""Tasks of tests/runner/test_metrics.py: each ends one way (success, a failure retried in an
hour, a permanent failure, a cancel while it runs)."""

from __future__ import annotations

import asyncio
from typing import Any

from gw_runner import JobContext, PermanentFailure, RetryLater, task


@task
async def ok(payload: Any, ctx: JobContext) -> None:
    await asyncio.sleep(0.01)


@task
def later(payload: Any, ctx: JobContext) -> None:
    raise RetryLater(3600, "try again in an hour")


@task
async def fatal(payload: Any, ctx: JobContext) -> None:
    raise PermanentFailure("cannot do this")


@task
async def boom(payload: Any, ctx: JobContext) -> None:
    raise ValueError("boom")


@task
async def slow(payload: Any, ctx: JobContext) -> None:
    await asyncio.sleep(120)  # cancelled by the test (cancel_jobs)
