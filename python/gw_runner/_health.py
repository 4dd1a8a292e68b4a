"""Liveness and readiness of a worker, for container orchestrators.

- :meth:`Worker.health() <gw_runner.Worker.health>` returns a :class:`WorkerHealth`: an
  application that embeds the worker serves it from its own HTTP routes.
- :class:`HealthServer` serves it over HTTP from a thread of its own (the CLI's
  ``--health-port`` and ``--health-host``, loopback by default): ``GET /live`` and
  ``GET /ready`` answer 200 or 503 with the JSON document; ``GET /`` is ``/ready``. Its
  answers hold no worker id; its connections are bounded in number and time.
- :func:`heartbeat_file` (the CLI's ``--health-file``) touches a file every few seconds while
  the worker is ready, from the worker's own loop, for ``exec`` probes that check its age.

Alive means: the worker runs (starting, running or stopping) and its event loop ticked within
``stall_after`` seconds (a handler that blocks the loop stops the ticks). Ready means: alive,
not stopping, and the worker's database connections work (the last operation succeeded; a
lost connection is noticed at the next claim, within ``poll_interval``) and, when it LISTENs,
the LISTEN connection is up.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import math
import os
import socket
import threading
import time
from dataclasses import asdict, dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, Protocol

from ._settings import DEFAULT_HEALTH_HOST, HEALTH_MAX_CONNECTIONS, HEALTH_REQUEST_TIMEOUT

log = logging.getLogger("gw_runner.health")


@dataclass(frozen=True, slots=True)
class WorkerHealth:
    """A snapshot of a worker's health (see the module docstring for alive and ready).

    It holds nothing that grants power (no worker id): safe to serve to anyone who can reach
    the endpoint. The worker id is :attr:`Worker.worker_id <gw_runner.Worker.worker_id>`."""

    state: str  # new, starting, running, stopping, stopped
    alive: bool
    ready: bool
    connected: bool
    listening: bool | None  # None when the worker does not LISTEN (once, or listen=False)
    loop_lag: float | None  # seconds since the loop last ticked; None before it started
    running_jobs: int
    queued_jobs: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class WorkerSnapshot:
    """What a worker shows of itself to health checks (``Worker.snapshot()``): plain values,
    safe to read from another thread."""

    state: str
    last_tick: float  # monotonic time the event loop last ticked; 0 before it started
    connected: bool  # its database channels work
    listening: bool | None  # None when it does not LISTEN
    running_jobs: int
    queued_jobs: int


class HealthSource(Protocol):
    """What the health server and the health file need of a worker."""

    worker_id: str
    state: str

    def health(self, *, stall_after: float = 10.0) -> WorkerHealth: ...


def health_from(snapshot: WorkerSnapshot, *, stall_after: float = 10.0) -> WorkerHealth:
    """Alive and ready (see the module docstring) from a worker's snapshot."""
    state = snapshot.state
    tick = snapshot.last_tick
    lag = time.monotonic() - tick if tick else None
    active = state in ("starting", "running", "stopping")
    alive = active and (lag is None or lag < stall_after)
    listening = snapshot.listening
    ready = alive and state == "running" and snapshot.connected and listening is not False
    return WorkerHealth(
        state=state,
        alive=alive,
        ready=ready,
        connected=snapshot.connected,
        listening=listening,
        loop_lag=round(lag, 3) if lag is not None else None,
        running_jobs=snapshot.running_jobs,
        queued_jobs=snapshot.queued_jobs,
    )


