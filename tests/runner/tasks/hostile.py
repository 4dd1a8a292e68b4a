"""Handlers that do what a handler should not: stop the process, raise BaseExceptions, raise
exceptions that cannot be printed or reported, swallow cancellation. Each records its call in
the `runs` table (GW_TEST_DSN) first, so a test sees that it ran."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from record import record_async, record_sync

from gw_runner import JobContext, RetryLater, task


class CustomBase(BaseException):
    """A BaseException that is not an Exception (as some libraries define)."""


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ of this exception raises")


@task
def ok_sync(payload: Any, ctx: JobContext) -> None:
    record_sync(ctx)


@task
async def ok_async(payload: Any, ctx: JobContext) -> None:
    await record_async(ctx)


@task
def sys_exit(payload: Any, ctx: JobContext) -> None:
    record_sync(ctx)
    sys.exit(payload.get("code", 0) if isinstance(payload, dict) else 0)


@task
def keyboard_interrupt(payload: Any, ctx: JobContext) -> None:
    record_sync(ctx)
    raise KeyboardInterrupt


@task
async def async_sys_exit(payload: Any, ctx: JobContext) -> None:
    await record_async(ctx)
    raise SystemExit(3)


@task
async def async_custom_base(payload: Any, ctx: JobContext) -> None:
    await record_async(ctx)
    raise CustomBase("not an Exception")


@task
def sync_custom_base(payload: Any, ctx: JobContext) -> None:
    record_sync(ctx)
    raise CustomBase("not an Exception either")


@task
def unprintable_sync(payload: Any, ctx: JobContext) -> None:
    record_sync(ctx)
    raise Unprintable()


@task
async def unprintable_async(payload: Any, ctx: JobContext) -> None:
    await record_async(ctx)
    raise Unprintable()


@task
def retry_forever(payload: Any, ctx: JobContext) -> None:
    record_sync(ctx)
    raise RetryLater(float(payload["delay"]))


@task
def bad_retry_delay(payload: Any, ctx: JobContext) -> None:
    """A RetryLater whose delay was changed after it was made."""
    record_sync(ctx)
    exc = RetryLater(1)
    exc.delay = float(payload["delay"])
    raise exc


@task
def lone_surrogate(payload: Any, ctx: JobContext) -> None:
    record_sync(ctx)
    raise ValueError("bad text: \ud800 and a NUL \x00 here")


@task
async def swallow_cancel(payload: Any, ctx: JobContext) -> None:
    """Ignores cancellation, for `seconds` seconds in all."""
    await record_async(ctx, "start")
    loop = asyncio.get_running_loop()
    end = loop.time() + float(payload.get("seconds", 600))
    while loop.time() < end:
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            continue
    await record_async(ctx, "end")
