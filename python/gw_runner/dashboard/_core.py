"""The dashboard's state (pools, settings, templates, anti-forgery, live hub) and the helpers
every page and action shares: rendering, flash messages, database errors shown as pages."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import quote, unquote

import jinja2
import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from . import _queries
from ._live import LiveHub
from ._security import CSRF_COOKIE, CSRF_FIELD, Csrf

log = logging.getLogger("gw_runner.dashboard")

HERE = Path(__file__).resolve().parent
FLASH_COOKIE = "gw_dashboard_flash"
STATES = ("waiting", "scheduled", "running", "retrying", "failed", "completed", "cancelled")
CAN_ACT_TTL = 30.0
SHARED_TTL = 1.0
MAX_STALE = 600.0  # past this, a page waits for the read rather than show such old counts
T = TypeVar("T")


class SharedResult:
    """A result shared between requests (:meth:`Dashboard.shared`): the value, when its read
    began (monotonic and wall clock), the read under way, and the last read's failure."""

    __slots__ = ("error", "generation", "read_at", "ready", "taken", "task", "value")

    def __init__(self) -> None:
        self.ready = False
        self.value: Any = None
        self.taken = 0.0
        self.read_at: datetime | None = None
        self.task: asyncio.Task[Any] | None = None
        self.error: BaseException | None = None  # the last read failed (None: it did not)
        self.generation = 0  # a read begun before the result was dropped does not keep it


def _retrieved(task: asyncio.Task[Any]) -> None:
    """A background re-read's failure is logged (a waiting request also gets it)."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("dashboard: a shared read failed: %s", task.exception())


@dataclass(frozen=True)
class Settings:
    actions: bool = False
    refresh: float = 2.0
    title: str = "graphile_worker"
    page_size: int = 50


class DashboardError(Exception):
    """A request the dashboard refuses: rendered as a page with ``status``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _age(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = datetime.now(UTC) - value
    if not isinstance(value, timedelta):
        return str(value)
    seconds = value.total_seconds()
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 1:
        return f"{sign}{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{sign}{seconds:.0f} s"
    if seconds < 7200:
        return f"{sign}{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{sign}{seconds / 3600:.1f} h"
    return f"{sign}{seconds / 86400:.1f} d"


def _ts(value: Any) -> str:
    if not isinstance(value, datetime):
        return "" if value is None else str(value)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _tshort(value: Any) -> str:
    """A time in a table cell: the year only when it is not this one."""
    if not isinstance(value, datetime):
        return "" if value is None else str(value)
    at: datetime = value.astimezone(UTC)
    if at.year == datetime.now(UTC).year:
        return at.strftime("%m-%d %H:%M:%S")
    return at.strftime("%Y-%m-%d %H:%M:%S")


def _duration(value: Any) -> str:
    """An interval as people write it: 14 days, 6 h, 30 min, 90 s."""
    if not isinstance(value, timedelta):
        return "" if value is None else str(value)
    seconds = value.total_seconds()
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if unit == 'day' and n != 1 else ''}"
    return f"{seconds:g} s"


def _until(value: Any) -> str:
    if not isinstance(value, datetime):
        return ""
    return _age(value - datetime.now(UTC))


