"""Worker hooks for observability: structured logs and Prometheus metrics.

    from observability import PrometheusHooks, StructuredLogHooks
    worker = Worker(tasks, connection=..., hooks=[StructuredLogHooks(), PrometheusHooks()])

``PrometheusHooks`` needs ``prometheus_client`` (``pip install 'gw_runner[prometheus]'``);
serve the metrics with ``prometheus_client.start_http_server(9100)`` or from your web app
(``prometheus_client.generate_latest()``, see fastapi_app.py).

Hooks run in the worker's event loop: they only count, observe and log, never block.

The runner also has built-in Prometheus metrics (``--metrics-port``, ``Worker(metrics_port=...)``;
docs/operations.md, "Metrics and tracing"); these hooks are the way to add metrics of your own,
beside them or instead of them.
"""

from __future__ import annotations

import logging
from typing import Any

from gw_runner import (
    JobCancelled,
    JobFailed,
    JobPermanentlyFailed,
    JobsRecovered,
    JobsReturned,
    JobStarted,
    JobSucceeded,
    WorkerHooks,
    WorkerStarted,
    WorkerStopped,
)

log = logging.getLogger("app.jobs")


class StructuredLogHooks(WorkerHooks):
    """One log record per event, with the fields as ``extra`` (a JSON formatter, such as the
    CLI's ``--log-format json``, prints them as keys)."""

    def on_worker_started(self, event: WorkerStarted) -> None:
        log.info("worker started", extra={"event": "worker_started",
                                          "worker_id": event.worker_id,
                                          "tasks": list(event.tasks),
                                          "concurrency": event.concurrency})

    def on_worker_stopped(self, event: WorkerStopped) -> None:
        log.info("worker stopped", extra={"event": "worker_stopped",
                                          "worker_id": event.worker_id,
                                          "status": event.status})

    def on_job_succeeded(self, event: JobSucceeded) -> None:
        log.info("job succeeded", extra={**_job_fields(event, "job_succeeded"),
                                         "duration_ms": round(event.duration * 1000, 1)})

    def on_job_failed(self, event: JobFailed) -> None:
        log.warning("job failed", extra={
            **_job_fields(event, "job_failed"), "error": event.message,
            "will_retry": event.will_retry,
            "retry_at": event.retry_at.isoformat() if event.retry_at else None,
        })

    def on_job_permanently_failed(self, event: JobPermanentlyFailed) -> None:
        log.error("job permanently failed",
                  extra={**_job_fields(event, "job_permanently_failed"), "error": event.message})

    def on_job_cancelled(self, event: JobCancelled) -> None:
        log.info("job cancelled", extra={
            **_job_fields(event, "job_cancelled"),
            "duration_ms": round(event.duration * 1000, 1) if event.duration is not None else None,
        })

    def on_jobs_returned(self, event: JobsReturned) -> None:
        log.info("jobs returned unstarted", extra={"event": "jobs_returned",
                                                   "worker_id": event.worker_id,
                                                   "count": event.count, "reason": event.reason})

    def on_jobs_recovered(self, event: JobsRecovered) -> None:
        log.warning("jobs of a lost worker recovered", extra={
            "event": "jobs_recovered", "worker_id": event.worker_id,
            "lost_worker_id": event.lost_worker_id, "count": event.jobs_recovered,
        })


def _job_fields(event: Any, name: str) -> dict[str, Any]:
    job = event.job
    return {"event": name, "worker_id": event.worker_id, "job_id": job.id,
            "task": job.task_identifier, "attempt": job.attempts,
            "max_attempts": job.max_attempts}


class PrometheusHooks(WorkerHooks):
    """Counters per task and a handler-duration histogram per task and outcome.

    Metrics (``namespace`` prefix, default ``gw``): ``gw_jobs_started_total{task}``,
    ``gw_jobs_succeeded_total{task}``, ``gw_jobs_failed_total{task,will_retry}``,
    ``gw_jobs_permanently_failed_total{task}``, ``gw_jobs_returned_total``,
    ``gw_jobs_recovered_total``, ``gw_job_duration_seconds{task,outcome}`` and the gauge
    ``gw_worker_up`` (jobs running now: ``worker.health().running_jobs``). Pass a
    ``registry`` to keep them off the default one (tests, several workers in one process).
    """

    def __init__(self, *, namespace: str = "gw", registry: Any = None) -> None:
        from prometheus_client import REGISTRY, Counter, Gauge, Histogram

        reg = registry if registry is not None else REGISTRY
        kw: dict[str, Any] = {"namespace": namespace, "registry": reg}
        self.started = Counter("jobs_started", "Job attempts started", ["task"], **kw)
        self.succeeded = Counter("jobs_succeeded", "Jobs completed", ["task"], **kw)
        self.failed = Counter("jobs_failed", "Failed attempts", ["task", "will_retry"], **kw)
        self.permanently_failed = Counter(
            "jobs_permanently_failed", "Jobs that will not run again", ["task"], **kw
        )
        self.cancelled = Counter(
            "jobs_cancelled", "Jobs cancelled while they ran (cancel_jobs)", ["task"], **kw
        )
        self.returned = Counter("jobs_returned", "Claimed jobs given back unstarted", **kw)
        self.recovered = Counter("jobs_recovered", "Jobs released from lost workers", **kw)
        self.duration = Histogram(
            "job_duration_seconds", "Handler run time", ["task", "outcome"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            **kw,
        )
        self.up = Gauge("worker_up", "1 while the worker runs", **kw)

    def on_worker_started(self, event: WorkerStarted) -> None:
        self.up.set(1)

    def on_worker_stopped(self, event: WorkerStopped) -> None:
        self.up.set(0)

    def on_job_started(self, event: JobStarted) -> None:
        self.started.labels(event.job.task_identifier).inc()

    def on_job_succeeded(self, event: JobSucceeded) -> None:
        task = event.job.task_identifier
        self.succeeded.labels(task).inc()
        self.duration.labels(task, "succeeded").observe(event.duration)

    def on_job_failed(self, event: JobFailed) -> None:
        task = event.job.task_identifier
        self.failed.labels(task, "true" if event.will_retry else "false").inc()
        if event.duration is not None:
            self.duration.labels(task, "failed").observe(event.duration)

    def on_job_permanently_failed(self, event: JobPermanentlyFailed) -> None:
        self.permanently_failed.labels(event.job.task_identifier).inc()

    def on_job_cancelled(self, event: JobCancelled) -> None:
        task = event.job.task_identifier
        self.cancelled.labels(task).inc()
        if event.duration is not None:
            self.duration.labels(task, "cancelled").observe(event.duration)

    def on_jobs_returned(self, event: JobsReturned) -> None:
        self.returned.inc(event.count)

    def on_jobs_recovered(self, event: JobsRecovered) -> None:
        self.recovered.inc(event.jobs_recovered)
