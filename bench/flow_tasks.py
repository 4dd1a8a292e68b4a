"""Task file of the flow-control workloads (bench/flow.py): `limited` sleeps for the payload's
"ms" milliseconds; `rated` and `free` do nothing; `sleeper` sleeps 10 minutes unless it is
cancelled (cancel_jobs), and then writes down when its CancelledError came.

    python -m gw_runner bench/flow_tasks.py -c $DSN -j 10

With BENCH_FLOW_RECORD=<file>, each job appends "<task> <job id> <locked_at> <start> <end>"
(epoch seconds: the claim's time from the database, then the handler's own start and end) to
that file, one line per job, written as the handler ends; a cancelled `sleeper` writes
"cancelled <job id> 0 <start> <the time of its CancelledError>".
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, TextIO

from gw_runner import JobContext, task

_PATH = os.environ.get("BENCH_FLOW_RECORD") or None
_FILE: TextIO | None = open(_PATH, "a", buffering=1) if _PATH else None


def _record(ctx: JobContext, start: float) -> None:
    if _FILE is not None:
        end = time.time()
        locked = ctx.job.locked_at.timestamp() if ctx.job.locked_at is not None else 0.0
        _FILE.write(f"{ctx.task_identifier} {ctx.job_id} {locked:.6f} {start:.6f} {end:.6f}\n")


@task
async def limited(payload: Any, ctx: JobContext) -> None:
    start = time.time()
    await asyncio.sleep(float(payload.get("ms", 20)) / 1000 if type(payload) is dict else 0.02)
    _record(ctx, start)


@task
async def rated(payload: Any, ctx: JobContext) -> None:
    _record(ctx, time.time())


@task
async def free(payload: Any, ctx: JobContext) -> None:
    _record(ctx, time.time())


@task
async def sleeper(payload: Any, ctx: JobContext) -> None:
    start = time.time()
    try:
        await asyncio.sleep(600)
    except asyncio.CancelledError:
        if _FILE is not None:
            _FILE.write(f"cancelled {ctx.job_id} 0 {start:.6f} {time.time():.6f}\n")
        raise
