"""The ASGI application: routes, error pages, static files, and :func:`create_app`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from . import _actions, _pages
from ._core import HERE, Dashboard, DashboardError, Settings, explain
from ._security import Auth, SecurityMiddleware

POOL_KWARGS = {"autocommit": True}
# A page that takes longer than this is cut off rather than left to load the database.
STATEMENT_TIMEOUT_MS = 15000


class DashboardApp:
    """The ASGI callable :func:`create_app` returns; ``dashboard`` holds its state and
    ``aclose()`` closes the pools it opened and its LISTEN connection."""

    def __init__(self, app: Any, dashboard: Dashboard) -> None:
        self._app = app
        self.dashboard = dashboard

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._app(scope, receive, send)

    async def aclose(self) -> None:
        await self.dashboard.close()


def _pool(conninfo: str, name: str) -> AsyncConnectionPool[Any]:
    return AsyncConnectionPool(
        conninfo, min_size=1, max_size=6, open=False, name=name, timeout=10,
        kwargs={**POOL_KWARGS, "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
                "application_name": "graphile_worker dashboard"},
    )


def create_app(
    dsn: str | None = None,
    *,
    read_dsn: str | None = None,
    pool: AsyncConnectionPool[Any] | None = None,
    read_pool: AsyncConnectionPool[Any] | None = None,
    listen_dsn: str | None = None,
    actions: bool = False,
    basic_auth: tuple[str, str] | None = None,
    token: str | None = None,
    refresh: float = 2.0,
    secret: bytes | None = None,
    title: str = "graphile_worker",
) -> DashboardApp:
    """The dashboard as an ASGI app, to serve (``python -m gw_runner.dashboard``) or mount
    (``app.mount("/jobs-admin", create_app(pool=pool))`` in FastAPI or Starlette).

    Either ``dsn`` (the app opens its own small pools at the first request, with autocommit
    and a 15 s statement timeout) or ``pool``, an ``AsyncConnectionPool`` the host
    application owns and opens. Reads go to ``read_dsn`` / ``read_pool`` when given (a
    standby), actions and the LISTEN connection always to the primary (``listen_dsn``, by
    default the pool's connection string). ``actions`` switches
    the buttons on (read-only otherwise); ``basic_auth`` (user, password) and ``token`` (a
    bearer token) require credentials; ``refresh`` is the live pages' re-read interval in
    seconds; ``secret`` signs the anti-forgery tokens (random per process by default).
    """
    if (dsn is None) == (pool is None):
        raise ValueError("create_app needs exactly one of dsn (a connection string) and pool "
                         "(an AsyncConnectionPool)")
    if not 0.2 <= refresh <= 3600:
        raise ValueError(f"refresh must be from 0.2 to 3600 seconds, not {refresh}")
    owns = pool is None
    if pool is None:
        assert dsn is not None
        pool = _pool(dsn, "gw-dashboard")
        if read_pool is None:
            read_pool = _pool(read_dsn, "gw-dashboard-read") if read_dsn else pool
    elif read_pool is None:
        if read_dsn:
            raise ValueError("with pool, pass read_pool (not read_dsn) for reads elsewhere")
        read_pool = pool
    if listen_dsn is None:
        if not isinstance(pool.conninfo, str) or not isinstance(pool.kwargs or {}, dict):
            raise ValueError("the pool's conninfo or kwargs is a callable: pass listen_dsn, the "
                             "connection string of the LISTEN connection (to the primary)")
        listen_dsn = pool.conninfo
        listen_kwargs = {k: v for k, v in dict(pool.kwargs or {}).items()  # type: ignore[arg-type]
                         if k not in ("autocommit", "prepare_threshold", "row_factory")}
    else:
        listen_kwargs = {}
    dashboard = Dashboard(
        pool=pool, read_pool=read_pool, owns_pools=owns, listen_conninfo=listen_dsn,
        listen_kwargs=listen_kwargs,
        settings=Settings(actions=actions, refresh=refresh, title=title), secret=secret)

    async def on_dashboard_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DashboardError)
        return await dashboard.error_page(request, str(exc), exc.status)

    async def on_database_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, psycopg.Error)
        status = 403 if isinstance(exc, psycopg.errors.InsufficientPrivilege) else 503
        return await dashboard.error_page(request, explain(exc), status)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # the first counts read at start, so that the first page need not wait for them (an
        # app mounted in another gets no lifespan events: its first page reads them)
        warm = asyncio.get_running_loop().create_task(_pages.warm(dashboard))
        yield
        warm.cancel()
        await dashboard.close()

    starlette = Starlette(
        routes=[
            Route("/", _pages.overview),
            Route("/jobs", _pages.jobs),
            Route("/jobs/action", _actions.jobs_action, methods=["POST"]),
            Route("/jobs/{job_id}", _pages.job),
            Route("/tasks", _pages.tasks),
            Route("/tasks/action", _actions.tasks_action, methods=["POST"]),
            Route("/workers", _pages.workers),
            Route("/cron", _pages.cron),
            Route("/cron/run", _actions.cron_action, methods=["POST"]),
            Route("/storage", _pages.storage),
            Route("/events", _pages.events),
            Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
        ],
        exception_handlers={DashboardError: on_dashboard_error, psycopg.Error: on_database_error},
        lifespan=lifespan,
    )
    starlette.state.dashboard = dashboard
    auth = Auth(basic=basic_auth, token=token)
    return DashboardApp(SecurityMiddleware(starlette, auth), dashboard)
