"""Small helpers shared by the tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.rows import dict_row


def rows(conn: psycopg.Connection, sql: str, params: Any = None) -> list[dict[str, Any]]:
    """Run a query and return its rows as dicts."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def one(conn: psycopg.Connection, sql: str, params: Any = None) -> dict[str, Any]:
    """Run a query that returns exactly one row and return it as a dict."""
    result = rows(conn, sql, params)
    assert len(result) == 1, result
    return result[0]


def scalar(conn: psycopg.Connection, sql: str, params: Any = None) -> Any:
    """Run a query and return the first column of its single row."""
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row[0]


def snapshot(conn: psycopg.Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the extension's tables, to assert that an error changed nothing."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    tables = conn.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'graphile_worker' and c.relkind = 'r' order by 1"
    ).fetchall()
    for (name,) in tables:
        out[name] = conn.execute(f'select * from graphile_worker."{name}" order by 1').fetchall()
    seqs = conn.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'graphile_worker' and c.relkind = 'S' order by 1"
    ).fetchall()
    for (name,) in seqs:
        out["seq:" + name] = conn.execute(
            f'select last_value, is_called from graphile_worker."{name}"'
        ).fetchall()
    return out


def wait_until(
    predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1
) -> Any:
    """Poll `predicate` until it returns a truthy value (returned); fail after `timeout` s.
    Deadlines only separate outcomes: give them a wide margin."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
