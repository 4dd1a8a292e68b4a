"""What a :class:`~gw_runner.Worker` wires in for observability, in one object: the Prometheus
endpoint (``_metrics``, when ``metrics_port`` is set) and OpenTelemetry tracing (``_otel``,
when ``otel`` is set). Both are off by default, and then nothing of theirs is imported and
the stages get ``None`` (one ``is None`` test per claim, report or job)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._pool import AsyncPool, pool_conninfo
from ._settings import WorkerSettings
from .errors import ConfigurationError

if TYPE_CHECKING:
    from ._health import WorkerSnapshot
    from ._metrics import MetricsServer, RunnerMetrics
    from ._otel import JobTracer


class Telemetry:
    """Built with the worker: raises :class:`ConfigurationError` when metrics or tracing are
    asked for and their package is missing (naming the extra to install).

    - ``metrics``: the counters the running and reporting stages feed, or None;
    - ``claim_timer``: called with the seconds of each claim's round trip, or None;
    - ``tracer``: the job span maker of the running stage, or None.
    """

    def __init__(self, settings: WorkerSettings, snapshot: Callable[[], WorkerSnapshot]) -> None:
        self._settings = settings
        self.server: MetricsServer | None = None
        self.metrics: RunnerMetrics | None = None
        self.claim_timer: Callable[[float], None] | None = None
        self.tracer: JobTracer | None = None
        if settings.metrics_port is not None:
            from ._metrics import MetricsServer, RunnerMetrics, require_prometheus

            require_prometheus()
            metrics = RunnerMetrics(snapshot=snapshot, concurrency=settings.concurrency,
                                    stats_interval=settings.metrics_stats_interval)
            self.server = MetricsServer(metrics, host=settings.metrics_host,
                                        port=settings.metrics_port)
            self.metrics = metrics
            self.claim_timer = metrics.observe_claim
        if settings.otel:
            from ._otel import JobTracer, enable_tracing

            enable_tracing()  # raises ConfigurationError without opentelemetry-api
            self.tracer = JobTracer()

    @property
    def metrics_port(self) -> int | None:
        """The port the metrics endpoint is bound to, once started."""
        return self.server.port if self.server is not None else None

    async def start(self, pool: AsyncPool | None) -> None:
        """Serve the metrics endpoint; a :class:`ConfigurationError` when its address cannot
        be bound."""
        server = self.server
        if server is None:
            return
        conninfo, kwargs = self._settings.connection, dict[str, Any]()
        if pool is not None:
            conninfo, kwargs = await pool_conninfo(pool)
        try:
            server.start(conninfo, kwargs)
        except OSError as e:
            raise ConfigurationError(
                f"cannot serve the metrics endpoint on {server.host}:{server.port}: {e}"
            ) from e

    async def stop(self) -> None:
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)

    def __repr__(self) -> str:
        parts: list[Any] = []
        if self.server is not None:
            parts.append(f"metrics {self.server.host}:{self.server.port}")
        if self.tracer is not None:
            parts.append("otel")
        return f"<Telemetry {', '.join(parts) or 'off'}>"
