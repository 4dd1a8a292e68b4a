"""Runner settings: one frozen dataclass shared by the CLI and the library's :class:`Worker`."""

from __future__ import annotations

import math
import os
import secrets
import socket
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import ConfigurationError

DEFAULT_POLL_INTERVAL = 2.0
DEFAULT_LOCAL_QUEUE_TTL = 300.0
DEFAULT_REPORT_DELAY = 0.005
DEFAULT_SHUTDOWN_TIMEOUT = 25.0
DEFAULT_HEARTBEAT_INTERVAL = 30.0
DEFAULT_STALE_AFTER = 300.0
DEFAULT_SWEEP_INTERVAL = 60.0
DEFAULT_RECOVERY_DELAY = 0.0
DEFAULT_PRUNE_INTERVAL = 60.0
#: The shortest prune interval other than 0 (off).
MIN_PRUNE_INTERVAL = 0.01
MAX_BATCH_SIZE = 10_000  # get_jobs refuses more

# The health endpoint (HealthServer, the CLI's --health-*): loopback unless asked otherwise
# (containers pass --health-host 0.0.0.0); a client has HEALTH_REQUEST_TIMEOUT seconds to send
# its request and read the answer; at most HEALTH_MAX_CONNECTIONS are open at once.
DEFAULT_HEALTH_HOST = "127.0.0.1"
HEALTH_REQUEST_TIMEOUT = 5.0
HEALTH_MAX_CONNECTIONS = 16
# The metrics endpoint (--metrics-*): loopback unless asked otherwise, like the health endpoint;
# graphile_worker.queue_stats() is read at most every DEFAULT_METRICS_STATS_INTERVAL seconds.
DEFAULT_METRICS_HOST = "127.0.0.1"
DEFAULT_METRICS_STATS_INTERVAL = 5.0


def make_worker_id() -> str:
    """``gw-<host>-<pid>-<random hex>``, at most 128 characters (the column limit)."""
    host = (socket.gethostname() or "host")[:80]
    return f"gw-{host}-{os.getpid()}-{secrets.token_hex(4)}"


