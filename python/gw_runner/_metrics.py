"""The runner's Prometheus endpoint (``--metrics-port``, ``WorkerSettings.metrics_port``).

Nothing here runs unless metrics are asked for, and ``prometheus_client`` (the ``metrics``
extra) is imported only then. What it costs while on:

- per job: 1 added to a plain ``int`` in a dict when the handler starts (``job_started``, by
  the running stage) and, from the rows of each report (``record``, by the reporting stage),
  1 to the outcome's count and the handler's duration to a histogram's bucket, on the event
  loop's thread: no lock, no ``prometheus_client`` call, no hook event (the hooks' event
  objects cost more than all of this);
- per claim and per report: one ``perf_counter`` pair around the SQL call and one bucket
  (``observe_claim``/``observe_report``, passed to the stages);
- per scrape (the HTTP server's own thread): the families are built from those numbers, the
  worker's snapshot (local queue, busy slots), and ``graphile_worker.queue_stats()``, read on a
  connection of its own at most every ``stats_interval`` seconds and kept between scrapes. A
  query that fails leaves the last values in place: ``..._queue_stats_up`` drops to 0 and
  ``..._queue_stats_errors_total`` counts it; the scrape itself never fails for it.

The names are documented in docs/operations.md ("Metrics and tracing").
"""

from __future__ import annotations

import importlib.util
import logging
import select
import socket
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from . import _sql
from ._db import connect_kwargs
from ._text import first_line
from .errors import ConfigurationError

if TYPE_CHECKING:
    from ._health import WorkerSnapshot
    from ._record import JobRun

log = logging.getLogger("gw_runner.metrics")

PREFIX = "graphile_worker_"
#: Buckets (seconds) of the job duration histogram.
JOB_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
               300.0, 900.0, 3600.0)
#: Buckets (seconds) of the claim and report round trips.
CALL_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                5.0, 10.0)
#: The query of queue_stats() may take this long (ms) before the server cancels it.
STATS_STATEMENT_TIMEOUT_MS = 5000
#: Seconds a scrape's client gets to send its request.
REQUEST_TIMEOUT = 5.0
#: How often the server's thread looks whether it must stop (a stop takes at most this long).
POLL_INTERVAL = 0.05
#: The states of graphile_worker_queue_jobs, from the columns of queue_stats().
_STATES = ("waiting", "scheduled", "running", "failed")


def require_prometheus() -> None:
    """Raise a :class:`ConfigurationError` that says how to install ``prometheus_client`` when
    it cannot be found. It is only looked up here: the import (about 60 ms with
    ``http.server``) waits for the first scrape, so a runner nobody scrapes pays nothing."""
    try:
        found = importlib.util.find_spec("prometheus_client") is not None
        error = "not found"
    except ImportError as e:
        found, error = False, str(e)
    if not found:
        raise ConfigurationError(
            "metrics (--metrics-port, metrics_port) need the prometheus_client package, which "
            "is not installed: pip install 'gw_runner[metrics]' (or pip install "
            f"prometheus-client) ({error})"
        ) from None


