"""The gw_runner side of the mixed-fleet tests: the same tasks as node_side.mjs.

    python -m gw_runner tests/compat/py_tasks.py -c $DATABASE_URL ...
    env: DATABASE_URL (handlers' own connections), RUNNER_NAME (default "python")

Every execution is recorded in table public.executions (created by the test), with the job
fields as this runner saw them (`info`) and the job's `last_error` read through SQL before
the handler ran (`prev_error`):
  record      insert a row and return (record_py: the same, a task only gw_runner knows)
  serial      insert a row, wait payload.ms milliseconds, set finished_at
  gate        insert a row, wait until the test releases advisory lock payload.lock, set
              finished_at
  fail        insert a row and raise RuntimeError("python failed <attempt>")
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from psycopg_pool import AsyncConnectionPool

from gw_runner import JobContext, task

DSN = os.environ["DATABASE_URL"]
RUNNER = os.environ.get("RUNNER_NAME", "python")

_pool: AsyncConnectionPool | None = None
_pool_lock = asyncio.Lock()


async def pool() -> AsyncConnectionPool:
    global _pool
    async with _pool_lock:
        if _pool is None:
            _pool = AsyncConnectionPool(
                DSN, min_size=1, max_size=8, open=False, kwargs={"autocommit": True}
            )
            await _pool.open(wait=True, timeout=30)
        return _pool


def _info(ctx: JobContext) -> dict[str, Any]:
    job = ctx.job
    return {
        "queue_name": job.queue_name,
        "key": job.key,
        "priority": job.priority,
        "max_attempts": job.max_attempts,
        "flags": sorted(job.flags) if job.flags else None,
        "run_at": job.run_at.isoformat(),
    }


async def record(payload: Any, ctx: JobContext) -> None:
    async with (await pool()).connection() as conn:
        await conn.execute(
            """
            insert into public.executions
              (job_id, task, runner, attempt, payload, info, prev_error, started_at)
            values (%s, %s, %s, %s, %s, %s,
                    (select last_error from graphile_worker.jobs where id = %s),
                    clock_timestamp())
            """,
            (
                ctx.job.id,
                ctx.job.task_identifier,
                RUNNER,
                ctx.job.attempts,
                json.dumps(payload),
                json.dumps(_info(ctx)),
                ctx.job.id,
            ),
        )


@task("record")
async def record_task(payload: Any, ctx: JobContext) -> None:
    await record(payload, ctx)


@task("record_py")
async def record_py(payload: Any, ctx: JobContext) -> None:
    """A task only this side knows (Node knows record_node)."""
    await record(payload, ctx)


@task
async def serial(payload: Any, ctx: JobContext) -> None:
    await record(payload, ctx)
    ms = (payload or {}).get("ms")
    await asyncio.sleep((5 if ms is None else ms) / 1000)
    async with (await pool()).connection() as conn:
        await conn.execute(
            "update public.executions set finished_at = clock_timestamp()"
            " where job_id = %s and runner = %s and finished_at is null",
            (ctx.job.id, RUNNER),
        )


@task
async def gate(payload: Any, ctx: JobContext) -> None:
    await record(payload, ctx)
    async with (await pool()).connection() as conn:
        await conn.execute("select pg_advisory_lock(%s)", (payload["lock"],))
        await conn.execute("select pg_advisory_unlock(%s)", (payload["lock"],))
        await conn.execute(
            "update public.executions set finished_at = clock_timestamp()"
            " where job_id = %s and runner = %s and finished_at is null",
            (ctx.job.id, RUNNER),
        )


@task
async def fail(payload: Any, ctx: JobContext) -> None:
    await record(payload, ctx)
    raise RuntimeError(f"python failed {ctx.job.attempts}")
