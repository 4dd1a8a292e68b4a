"""Liveness and readiness of a worker, for container orchestrators.

- :meth:`Worker.health() <gw_runner.Worker.health>` returns a :class:`WorkerHealth`: an
  application that embeds the worker serves it from its own HTTP routes.
- :class:`HealthServer` serves it over HTTP from a thread of its own (the CLI's
  ``--health-port``): ``GET /live`` and ``GET /ready`` answer 200 or 503 with the JSON
  document; ``GET /`` is ``/ready``.
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
import json
import logging
import math
import os
import threading
import time
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._worker import Worker

log = logging.getLogger("gw_runner.health")


@dataclass(frozen=True, slots=True)
class WorkerHealth:
    """A snapshot of a worker's health (see the module docstring for alive and ready)."""

    worker_id: str
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


def _channel_ok(channel: Any) -> bool:
    if channel is None:
        return False
    connected = getattr(channel, "connected", None)
    if connected is not None:  # a PoolChannel
        return bool(connected)
    conn = getattr(channel, "conn", None)
    return conn is not None and not conn.closed and not conn.broken


def worker_health(worker: Worker, *, stall_after: float = 10.0) -> WorkerHealth:
    """The health of ``worker`` (reads a few attributes: safe from another thread)."""
    state = worker.state
    s = worker.settings
    tick = worker._last_tick
    lag = time.monotonic() - tick if tick else None
    active = state in ("starting", "running", "stopping")
    alive = active and (lag is None or lag < stall_after)
    connected = _channel_ok(getattr(worker, "_claim", None)) and _channel_ok(
        getattr(worker, "_report", None)
    )
    listens = s.listen and not s.once
    listening = worker._listening if listens else None
    ready = alive and state == "running" and connected and listening is not False
    return WorkerHealth(
        worker_id=worker.worker_id,
        state=state,
        alive=alive,
        ready=ready,
        connected=connected,
        listening=listening,
        loop_lag=round(lag, 3) if lag is not None else None,
        running_jobs=len(worker._running),
        queued_jobs=len(worker._queue),
    )


class HealthServer:
    """A tiny HTTP server on its own thread: ``/live``, ``/ready`` (and ``/``, = ready)
    answer 200 when true, 503 otherwise, with the :class:`WorkerHealth` as JSON.

    ``port=0`` picks a free port (see :attr:`port` after :meth:`start`).
    """

    def __init__(
        self, worker: Worker, *, host: str = "0.0.0.0", port: int = 0, stall_after: float = 10.0
    ) -> None:
        self.worker = worker
        self.host = host
        self._port = port
        self.stall_after = stall_after
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            return self._port
        return int(self._server.server_address[1])

    def start(self) -> None:
        server_self = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0].rstrip("/") or "/ready"
                if path not in ("/live", "/ready"):
                    self.send_error(404, "try /live or /ready")
                    return
                health = server_self.worker.health(stall_after=server_self.stall_after)
                ok = health.alive if path == "/live" else health.ready
                body = json.dumps(health.as_dict()).encode()
                self.send_response(200 if ok else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # probes every few seconds would flood the log

        self._server = ThreadingHTTPServer((self.host, self._port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="gw-health", daemon=True
        )
        self._thread.start()
        log.info("health endpoint on http://%s:%d/live and /ready", self.host, self.port,
                 extra={"worker_id": self.worker.worker_id})

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> HealthServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


async def heartbeat_file(
    worker: Worker, path: str | os.PathLike[str], *, interval: float = 5.0
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
