"""Running the worker's statements on a caller's ``psycopg_pool.AsyncConnectionPool``.

:class:`PoolChannel` has the interface of :class:`gw_runner._db.Channel` (``connect``, ``run``,
``interrupt``, ``close``, ``connected``) but borrows a connection from the pool for each
operation and gives it back at once, committed. The pool is the caller's: the channel never
opens or closes it. psycopg_pool is an optional dependency; nothing here imports it.

Differences from a channel of its own: the claim connection cannot ask for
``synchronous_commit=off`` (a pooled connection's startup parameters are the pool's), so
claims are durable; lost connections are the pool's business (it discards broken ones), the
channel only retries the operation with backoff.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import psycopg

from ._aio import Backoff
from ._db import (
    BACKOFF_CAP,
    is_connection_error,
    wait_after_lost_connection,
    wait_before_transient_retry,
)
from .errors import DatabaseError, error_from_psycopg

log = logging.getLogger("gw_runner.db")

T = TypeVar("T")


class AsyncPool(Protocol):
    """What the worker uses of ``psycopg_pool.AsyncConnectionPool``."""

    conninfo: Any
    kwargs: Any

    @property
    def closed(self) -> bool: ...

    def connection(self, timeout: float | None = None) -> Any: ...


def is_pool(obj: object) -> bool:
    """True for a ``psycopg_pool.AsyncConnectionPool`` (or anything shaped like one)."""
    return (
        not isinstance(obj, str)
        and callable(getattr(obj, "connection", None))
        and hasattr(obj, "conninfo")
        and hasattr(obj, "closed")
    )


async def pool_conninfo(pool: AsyncPool) -> tuple[str, dict[str, Any]]:
    """The connection string and keyword arguments the pool connects with (psycopg_pool 3.3
    also accepts callables for both), for the worker's own LISTEN connection."""
    conninfo = pool.conninfo
    if callable(conninfo):
        conninfo = conninfo()
        if inspect.isawaitable(conninfo):
            conninfo = await conninfo
    kwargs = pool.kwargs
    if callable(kwargs):
        kwargs = kwargs()
        if inspect.isawaitable(kwargs):
            kwargs = await kwargs
    return str(conninfo or ""), dict(kwargs or {})


class PoolChannel:
    """Runs operations on connections borrowed from a caller's pool, one at a time."""

    def __init__(
        self,
        name: str,
        pool: AsyncPool,
        *,
        worker_id: str,
        stopped: Callable[[], bool] = lambda: False,
    ) -> None:
        self.name = name
        self._pool = pool
        self._worker_id = worker_id
        self._stopped = stopped
        self._failures = 0
        self._lock = asyncio.Lock()
        self._backoff = Backoff(BACKOFF_CAP)
        self.connected = False

    def interrupt(self, max_delay: float = 1.0) -> None:
        """Cut a backoff sleep short and keep later ones under ``max_delay`` (shutdown)."""
        self._backoff.interrupt(max_delay)

    async def connect(self, *, deadline: float | None = None) -> None:
        """Check that the pool hands out a working connection (raises DatabaseError if not).
        A pool that cannot connect at all fails after its own ``timeout``."""
        if self._pool.closed:
            raise DatabaseError(
                f"the connection pool given to the worker is closed ({self.name}); open it "
                "first (await pool.open() or `async with pool`)"
            )

        try:
            async with self._pool.connection():
                pass  # borrowing one proves the pool hands out connections
        except psycopg.Error as e:
            raise error_from_psycopg(e) from e
        self.connected = True

    async def run(
        self,
        op: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]],
        *,
        deadline: float | None = None,
    ) -> T:
        """Run ``op`` on a pooled connection (committed when the block ends), retrying with
        backoff while connections are lost or the pool has none to give."""
        async with self._lock:
            transient = 0
            while True:
                conn: psycopg.AsyncConnection[Any] | None = None
                try:
                    async with self._pool.connection() as conn:
                        result = await op(conn)
                except psycopg.Error as e:
                    if self._pool.closed:
                        self.connected = False
                        raise DatabaseError(
                            f"the connection pool was closed while the worker runs ({self.name})"
                        ) from e
                    if is_connection_error(e, conn):
                        self.connected = False
                        self._failures += 1
                        await wait_after_lost_connection(
                            e, name=f"{self.name} (pool)", failures=self._failures,
                            backoff=self._backoff, deadline=deadline, stopped=self._stopped,
                            worker_id=self._worker_id, next_step="retrying",
                        )
                        continue
                    transient = await wait_before_transient_retry(e, transient)
                    continue
                if self._failures:
                    log.warning(
                        "connection %s (pool): working again after %d failed attempt(s)",
                        self.name, self._failures, extra={"worker_id": self._worker_id},
                    )
                    self._failures = 0
                self.connected = True
                return result

    async def close(self) -> None:
        """Nothing to close: the pool is the caller's."""
        self.connected = False