class Histogram:
    """A histogram kept in plain numbers (one thread writes, a scrape reads)."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one: above every bound (+Inf)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def cumulative(self) -> tuple[list[tuple[str, float]], float]:
        """``(le, cumulative count)`` pairs ending with ``+Inf``, and the sum."""
        counts, total = list(self.counts), self.total
        out: list[tuple[str, float]] = []
        acc = 0
        for bound, n in zip((*[_fmt(b) for b in self.bounds], "+Inf"), counts, strict=True):
            acc += n
            out.append((bound, acc))
        return out, total


def _fmt(bound: float) -> str:
    return repr(float(bound))


class RunnerMetrics:
    """The counters and histograms of one worker, fed by its stages, and the
    ``prometheus_client`` collector that shows them with the worker's snapshot and the queue
    statistics (see the module docstring)."""

    def __init__(
        self, *, snapshot: Callable[[], WorkerSnapshot], concurrency: int, stats_interval: float
    ) -> None:
        self._snapshot = snapshot
        self._concurrency = concurrency
        self.started: dict[str, int] = {}
        self.succeeded: dict[str, int] = {}
        self.failed: dict[str, int] = {}
        self.permanently_failed: dict[str, int] = {}
        self.cancelled: dict[str, int] = {}
        self.durations: dict[tuple[str, str], Histogram] = {}
        self.claims = Histogram(CALL_BUCKETS)
        self.reports = Histogram(CALL_BUCKETS)
        self.stats = QueueStats(stats_interval) if stats_interval > 0 else None

    # -- fed by the worker (its event loop's thread) --------------------------------------

    def observe_claim(self, seconds: float) -> None:
        self.claims.observe(seconds)

    def observe_report(self, seconds: float) -> None:
        self.reports.observe(seconds)

    def job_started(self, task: str) -> None:
        """A slot calls the handler of a job of ``task``."""
        self.started[task] = self.started.get(task, 0) + 1

    def record(self, rows: list[tuple[Any, ...]], runs: Mapping[int, JobRun]) -> None:
        """The outcomes of one ``report_jobs`` call, as the database recorded them: the same
        events as the outcome hooks (``completed``, ``failed``, ``permanently_failed``,
        ``cancelled``; ``snoozed`` and ``lost`` count nothing)."""
        durations = self.durations
        for row in rows:
            run = runs.get(row[0])
            if run is None:
                continue
            outcome = row[1]
            task = run.job.task_identifier
            if outcome == "completed":
                counts, kind = self.succeeded, "succeeded"
            elif outcome == "failed" or outcome == "permanently_failed":
                counts, kind = self.failed, "failed"
                if outcome == "permanently_failed":
                    self.permanently_failed[task] = self.permanently_failed.get(task, 0) + 1
            elif outcome == "cancelled":
                counts, kind = self.cancelled, "cancelled"
            else:
                continue
            counts[task] = counts.get(task, 0) + 1
            seconds = run.duration
            if seconds is not None:
                hist = durations.get((task, kind))
                if hist is None:
                    hist = durations[(task, kind)] = Histogram(JOB_BUCKETS)
                hist.observe(seconds)

    # -- read by a scrape (the HTTP server's thread) ---------------------------------------

    def describe(self) -> list[Any]:
        return []  # no fixed description: the registry then calls collect() only per scrape

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        for name, values, text in (
            ("jobs_started", self.started, "Jobs whose handler started, per task."),
            ("jobs_succeeded", self.succeeded, "Jobs completed (recorded by the database)."),
            ("jobs_failed", self.failed,
             "Failed attempts recorded by the database, retried or not, per task."),
            ("jobs_permanently_failed", self.permanently_failed,
             "Failed attempts after which the job does not run again, per task."),
            ("jobs_cancelled", self.cancelled,
             "Jobs cancelled while they ran (cancel_jobs) and ended as cancelled, per task."),
        ):
            counter = CounterMetricFamily(PREFIX + name, text, labels=["task"])
            for task, n in list(values.items()):
                counter.add_metric([task], n)
            yield counter
        hist = HistogramMetricFamily(
            PREFIX + "job_duration_seconds",
            "Seconds a handler ran, per task and outcome (succeeded, failed, cancelled).",
            labels=["task", "outcome"],
        )
        for (task, outcome), h in list(self.durations.items()):
            buckets, total = h.cumulative()
            hist.add_metric([task, outcome], buckets, total)
        yield hist
        for name, h, text in (
            ("claim_duration_seconds", self.claims,
             "Round trip of a claim (graphile_worker.get_jobs), one per batch."),
            ("report_duration_seconds", self.reports,
             "Round trip of a report (graphile_worker.report_jobs), one per batch."),
        ):
            buckets, total = h.cumulative()
            family = HistogramMetricFamily(PREFIX + name, text)
            family.add_metric([], buckets, total)
            yield family
        snap = self._snapshot()
        yield GaugeMetricFamily(PREFIX + "local_queue_jobs",
                                "Jobs claimed by this runner, waiting for a free slot.",
                                value=snap.queued_jobs)
        yield GaugeMetricFamily(PREFIX + "busy_slots", "Slots running a job now.",
                                value=snap.running_jobs)
        yield GaugeMetricFamily(PREFIX + "slots", "Slots of this runner (its concurrency).",
                                value=self._concurrency)
        if self.stats is not None:
            yield from self.stats.collect()


class QueueStats:
    """``graphile_worker.queue_stats()`` read at most every ``interval`` seconds, when a scrape
    asks, on a connection of its own (never the worker's claim or report connections). A
    scrape that comes while another one refreshes gets the values held."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        #: how to connect: set by :meth:`MetricsServer.start` (the pool's conninfo, if any)
        self.conninfo = ""
        self.connect_kwargs: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        self.rows: list[tuple[Any, ...]] = []
        self.read_at = 0.0  # monotonic time of the last successful read
        self.tried_at = 0.0
        self.up = False
        self.errors = 0
        self._warned = False

    def refresh(self) -> None:
        """Read the statistics again if the last try is ``interval`` seconds old."""
        if time.monotonic() - self.tried_at < self.interval:
            return
        if not self._lock.acquire(blocking=False):
            return
        try:
            self.tried_at = time.monotonic()
            try:
                rows = self._query()
            except Exception as e:
                self.errors += 1
                self.up = False
                self.close()
                denied = isinstance(e, psycopg.Error) and e.sqlstate in ("42501", "42883")
                if denied and not self._warned:
                    self._warned = True
                    log.warning(
                        "metrics: cannot call graphile_worker.queue_stats (%s): the queue "
                        "gauges show no new values. The runner's role needs the monitor level "
                        "(grant_role(role, 'monitor'); admin includes it), or set "
                        "--metrics-stats-interval 0",
                        first_line(e),
                    )
                else:
                    log.log(logging.DEBUG if denied else logging.WARNING,
                            "metrics: queue_stats failed: %s", first_line(e))
                return
            self.rows, self.read_at, self.up = rows, time.monotonic(), True
        finally:
            self._lock.release()

    def _query(self) -> list[tuple[Any, ...]]:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            conn = self._conn = self._connect()
        with conn.cursor() as cur:
            cur.execute(_sql.QUEUE_STATS)
            return cur.fetchall()

    def _connect(self) -> psycopg.Connection[Any]:
        """An autocommit connection whose statements the server cancels after
        ``STATS_STATEMENT_TIMEOUT_MS`` (a libpq startup option, dropped if a pooler refuses
        it), so a slow query cannot hold a scrape for long."""
        kwargs = {**self.connect_kwargs, **connect_kwargs(
            self.conninfo, application_name="gw_runner metrics", prepare=False)}
        kwargs["connect_timeout"] = 5
        try:
            given = conninfo_to_dict(self.conninfo)
        except psycopg.ProgrammingError:
            given = {}
        if "options" not in given and "options" not in kwargs:
            kwargs["options"] = f"-c statement_timeout={STATS_STATEMENT_TIMEOUT_MS}"
        try:
            return psycopg.connect(self.conninfo, **kwargs)
        except psycopg.Error as e:
            if "options" not in kwargs or "startup parameter" not in str(e):
                raise
            del kwargs["options"]
            return psycopg.connect(self.conninfo, **kwargs)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        self.refresh()
        rows = self.rows
        jobs = GaugeMetricFamily(
            PREFIX + "queue_jobs",
            "Jobs in the queue per task, named queue ('' for none) and state: waiting "
            "(runnable now), scheduled (run_at later), running (locked), failed (no attempts "
            "left). From graphile_worker.queue_stats(), read at most every "
            "--metrics-stats-interval seconds.",
            labels=["task", "queue", "state"],
        )
        retrying = GaugeMetricFamily(
            PREFIX + "queue_retrying_jobs",
            "Jobs that failed before and will run again (also counted as waiting or "
            "scheduled), per task and named queue.",
            labels=["task", "queue"],
        )
        oldest = GaugeMetricFamily(
            PREFIX + "queue_oldest_waiting_age_seconds",
            "Age of the oldest waiting job (runnable since its run_at), per task and named "
            "queue; 0 when none waits.",
            labels=["task", "queue"],
        )
        for task, queue, waiting, scheduled, running, failed, retry, age in rows:
            labels = [task, queue or ""]
            for state, n in zip(_STATES, (waiting, scheduled, running, failed), strict=True):
                jobs.add_metric([*labels, state], n)
            retrying.add_metric(labels, retry)
            oldest.add_metric(labels, age.total_seconds() if age is not None else 0.0)
        yield jobs
        yield retrying
        yield oldest
        yield GaugeMetricFamily(PREFIX + "queue_stats_up",
                                "1 when the last read of queue_stats() worked, else 0 (the "
                                "queue gauges then show older values).", value=int(self.up))
        yield GaugeMetricFamily(
            PREFIX + "queue_stats_age_seconds",
            "Seconds since the queue gauges were read (-1: never).",
            value=time.monotonic() - self.read_at if self.read_at else -1.0,
        )
        yield CounterMetricFamily(PREFIX + "queue_stats_errors", "Failed reads of queue_stats().",
                                  value=self.errors)


class MetricsServer:
    """Serves a worker's :class:`RunnerMetrics` (with the process collectors of
    ``prometheus_client``) in Prometheus' text format at ``GET /metrics`` from a thread of
    its own. ``port`` 0 takes a free port: :attr:`port` is the one bound.

    :meth:`start` only binds the socket (so the address is known, and an address in use is an
    error at start). The thread imports ``prometheus_client`` and builds the HTTP server when
    the first scrape connects: a runner that is never scraped (a ``--once`` drain, say) pays
    neither the import nor the server. :meth:`stop` wakes the thread at once (a shutdown of the
    listening socket), which closes the socket and the statistics connection, and ends."""

    def __init__(self, metrics: RunnerMetrics, *, host: str, port: int) -> None:
        require_prometheus()
        self.metrics = metrics
        self.host = host
        self.port = port
        self._sock: socket.socket | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, conninfo: str = "", kwargs: dict[str, Any] | None = None) -> None:
        """Bind; raises ``OSError`` when the address cannot be bound. ``conninfo`` and
        ``kwargs``: how the queue statistics connect."""
        if self.metrics.stats is not None:
            self.metrics.stats.conninfo = conninfo
            self.metrics.stats.connect_kwargs = dict(kwargs or {})
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.create_server((self.host, self.port), family=family)
        self._sock = sock
        self.port = int(sock.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, args=(sock,), name="gw-metrics",
                                        daemon=True)
        self._thread.start()
        shown = f"[{self.host}]" if ":" in self.host else self.host
        log.info("metrics endpoint on http://%s:%d/metrics", shown, self.port)

    def _serve(self, sock: socket.socket) -> None:
        stopping = self._stopping
        try:
            while not stopping.is_set():  # until the first scrape connects
                if select.select([sock], [], [], POLL_INTERVAL)[0]:
                    break
            if stopping.is_set():
                return
            server = self._server(sock)
            while not stopping.is_set():
                server.handle_request()  # one request (its own thread), or POLL_INTERVAL
        except Exception:
            if not stopping.is_set():
                log.exception("the metrics endpoint failed; it serves no more")
        finally:
            sock.close()
            if self.metrics.stats is not None:
                self.metrics.stats.close()

    def _server(self, sock: socket.socket) -> Any:
        """The HTTP server of ``prometheus_client`` on the bound socket (imported now)."""
        from http.server import ThreadingHTTPServer

        import prometheus_client

        registry = prometheus_client.CollectorRegistry(auto_describe=False)
        registry.register(self.metrics)
        prometheus_client.ProcessCollector(registry=registry)
        prometheus_client.PlatformCollector(registry=registry)
        handler: Any = prometheus_client.MetricsHandler.factory(registry)  # a class of its own
        handler.timeout = REQUEST_TIMEOUT  # a client that sends nothing is dropped

        class Server(ThreadingHTTPServer):
            address_family = sock.family
            daemon_threads = True
            timeout = POLL_INTERVAL  # handle_request() returns after this without a request

        server = Server(sock.getsockname()[:2], handler, bind_and_activate=False)
        server.socket.close()  # made by the constructor, never bound: the bound one serves
        server.socket = sock
        return server

    def stop(self) -> None:
        """Stop serving and close the socket: shutting the listening socket down wakes the
        thread at once (it waits in select), which closes it and ends."""
        self._stopping.set()
        sock, thread, self._sock, self._thread = self._sock, self._thread, None, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # closed already, or never listening
        if thread is not None:
            thread.join(5)
