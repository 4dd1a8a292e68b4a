"""Task file of the fault tests. Every call is recorded in the `calls` table of the test
database (GW_TEST_DSN): job id, task, attempt, queue, pid and worker id of the runner, and
wall-clock start and end. The insert survives a database restart (it is retried, and a
per-call token makes the retry idempotent), so a recorded call is a call that happened."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
import uuid
from typing import Any

import psycopg

from gw_runner import JobContext, task

DSN = os.environ["GW_TEST_DSN"]
PID = os.getpid()
INSERT = (
    "insert into calls (token, job_id, task, attempt, queue, pid, worker_id, started, finished,"
    " note) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) on conflict (token) do nothing"
)

_aconn: psycopg.AsyncConnection[Any] | None = None
_alock: asyncio.Lock | None = None
_local = threading.local()


def _params(ctx: JobContext, started: float, note: str | None) -> tuple[Any, ...]:
    job = ctx.job
    return (uuid.uuid4().hex, job.id, job.task_identifier, job.attempts, job.queue_name, PID,
            ctx.worker_id, started, time.time(), note)


async def record(ctx: JobContext, started: float, note: str | None = None) -> None:
    global _aconn, _alock
    if _alock is None:
        _alock = asyncio.Lock()
    params = _params(ctx, started, note)
    deadline = time.monotonic() + 60
    async with _alock:
        while True:
            try:
                if _aconn is None or _aconn.closed or _aconn.broken:
                    _aconn = await psycopg.AsyncConnection.connect(
                        DSN, autocommit=True, connect_timeout=5)
                await _aconn.execute(INSERT, params)
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                if _aconn is not None:
                    await _aconn.close()
                await asyncio.sleep(0.2)


def record_sync(ctx: JobContext, started: float, note: str | None = None) -> None:
    params = _params(ctx, started, note)
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed or conn.broken:
        conn = _local.conn = psycopg.connect(DSN, autocommit=True)
    conn.execute(INSERT, params)


@task
async def work(payload: Any, ctx: JobContext) -> None:
    """A short job: sleeps `sleep` seconds (default 20 ms in a named queue, so that two jobs
    of one queue running at once would overlap clearly; 1 ms otherwise), then records."""
    started = time.time()
    default = 0.02 if ctx.job.queue_name else 0.001
    await asyncio.sleep(payload.get("sleep", default) if payload else default)
    await record(ctx, started)


@task
async def long_first_try(payload: Any, ctx: JobContext) -> None:
    """Records its start; the first attempt takes `first` seconds, later ones `later`."""
    started = time.time()
    await record(ctx, started, note="start")
    await asyncio.sleep(payload["first"] if ctx.job.attempts == 1 else payload["later"])
    await record(ctx, started, note="end")


@task
def crash_runner(payload: Any, ctx: JobContext) -> None:
    """Kills its own runner process (like a segfault or the OOM killer would)."""
    record_sync(ctx, time.time(), note="crashing")
    os.kill(os.getpid(), signal.SIGKILL)


@task("hang_async", timeout=0.5)
async def hang_async(payload: Any, ctx: JobContext) -> None:
    started = time.time()
    await record(ctx, started, note="start")
    try:
        await asyncio.sleep(payload.get("seconds", 60))
    except asyncio.CancelledError:
        await record(ctx, started, note="cancelled")
        raise
    await record(ctx, started, note="end")


@task
def hang_sync(payload: Any, ctx: JobContext) -> None:
    """A sync handler that ignores its abort signal for `seconds`, then records."""
    started = time.time()
    record_sync(ctx, started, note="start")
    time.sleep(payload["seconds"])
    record_sync(ctx, started, note=f"end aborted={ctx.abort_signal.is_set()}")


@task
def quick_sync(payload: Any, ctx: JobContext) -> None:
    record_sync(ctx, time.time(), note=threading.current_thread().name)


@task
async def cron_work(payload: Any, ctx: JobContext) -> None:
    """Records the minute a cron run was scheduled for (`_cron.ts`) and whether it was a
    backfill."""
    cron = payload["_cron"]
    await record(ctx, time.time(), note=f"{cron['ts']} backfilled={cron['backfilled']}")
