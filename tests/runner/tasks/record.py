"""Test tasks that record each call in the `runs` table of the test database (GW_TEST_DSN)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg

from gw_runner import JobContext, PermanentFailure, RetryLater, task

DSN = os.environ["GW_TEST_DSN"]
_local = threading.local()
_aconn: psycopg.AsyncConnection[Any] | None = None
_alock: asyncio.Lock | None = None

INSERT = "insert into runs (job_id, task, attempt, note) values (%s, %s, %s, %s)"


def record_sync(ctx: JobContext, note: str | None = None) -> None:
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed or conn.broken:
        conn = _local.conn = psycopg.connect(DSN, autocommit=True)
    try:
        conn.execute(INSERT, (ctx.job.id, ctx.job.task_identifier, ctx.job.attempts, note))
    except psycopg.OperationalError:
        conn.close()
        raise


async def record_async(ctx: JobContext, note: str | None = None) -> None:
    global _aconn, _alock
    if _alock is None:
        _alock = asyncio.Lock()
    async with _alock:
        if _aconn is None or _aconn.closed or _aconn.broken:
            _aconn = await psycopg.AsyncConnection.connect(DSN, autocommit=True)
        try:
            await _aconn.execute(
                INSERT, (ctx.job.id, ctx.job.task_identifier, ctx.job.attempts, note)
            )
        except psycopg.OperationalError:
            await _aconn.close()
            raise


@task
async def rec_async(payload: Any, ctx: JobContext) -> None:
    await record_async(ctx)


@task
def rec_sync(payload: Any, ctx: JobContext) -> None:
    record_sync(ctx)


@task
async def rec_payload(payload: Any, ctx: JobContext) -> None:
    """Records the payload as received (repr, so types show) and the job's flags."""
    await record_async(ctx, note=repr((payload, ctx.job.flags)))


@task
def fail_always(payload: Any, ctx: JobContext) -> None:
    record_sync(ctx)
    raise ValueError(f"always fails (attempt {ctx.job.attempts})")


@task
async def fail_permanently(payload: Any, ctx: JobContext) -> None:
    await record_async(ctx)
    raise PermanentFailure("the address does not exist")


@task
async def retry_later(payload: Any, ctx: JobContext) -> None:
    await record_async(ctx)
    raise RetryLater(payload["delay"], "come back later")


@task
async def fail_then_succeed(payload: Any, ctx: JobContext) -> None:
    await record_async(ctx)
    if ctx.job.attempts < payload["succeed_on"]:
        raise RuntimeError("not yet")


@dataclass
class Email:
    to: str
    subject: str
    retries: int = 0


@task
async def typed_email(payload: Email, ctx: JobContext) -> None:
    assert isinstance(payload, Email)
    await record_async(ctx, note=f"{payload.to}|{payload.subject}|{payload.retries}")


@task
async def batch(payload: list[Any], ctx: JobContext) -> list[Any]:
    await record_async(ctx, note=repr(payload))

    async def one(item: Any) -> Any:
        if isinstance(item, dict) and item.get("fail"):
            raise ValueError(f"item {item['n']} failed")
        return item

    return [one(item) for item in payload]


@task
async def sleepy(payload: Any, ctx: JobContext) -> None:
    await record_async(ctx, note="start")
    await asyncio.sleep(payload["seconds"])
    await record_async(ctx, note="end")


@task
def sleepy_sync(payload: Any, ctx: JobContext) -> None:
    record_sync(ctx, note="start")
    time.sleep(payload["seconds"])
    record_sync(ctx, note="end")


@task
async def wait_abort(payload: Any, ctx: JobContext) -> None:
    await record_async(ctx, note="start")
    await asyncio.wait_for(ctx.abort_signal.wait_async(), payload["seconds"])
    await record_async(ctx, note=f"aborted: {ctx.abort_signal.reason}")
    await asyncio.sleep(payload.get("then", 0))  # finishing touches after the abort
    await record_async(ctx, note="end")


@task
def enqueue_child(payload: Any, ctx: JobContext) -> None:
    record_sync(ctx)
    ctx.add_job_sync("rec_async", {"parent": ctx.job.id})


@task
async def enqueue_child_async(payload: Any, ctx: JobContext) -> None:
    await record_async(ctx)
    await ctx.add_jobs([{"identifier": "rec_sync", "payload": {"parent": ctx.job.id}}])


@task
async def rec_slow_async(payload: Any, ctx: JobContext) -> None:
    await asyncio.sleep(payload["sleep"])
    await record_async(ctx)


@task
def rec_slow_sync(payload: Any, ctx: JobContext) -> None:
    time.sleep(payload["sleep"])
    record_sync(ctx)


@task("too_slow", timeout=0.5)
async def too_slow(payload: Any, ctx: JobContext) -> None:
    await record_async(ctx, note="start")
    await asyncio.sleep(60)