def _isotime(value: Any) -> str:
    """An ISO time from JSON (the attempts' times) shown like the others."""
    if isinstance(value, str):
        try:
            return _ts(datetime.fromisoformat(value))
        except ValueError:
            return value
    return _ts(value)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _pretty(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return str(value)
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def make_templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=True,  # every value is escaped unless a template says otherwise (none does)
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["age"] = _age
    env.filters["ts"] = _ts
    env.filters["tshort"] = _tshort
    env.filters["pretty"] = _pretty
    env.filters["duration"] = _duration
    env.filters["until"] = _until
    env.filters["compact"] = _compact
    env.filters["isotime"] = _isotime
    return env


class Dashboard:
    """Everything a request needs. Pools are opened at the first request (a mounted app gets
    no lifespan events) and closed by :meth:`close`."""

    def __init__(self, *, pool: AsyncConnectionPool[Any], read_pool: AsyncConnectionPool[Any],
                 owns_pools: bool, listen_conninfo: str, listen_kwargs: dict[str, Any],
                 settings: Settings, secret: bytes | None) -> None:
        self.pool = pool
        self.read_pool = read_pool
        self.owns_pools = owns_pools
        self.settings = settings
        self.templates = make_templates()
        self.csrf = Csrf(secret)
        self.hub = LiveHub(listen_conninfo, listen_kwargs, refresh=settings.refresh)
        self._opened = False
        self._can_act: tuple[float, bool, str] | None = None
        self._shared: dict[str, SharedResult] = {}

    async def _open(self) -> None:
        if self._opened or not self.owns_pools:
            return
        self._opened = True
        await self.pool.open()
        if self.read_pool is not self.pool:
            await self.read_pool.open()

    async def close(self) -> None:
        await self.hub.close()
        for entry in self._shared.values():
            if entry.task is not None:
                entry.task.cancel()
        if self.owns_pools and self._opened:
            await self.pool.close()
            if self.read_pool is not self.pool:
                await self.read_pool.close()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        await self._open()
        async with self.read_pool.connection() as conn:
            yield conn

    @asynccontextmanager
    async def writing(self, *, changes: bool = True
                      ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A connection to the primary; with ``changes`` (an action), the shared results are
        dropped afterwards, so the page shown next reads what the action changed."""
        await self._open()
        try:
            async with self.pool.connection() as conn:
                yield conn
        finally:
            if changes:
                self.forget_shared()

    async def read(self, statement: str, params: dict[str, Any] | None = None
                   ) -> list[_queries.Row]:
        async with self.reading() as conn:
            return await _queries.fetch(conn, statement, params)

    async def shared(self, key: str, compute: Callable[[], Awaitable[T]],
                     ttl: float = SHARED_TTL,
                     signature: Callable[[T], object] | None = None,
                     wait: float | None = None) -> T:
        """``compute()``'s result, shared by every request: queue_stats() scans the jobs table
        (about 150 ms at a million jobs), so pages in many tabs cost one scan per ``ttl``, not
        one each, and no page waits for it but the first one. A result younger than ``ttl``
        seconds is served as it is; one older, up to ``MAX_STALE`` seconds, is served while a
        new one is read in the background (stale while revalidate); only without a result, or
        with one older than that, does the request wait for the read, for at most ``wait``
        seconds when given (then TimeoutError; the read goes on). When the new result's
        ``signature`` differs from the old one's, open pages are told to refresh. A failed read
        drops the result: the next request reads again and shows the error, also when that
        read outlasts ``wait`` (the error of the last read is raised instead of TimeoutError,
        until a read succeeds)."""
        entry = self._shared.setdefault(key, SharedResult())
        age = time.monotonic() - entry.taken
        if entry.ready and age < ttl:
            return cast(T, entry.value)
        if entry.task is None or entry.task.done():
            entry.task = asyncio.get_running_loop().create_task(
                self._reread(key, entry, compute, signature))
            entry.task.add_done_callback(_retrieved)
        if entry.ready and age < MAX_STALE:
            return cast(T, entry.value)
        try:
            return cast(T, await asyncio.wait_for(asyncio.shield(entry.task), wait))
        except TimeoutError:
            if entry.error is not None:
                # the same exception raised again each time: its traceback starts afresh
                raise entry.error.with_traceback(None) from None
            raise

    async def _reread(self, key: str, entry: SharedResult, compute: Callable[[], Awaitable[T]],
                      signature: Callable[[T], object] | None) -> T:
        started, wall, generation = time.monotonic(), datetime.now(UTC), entry.generation
        try:
            value = await compute()
        except BaseException as exc:
            if generation == entry.generation:
                entry.ready = False
                if not isinstance(exc, asyncio.CancelledError):
                    entry.error = exc
            raise
        if generation != entry.generation:
            return value  # dropped meanwhile (an action): a newer read serves the pages
        changed = (entry.ready and signature is not None
                   and signature(cast(T, entry.value)) != signature(value))
        entry.value, entry.taken, entry.read_at, entry.ready = value, started, wall, True
        entry.error = None
        if changed:
            log.debug("dashboard: %s changed; pages refresh", key)
            self.hub.wake()
        return value

    def read_at(self, key: str) -> datetime | None:
        """When the shared result of ``key`` being served was read (None: not read yet)."""
        entry = self._shared.get(key)
        return entry.read_at if entry is not None and entry.ready else None

    def forget_shared(self) -> None:
        """Drop every shared result: after an action, the next page reads what it changed."""
        for entry in self._shared.values():
            entry.ready, entry.task, entry.generation = False, None, entry.generation + 1
            entry.error = None

    async def shared_read(self, statement: str,
                          signature: Callable[[list[_queries.Row]], object] | None = None,
                          wait: float | None = None) -> list[_queries.Row]:
        return await self.shared(statement, lambda: self.read(statement), signature=signature,
                                 wait=wait)

    async def optional_read(self, statement: str, params: dict[str, Any] | None = None
                            ) -> tuple[list[_queries.Row], str | None]:
        """Rows, or none and why: for parts of a page that need a newer extension."""
        try:
            return await self.read(statement, params), None
        except (pg_errors.UndefinedFunction, pg_errors.InsufficientPrivilege) as exc:
            return [], explain(exc)

    async def can_act(self) -> tuple[bool, str]:
        """(True, "") when actions are on and the primary's role may run them."""
        if not self.settings.actions:
            return False, "read-only: start the dashboard with --actions to act on jobs"
        now = time.monotonic()
        if self._can_act is None or now - self._can_act[0] > CAN_ACT_TTL:
            try:
                async with self.writing(changes=False) as conn:
                    rows = await _queries.fetch(conn, _queries.CAN_ACT)
                ok = bool(rows and rows[0]["can_act"])
                why = "" if ok else ("read-only: the database role has no admin rights "
                                     "(graphile_worker.grant_role(role, 'admin') gives them)")
            except psycopg.Error as exc:
                ok, why = False, f"read-only: {explain(exc)}"
            self._can_act = (now, ok, why)
        return self._can_act[1], self._can_act[2]

    def base(self, request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    async def render(self, request: Request, template: str, context: dict[str, Any],
                     status: int = 200) -> Response:
        can_act, read_only_reason = await self.can_act()
        token = request.cookies.get(CSRF_COOKIE)
        new_token = None
        if not self.csrf.valid_cookie(token):
            token = new_token = self.csrf.new_token()
        flash_raw = request.cookies.get(FLASH_COOKIE)
        try:
            flash = json.loads(unquote(flash_raw)) if flash_raw else None
        except ValueError:
            flash = None
        base = self.base(request)
        html = self.templates.get_template(template).render(
            base=base, settings=self.settings, can_act=can_act,
            read_only_reason=read_only_reason, csrf_field=CSRF_FIELD, csrf_token=token,
            flash=flash if isinstance(flash, dict) else None, states=STATES,
            path=request.url.path, listening=self.hub.listening, **context,
        )
        response = HTMLResponse(html, status_code=status)
        cookie_path = base or "/"
        if new_token:
            response.set_cookie(CSRF_COOKIE, new_token, httponly=True, samesite="strict",
                                path=cookie_path)
        if flash_raw and request.method == "GET" and not request.headers.get("x-gw-live"):
            response.delete_cookie(FLASH_COOKIE, path=cookie_path)
        return response

    def flash(self, response: Response, request: Request, level: str, message: str,
              details: list[str] | None = None) -> Response:
        body = json.dumps({"level": level, "message": message, "details": details or []})
        response.set_cookie(FLASH_COOKIE, quote(body), httponly=True, samesite="strict",
                            path=self.base(request) or "/")
        return response

    async def error_page(self, request: Request, message: str, status: int) -> Response:
        return await self.render(request, "error.html", {"message": message}, status=status)


def explain(exc: psycopg.Error) -> str:
    """A database error as one line an operator can act on."""
    diag = exc.diag
    text = diag.message_primary or str(exc).splitlines()[0]
    if isinstance(exc, pg_errors.InsufficientPrivilege):
        return (f"the database refused: {text}. The dashboard's role needs the monitor level "
                "to read and the admin level to act (graphile_worker.grant_role)")
    if isinstance(exc, pg_errors.UndefinedFunction):
        return (f"{text}: the installed graphile_worker extension is older than this dashboard "
                "(ALTER EXTENSION graphile_worker UPDATE)")
    parts = [text]
    if diag.message_detail:
        parts.append(diag.message_detail)
    if diag.message_hint:
        parts.append(diag.message_hint)
    code = f" [{diag.sqlstate}]" if diag.sqlstate else ""
    return " ".join(parts) + code
