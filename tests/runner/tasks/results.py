"""Test tasks whose return values are the jobs' results (tests/runner/test_results.py)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from gw_runner import JobContext, RetryLater, Snooze, task


@task
async def give(payload: Any, ctx: JobContext) -> Any:
    """Returns ``payload["value"]`` (None when there is none); fails when ``payload["fail"]``."""
    if payload.get("fail"):
        raise ValueError("asked to fail")
    return payload.get("value")


@task
def give_sync(payload: Any, ctx: JobContext) -> Any:
    return payload.get("value")


@task
def give_datetime(payload: Any) -> Any:
    return {"at": datetime(2024, 5, 1, 12, 0)}


@task
async def give_nan(payload: Any) -> Any:
    return [1.0, float("nan")]


@task
async def give_text(payload: Any) -> str:
    """``payload["n"]`` copies of ``payload["char"]`` (default "x"), between ``chr()`` of each
    of ``payload["codes"]`` (a NUL or a lone surrogate, which a payload cannot carry)."""
    text = str(payload.get("char", "x")) * int(payload["n"])
    return "".join(chr(c) for c in payload.get("codes", ())) + text


@task
async def give_batch(payload: list[Any], ctx: JobContext) -> list[Any]:
    """A batch handler: each entry's result is awaited; an entry {"fail": true} fails."""

    async def one(item: Any) -> Any:
        await asyncio.sleep(0)
        if isinstance(item, dict) and item.get("fail"):
            raise ValueError(f"entry {item['n']} failed")
        return {"done": item}

    return [one(item) for item in payload]


@task
async def flaky(payload: Any, ctx: JobContext) -> Any:
    """Takes ``payload["ms"]`` milliseconds (default 0); fails its first attempt when
    ``payload["n"]`` is odd (retried at once), then returns ``{"n": n, "attempt": attempts}``."""
    await asyncio.sleep(payload.get("ms", 0) / 1000)
    if payload["n"] % 2 and ctx.job.attempts == 1:
        raise RetryLater(0, "odd jobs fail once")
    return {"n": payload["n"], "attempt": ctx.job.attempts}


_SNOOZES: dict[int, int] = {}


@task
async def snoozer(payload: Any, ctx: JobContext) -> Any:
    """Snoozes ``payload["times"]`` times for ``payload.get("delay", 0.05)`` s (counted in this
    process), then returns ``{"calls": n, "attempts": ctx.job.attempts}``."""
    calls = _SNOOZES[ctx.job.id] = _SNOOZES.get(ctx.job.id, 0) + 1
    if calls <= payload["times"]:
        raise Snooze(payload.get("delay", 0.05))
    return {"calls": calls, "attempts": ctx.job.attempts}