@dataclass(frozen=True)
class WorkerSettings:
    """How a :class:`~gw_runner.Worker` runs. Every field but ``forbidden_flags``,
    ``worker_id`` and ``reset_locked_interval`` (library only) has a CLI option (see
    docs/runner.md).

    - ``connection``: libpq connection string or URI; empty means libpq's defaults (``PG*``
      environment variables).
    - ``concurrency``: jobs run at the same time (async handlers as tasks, sync handlers on a
      thread pool of this size).
    - ``once``: run until nothing is runnable, then stop (no LISTEN, no cron, no pruning).
    - ``poll_interval``: seconds between polls when idle (a NOTIFY or the next job's due time
      wakes the runner earlier).
    - ``listen``: LISTEN for ``jobs:insert`` (turn off behind PgBouncer transaction pooling).
    - ``batch_size``: most jobs claimed per ``get_jobs`` call; None means adaptive: from
      ``max(2 * concurrency, 50)`` up to 500 while a backlog of fast jobs lasts (docs/runner.md).
    - ``local_queue_ttl``: claimed jobs not started within this many seconds are returned.
    - ``report_delay``: outcomes are reported in one call at most this many seconds after the
      first one of a batch is ready (sooner when ``batch_size`` are ready or the runner idles).
    - ``shutdown_timeout``: on SIGTERM/SIGINT, running jobs get this many seconds to finish.
    - ``crontab``: path of a crontab file, read and checked at start, scheduled at every
      minute boundary (not with ``once``; see docs/cron.md).
    - ``forbidden_flags``: jobs having any of these flags are not claimed.
    - ``prepared_statements``: let psycopg prepare repeated statements (turn off for
      PgBouncer in transaction mode before 1.21).
    - ``worker_id``: the id jobs are locked with; None makes ``gw-<host>-<pid>-<hex>``.
    - ``durable_claims``: wait for the WAL flush when claiming. Off by default: the claim
      connection runs with ``synchronous_commit=off``, which takes a disk flush off the path
      from NOTIFY to handler start. A claim lost in a server crash only means the job is
      claimed again (at-least-once, as always); outcomes are always reported durably.
    - ``recovery``: crash recovery (docs/recovery.md): register, send heartbeats, run the
      stale-worker sweep, deregister at a clean shutdown.
    - ``heartbeat_interval``: seconds between heartbeats.
    - ``stale_after``: the stale threshold: a runner whose last heartbeat is older than this
      is declared lost by the sweep and its jobs are released. At least 3 heartbeat intervals.
    - ``sweep_interval``: seconds between stale-worker sweeps (+-25 % jitter).
    - ``recovery_delay``: released jobs become runnable this many seconds after the sweep.
    - ``job_timeout``: time limit in seconds of a job whose task sets none (``@task(timeout=)``)
      and whose flags set none (``timeout:SECONDS``); None means no limit.
    - ``prune_interval``: seconds between rounds of ``prune_finished_jobs`` (+-25 % jitter),
      which delete the finished jobs kept past their retention (docs/history.md); 0 means
      this runner does not prune. Not with ``once``.
    - ``metrics_port``: serve Prometheus metrics at ``http://metrics_host:PORT/metrics`` while
      the worker runs (0: a free port, logged); None (default): no metrics. Needs
      ``prometheus_client`` (the ``metrics`` extra). See docs/operations.md.
    - ``metrics_host``: the address the metrics endpoint listens on (loopback by default).
    - ``metrics_stats_interval``: the queue gauges read ``graphile_worker.queue_stats()`` at
      most this often, when scraped (seconds); 0: this runner shows no queue gauges.
    - ``otel``: OpenTelemetry tracing: a span per job, and spans for enqueueing through the
      Python API of this process (needs ``opentelemetry-api``, the ``otel`` extra; spans go
      to the globally configured TracerProvider). See docs/operations.md.
    """

    connection: str = ""
    concurrency: int = 1
    once: bool = False
    poll_interval: float = DEFAULT_POLL_INTERVAL
    listen: bool = True
    batch_size: int | None = None
    local_queue_ttl: float = DEFAULT_LOCAL_QUEUE_TTL
    report_delay: float = DEFAULT_REPORT_DELAY
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT
    crontab: str | None = None
    forbidden_flags: tuple[str, ...] | None = None
    prepared_statements: bool = True
    worker_id: str | None = None
    durable_claims: bool = False
    reset_locked_interval: tuple[float, float] = field(default=(480.0, 600.0))
    recovery: bool = True
    heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL
    stale_after: float = DEFAULT_STALE_AFTER
    sweep_interval: float = DEFAULT_SWEEP_INTERVAL
    recovery_delay: float = DEFAULT_RECOVERY_DELAY
    job_timeout: float | None = None
    prune_interval: float = DEFAULT_PRUNE_INTERVAL
    metrics_port: int | None = None
    metrics_host: str = DEFAULT_METRICS_HOST
    metrics_stats_interval: float = DEFAULT_METRICS_STATS_INTERVAL
    otel: bool = False

    def __post_init__(self) -> None:
        _check_int("concurrency", self.concurrency, 1, 1000)
        if self.batch_size is not None:
            _check_int("batch_size", self.batch_size, 1, MAX_BATCH_SIZE)
        _check_seconds("poll_interval", self.poll_interval, minimum=0.01)
        _check_seconds("local_queue_ttl", self.local_queue_ttl, minimum=0.01)
        _check_seconds("report_delay", self.report_delay, minimum=0.0)
        _check_seconds("shutdown_timeout", self.shutdown_timeout, minimum=0.0)
        if self.worker_id is not None and not 0 < len(self.worker_id) <= 128:
            raise ConfigurationError("worker_id must have 1 to 128 characters")
        if self.forbidden_flags is not None and isinstance(self.forbidden_flags, str):
            raise ConfigurationError("forbidden_flags must be a sequence of strings")
        _check_seconds("heartbeat_interval", self.heartbeat_interval, minimum=0.01)
        _check_seconds("stale_after", self.stale_after, minimum=0.03)
        _check_seconds("sweep_interval", self.sweep_interval, minimum=0.01)
        _check_seconds("recovery_delay", self.recovery_delay, minimum=0.0)
        if self.stale_after < 3 * self.heartbeat_interval:
            raise ConfigurationError(
                f"stale_after ({self.stale_after:g} s) must be at least 3 heartbeat intervals "
                f"({3 * self.heartbeat_interval:g} s): one late heartbeat must not make a live "
                "runner count as lost"
            )
        if self.job_timeout is not None:
            _check_seconds("job_timeout", self.job_timeout, minimum=0.001)
        prune = self.prune_interval
        if not (isinstance(prune, int | float) and not isinstance(prune, bool) and (
                prune == 0 or (math.isfinite(prune) and prune >= MIN_PRUNE_INTERVAL))):
            raise ConfigurationError(
                f"prune_interval must be 0 (no pruning) or a number of seconds >= "
                f"{MIN_PRUNE_INTERVAL:g}, not {prune!r}"
            )

        if self.metrics_port is not None:
            _check_int("metrics_port", self.metrics_port, 0, 65535)
        if not isinstance(self.metrics_host, str) or not self.metrics_host.strip():
            raise ConfigurationError(
                f"metrics_host must be an address or host name, not {self.metrics_host!r}")
        _check_seconds("metrics_stats_interval", self.metrics_stats_interval, minimum=0.0)
        if not isinstance(self.otel, bool):
            raise ConfigurationError(f"otel must be True or False, not {self.otel!r}")

    @property
    def effective_batch_size(self) -> int:
        if self.batch_size is not None:
            return self.batch_size
        return min(MAX_BATCH_SIZE, max(2 * self.concurrency, 50))

    def with_changes(self, **changes: Any) -> WorkerSettings:
        return replace(self, **changes)


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigurationError(f"{name} must be an integer from {low} to {high}, not {value!r}")


def _check_seconds(name: str, value: Any, *, minimum: float) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value < minimum:
        raise ConfigurationError(
            f"{name} must be a number of seconds >= {minimum:g}, not {value!r}"
        )
