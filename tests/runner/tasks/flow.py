"""Test tasks for flow control (tests/runner/test_flow_control.py): each call is recorded in
the `runs` table of the test database (GW_TEST_DSN), with notes saying what the handler saw."""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

import psycopg

from gw_runner import JobContext, task

DSN = os.environ["GW_TEST_DSN"]
INSERT = "insert into runs (job_id, task, attempt, note) values (%s, %s, %s, %s)"
_local = threading.local()


def record_sync(ctx: JobContext, note: str | None = None) -> None:
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = _local.conn = psycopg.connect(DSN, autocommit=True)
    conn.execute(INSERT, (ctx.job.id, ctx.job.task_identifier, ctx.job.attempts, note))


async def record(ctx: JobContext, note: str | None = None) -> None:
    """A connection per call: a cancelled handler must not leave a shared one mid-statement."""
    async with await psycopg.AsyncConnection.connect(DSN, autocommit=True) as conn:
        await conn.execute(INSERT, (ctx.job.id, ctx.job.task_identifier, ctx.job.attempts, note))


@task
async def quick(payload: Any, ctx: JobContext) -> None:
    await record(ctx)


@task
async def other(payload: Any, ctx: JobContext) -> None:
    await record(ctx)


@task
async def slow(payload: Any, ctx: JobContext) -> None:
    """Records start and end around a sleep of ``payload["seconds"]``."""
    await record(ctx, "start")
    await asyncio.sleep(payload["seconds"])
    await record(ctx, "end")


@task
async def cancellable(payload: Any, ctx: JobContext) -> str:
    """Sleeps up to a minute. Cancelled, it records what it saw, then raises the
    CancelledError again, or (``payload["swallow"]``) swallows it and returns normally."""
    await record(ctx, "start")
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        await record(
            ctx, f"CancelledError cancelled={ctx.cancelled} reason={ctx.abort_signal.reason}"
        )
        if payload.get("swallow"):
            return "swallowed"
        raise
    await record(ctx, "end")
    return "finished"


@task
def cancellable_sync(payload: Any, ctx: JobContext) -> str:
    """Waits up to a minute for its abort signal, then records what it saw and returns."""
    record_sync(ctx, "start")
    ctx.abort_signal.wait(60)
    record_sync(ctx, f"stopped cancelled={ctx.cancelled} reason={ctx.abort_signal.reason}")
    return "stopped"


@task
async def raises_cancelled(payload: Any, ctx: JobContext) -> None:
    """Raises CancelledError of its own (nobody cancelled it)."""
    await record(ctx, "start")
    raise asyncio.CancelledError("the handler's own")