class HealthServer:
    """A tiny HTTP server on its own thread: ``GET /live``, ``GET /ready`` (and ``/``, =
    ready) answer 200 when true, 503 otherwise, with the :class:`WorkerHealth` as JSON.

    ``host`` is loopback by default: pass ``"0.0.0.0"`` (or ``"::"``) where a probe comes
    from outside, e.g. in a container. ``port=0`` picks a free port (see :attr:`port` after
    :meth:`start`). The answers hold nothing that grants power (no worker id).

    Bounded whatever clients do: one thread and at most ``max_connections`` sockets. A
    client has ``request_timeout`` seconds to send its request and read the answer, then its
    connection is closed; one request per connection. When all slots are taken, a newcomer
    takes the slot of the oldest connection that has not sent its request yet (so idle
    connections cannot lock probes out), or is closed at once if every slot is answering.
    When the process runs out of file descriptors, accepting pauses for a second at a time
    instead of spinning. Errors from clients go through the ``gw_runner.health`` logger (a
    client that goes away at debug level), never to stderr directly.
    """

    def __init__(
        self,
        worker: HealthSource,
        *,
        host: str = DEFAULT_HEALTH_HOST,
        port: int = 0,
        stall_after: float = 10.0,
        request_timeout: float = HEALTH_REQUEST_TIMEOUT,
        max_connections: int = HEALTH_MAX_CONNECTIONS,
    ) -> None:
        if not request_timeout > 0 or not math.isfinite(request_timeout):
            raise ValueError(f"request_timeout must be a positive number, not {request_timeout!r}")
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, not {max_connections!r}")
        self.worker = worker
        self.host = host
        self._port = port
        self.stall_after = stall_after
        self.request_timeout = request_timeout
        self.max_connections = max_connections
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._failure: BaseException | None = None
        # open connections, oldest first; the value: still waiting for its request
        self._conns: dict[asyncio.StreamWriter, bool] = {}
        self._resource_warned = -math.inf
        self._evict_warned = -math.inf

    @property
    def port(self) -> int:
        if self._sock is None:
            return self._port
        return int(self._sock.getsockname()[1])

    def start(self) -> None:
        """Bind (raises :class:`OSError` if the address is unusable) and serve from a thread."""
        if self._thread is not None:
            raise RuntimeError("the health server is already started")
        family, _, _, _, address = socket.getaddrinfo(
            self.host, self._port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        self._sock = socket.create_server(address, family=family, backlog=64)
        self._started.clear()
        self._failure = None
        self._thread = threading.Thread(target=self._serve, name="gw-health", daemon=True)
        self._thread.start()
        self._started.wait(30)
        if self._failure is not None:
            failure = self._failure
            self.stop()
            raise failure
        log.info("health endpoint on http://%s:%d/live and /ready", _url_host(self.host),
                 self.port, extra={"worker_id": self.worker.worker_id})

    def stop(self) -> None:
        loop, stop, thread = self._loop, self._stop, self._thread
        if loop is not None and stop is not None:
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:  # the loop is closed already
                pass
        if thread is not None:
            thread.join(10)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> HealthServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the server's thread -------------------------------------------------------------------

    def _serve(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as e:  # reported to start() or logged, never lost
            if not self._started.is_set():
                self._failure = e
            else:
                log.error("the health endpoint stopped: %s", e, exc_info=True)
        finally:
            self._loop = None
            self._started.set()

    async def _main(self) -> None:
        assert self._sock is not None
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self._on_loop_error)
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._on_connection, sock=self._sock, limit=_LINE_LIMIT)
        self._loop = loop
        self._started.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            for writer in list(self._conns):
                writer.transport.abort()
            self._conns.clear()
            self._sock = None  # closed with the server

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """asyncio's own errors (accept failures above all) go to the logger, not stderr."""
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in _OUT_OF_RESOURCES:
            # asyncio stops accepting for a second, then tries again
            now = time.monotonic()
            if now - self._resource_warned >= 60:
                self._resource_warned = now
                log.warning("health endpoint: cannot accept connections (%s); retrying every "
                            "second", exc, extra={"worker_id": self.worker.worker_id})
            return
        log.warning("health endpoint: %s", context.get("message", "error"),
                    exc_info=exc if isinstance(exc, BaseException) else None,
                    extra={"worker_id": self.worker.worker_id})

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = _peer(writer)
        if len(self._conns) >= self.max_connections and not self._evict_one(peer):
            log.debug("health endpoint: %s refused: %d connections are answering", peer,
                      len(self._conns))
            writer.transport.abort()
            return
        self._conns[writer] = True
        try:
            async with asyncio.timeout(self.request_timeout):
                request = await _read_request(reader)
                self._conns[writer] = False  # answering: no longer evictable
                writer.write(self._answer(request))
                await writer.drain()
                writer.close()
                await writer.wait_closed()
        except TimeoutError:
            log.debug("health endpoint: %s closed: no request answered within %g s", peer,
                      self.request_timeout)
        except (ConnectionError, _ClientGone) as e:
            if writer in self._conns:  # not closed by _evict_one (which logged it)
                log.debug("health endpoint: %s went away: %s", peer, e or type(e).__name__)
        except Exception:
            log.warning("health endpoint: error serving %s", peer, exc_info=True,
                        extra={"worker_id": self.worker.worker_id})
        finally:
            if self._conns.pop(writer, None) is not None:
                writer.transport.abort()  # a no-op once closed

    def _evict_one(self, newcomer: str) -> bool:
        """Close the oldest connection that has not sent its request yet; False if none."""
        victim = next((w for w, waiting in self._conns.items() if waiting), None)
        if victim is None:
            return False
        del self._conns[victim]
        victim.transport.abort()
        now = time.monotonic()
        if now - self._evict_warned >= 60:
            self._evict_warned = now
            log.warning(
                "health endpoint: all %d connections were taken; closing the idle ones, oldest "
                "first (is something holding connections open?)", self.max_connections,
                extra={"worker_id": self.worker.worker_id},
            )
        log.debug("health endpoint: closed the idle connection %s to make room for %s",
                  _peer(victim), newcomer)
        return True

    def _answer(self, request: _Request) -> bytes:
        if isinstance(request, int):
            return _response(request, {"error": HTTPStatus(request).phrase})
        method, target = request
        if method not in ("GET", "HEAD"):
            return _response(405, {"error": "use GET"}, allow=True)
        head = method == "HEAD"
        path = target.split("?", 1)[0].rstrip("/") or "/ready"
        if path not in ("/live", "/ready"):
            return _response(404, {"error": "not found: try /live or /ready"}, head=head)
        health = self.worker.health(stall_after=self.stall_after)
        ok = health.alive if path == "/live" else health.ready
        return _response(200 if ok else 503, health.as_dict(), head=head)


