"""The error for a ``conn`` argument that is not the psycopg 3 connection a function takes.

Shared by the enqueue API (``_enqueue``) and the status API (``_status``); imports nothing of
the package, so both can use it without an import cycle.
"""

from __future__ import annotations

import psycopg


def wrong_connection(where: str, conn: object, *, want_async: bool, plain_sql: str) -> TypeError:
    """A TypeError naming what ``where`` takes, what it got and what to do instead.

    ``plain_sql`` is the advice for other drivers, e.g. "enqueue with plain SQL: ..."."""
    kind = type(conn)
    got = f"{kind.__module__}.{kind.__qualname__}"
    name = where.removesuffix("()")
    advice = ""
    if want_async:
        expected = "a psycopg.AsyncConnection (psycopg 3)"
        if isinstance(conn, psycopg.Connection):
            advice = f"with a sync connection use {name.removesuffix('_async')}()"
    else:
        expected = "a psycopg.Connection (psycopg 3)"
        if isinstance(conn, psycopg.AsyncConnection):
            advice = f"with an async connection use `await {name}_async(...)`"
    if not advice:
        if isinstance(conn, psycopg.Cursor | psycopg.AsyncCursor):
            advice = "pass the connection (cursor.connection), not a cursor"
        elif "pool" in kind.__name__.lower():
            advice = "borrow a connection from the pool (`with pool.connection() as conn:`)"
        else:
            advice = f"with psycopg2 or another driver, {plain_sql}"
    return TypeError(f"{where} takes {expected} as conn, not {got}; {advice}")
