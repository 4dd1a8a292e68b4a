"""A FastAPI service with the worker inside it: one process, one connection pool.

    pip install -e '.[examples]'
    cd examples && DATABASE_URL=postgresql:///mydb uvicorn fastapi_app:app

- ``POST /signups {"email": ...}`` stores the signup **and** enqueues ``send_welcome`` in the
  same transaction: if the request fails after the insert, neither exists; once it commits,
  the worker (woken by NOTIFY) picks the job up at once.
- the worker starts and stops with the app (the lifespan below), shares its pool (the worker
  borrows a connection per batch; its LISTEN connection is its own) and stops gracefully
  when the server shuts down: running jobs get 10 s, unstarted ones are handed back.
- ``GET /health`` is the worker's liveness/readiness for the orchestrator, ``GET /metrics``
  the Prometheus metrics fed by the worker hooks of observability.py.

The server owns the signals (uvicorn handles SIGTERM and runs the lifespan's shutdown).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, HTTPException, Response
from observability import PrometheusHooks, StructuredLogHooks
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from gw_runner import JobContext, PermanentFailure, Worker, add_job_async, task

SCHEMA = """
create table if not exists signups (
  id bigint generated always as identity primary key,
  email text not null,
  welcomed_at timestamptz
)
"""


class Signup(BaseModel):
    email: str


# -- the task: a function with a typed payload (the recommended form) ---------------------------


@dataclass
class Welcome:
    signup_id: int


@task
async def send_welcome(payload: Welcome, ctx: JobContext) -> None:
    pool: AsyncConnectionPool = app.state.pool
    async with pool.connection() as conn:
        cur = await conn.execute("select email from signups where id = %s", (payload.signup_id,))
        row = await cur.fetchone()
        if row is None:
            raise PermanentFailure(f"signup {payload.signup_id} does not exist")
        ctx.logger.info("sending the welcome email to %s", row[0])  # talk to the mail API here
        await conn.execute(
            "update signups set welcomed_at = now() where id = %s", (payload.signup_id,)
        )


# -- the app and its lifespan ---------------------------------------------------------------------


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    registry = CollectorRegistry()
    url = os.environ.get("DATABASE_URL", "")
    async with AsyncConnectionPool(url, min_size=2, max_size=10, open=False) as pool:
        async with pool.connection() as conn:
            await conn.execute(SCHEMA)
        worker = Worker(
            [send_welcome],
            connection=pool,  # shared with the app; the worker never closes it
            concurrency=5,
            shutdown_timeout=10,
            hooks=[StructuredLogHooks(), PrometheusHooks(registry=registry)],
        )
        app.state.pool, app.state.worker, app.state.registry = pool, worker, registry
        async with worker:  # started here, stopped gracefully when the app shuts down
            yield


app = FastAPI(lifespan=lifespan)


@app.post("/signups", status_code=201)
async def create_signup(signup: Signup) -> dict[str, Any]:
    if "@" not in signup.email:
        raise HTTPException(422, "not an email address")
    async with app.state.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "insert into signups (email) values (%s) returning id", (signup.email,)
        )
        signup_id = (await cur.fetchone())[0]
        job = await add_job_async(conn, "send_welcome", {"signup_id": signup_id})
    return {"id": signup_id, "job_id": job.id}


@app.get("/signups/{signup_id}")
async def get_signup(signup_id: int) -> dict[str, Any]:
    async with app.state.pool.connection() as conn:
        cur = await conn.execute(
            "select email, welcomed_at from signups where id = %s", (signup_id,)
        )
        row = await cur.fetchone()
    if row is None:
        raise HTTPException(404)
    return {"id": signup_id, "email": row[0], "welcomed_at": row[1]}


@app.get("/health")
async def health(response: Response) -> dict[str, Any]:
    status = app.state.worker.health()
    response.status_code = 200 if status.ready else 503
    return status.as_dict()


@app.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(app.state.registry), media_type=CONTENT_TYPE_LATEST)