_LINE_LIMIT = 8192  # longest request or header line
_MAX_HEADER_LINES = 100
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})

# the method and target of a request, or the status code of a malformed one
_Request = tuple[str, str] | int


class _ClientGone(Exception):
    """The client closed its connection before sending a whole request."""


async def _readline(reader: asyncio.StreamReader) -> bytes | None:
    """A line with its end, None if longer than the limit; raises _ClientGone at EOF."""
    try:
        line = await reader.readline()
    except ValueError:  # over the limit
        return None
    if not line.endswith(b"\n"):
        raise _ClientGone("closed before sending a whole request")
    return line


async def _read_request(reader: asyncio.StreamReader) -> _Request:
    """Reads the request line and the headers (ignored; a GET has no body)."""
    line = await _readline(reader)
    if line is None:
        return 414
    parts = line.decode("latin-1").split()
    for _ in range(_MAX_HEADER_LINES + 1):
        header = await _readline(reader)
        if header is None:
            return 431
        if header in (b"\r\n", b"\n"):
            break
    else:
        return 431
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return 400
    return parts[0], parts[1]


def _response(
    status: int, document: dict[str, Any], *, head: bool = False, allow: bool = False
) -> bytes:
    body = json.dumps(document).encode()
    lines = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Cache-Control: no-store",
        "Connection: close",
    ]
    if allow:
        lines.append("Allow: GET, HEAD")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (b"" if head else body)


def _peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{_url_host(str(peer[0]))}:{peer[1]}"
    return str(peer)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def heartbeat_file(
    worker: HealthSource, path: str | os.PathLike[str], *, interval: float = 5.0
) -> None:
    """Touch ``path`` every ``interval`` seconds while ``worker`` is ready; remove it when the
    worker stops (or this task is cancelled). An ``exec`` probe checks the file's age, e.g.
    ``test $(( $(date +%s) - $(stat -c %Y FILE) )) -lt 30``."""
    file = Path(path)
    touched = -math.inf
    try:
        while worker.state != "stopped":
            now = time.monotonic()
            if now - touched >= interval and worker.health().ready:
                touched = now
                try:
                    file.touch()
                except OSError as e:
                    log.warning("cannot touch the health file %s: %s", file, e)
            await asyncio.sleep(min(interval, 0.5))  # the first touch soon after ready
    finally:
        try:
            file.unlink(missing_ok=True)
        except OSError:
            pass
