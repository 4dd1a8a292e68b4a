"""A FastAPI application that mounts the dashboard under /ops on a pool it owns (what
docs/operations.md shows); served by uvicorn in tests/dashboard/test_mount.py."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from gw_runner.dashboard import create_app

pool = AsyncConnectionPool(os.environ["GW_TEST_DSN"], open=False, kwargs={"autocommit": True})
dashboard = create_app(pool=pool, actions=True)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await pool.open()
    yield
    await dashboard.aclose()  # its LISTEN connection; the pool is ours to close
    await pool.close()


app = FastAPI(lifespan=lifespan)
app.mount("/ops", dashboard)


@app.get("/")
def home() -> dict[str, str]:
    return {"app": "the host application"}
