"""Step-by-step interleaving of real connections: run a call that must block in a thread and
wait (bounded) until PostgreSQL shows it waiting."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import psycopg
from helpers import scalar

WAIT_SECONDS = 10.0


def in_thread(pool: ThreadPoolExecutor, fn: Callable[..., Any], *args: Any) -> Future[Any]:
    return pool.submit(fn, *args)


def wait_until_waiting(
    observer: psycopg.Connection, pid: int, wait_event_type: str | None = "Lock"
) -> str:
    """Wait until backend `pid` is active and waiting on `wait_event_type` (e.g. 'Lock' for a
    row or advisory lock, 'Timeout' for pg_sleep); returns its wait_event."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        row = observer.execute(
            "select state, wait_event_type, wait_event from pg_stat_activity where pid = %s",
            [pid],
        ).fetchone()
        if row and row[0] == "active" and (wait_event_type is None or row[1] == wait_event_type):
            return str(row[2])
        time.sleep(0.01)
    raise AssertionError(f"backend {pid} never waited on {wait_event_type}")


def backend_pid(conn: psycopg.Connection) -> int:
    return int(scalar(conn, "select pg_backend_pid()"))
