"""gw_runner: the Python runner and enqueue API of the graphile_worker PostgreSQL extension.

- Enqueue from application code, inside your own transaction::

      from gw_runner import add_job
      job = add_job(conn, "send_email", {"to": "ada@example.com"})

- Read a job's status, or wait until it has finished (after the commit)::

      status = job.wait(DATABASE_URL, timeout=60)   # JobStatus: state, result, errors...

- Write handlers in a task file and run them with ``python -m gw_runner tasks.py``::

      from gw_runner import task

      @task
      async def send_email(payload, ctx):
          ...

- Operate: list, count and show jobs, retry, delete or reschedule them, cron items and
  statistics (docs/operations.md; the ``gw-admin`` command is built on these)::

      for row in list_jobs(conn, states=["failed"]): retry_jobs(conn, [row.id])

- Pause and resume tasks and queues, limit a task, cancel jobs (docs/api.md, "Flow
  control")::

      pause_tasks(conn, ["send_email"]); cancel_jobs(conn, [job.id])

- Or run a worker inside your own asyncio application (docs/api.md)::

      async with Worker([send_email], connection=pool, concurrency=5):
          ...  # the application runs; the worker stops gracefully on exit
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._api import WorkerOptions
from ._context import AbortSignal, JobContext
from ._enqueue import JobSpec, add_job, add_job_async, add_jobs, add_jobs_async
from ._flow import (
    CancelResult,
    FlowControl,
    cancel_jobs,
    cancel_jobs_async,
    cancel_jobs_by_key,
    cancel_jobs_by_key_async,
    flow_controls,
    flow_controls_async,
    pause_queues,
    pause_queues_async,
    pause_tasks,
    pause_tasks_async,
    resume_queues,
    resume_queues_async,
    resume_tasks,
    resume_tasks_async,
    set_task_limits,
    set_task_limits_async,
)
from ._hooks import (
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
from ._job import Job
from ._loader import load_task_file, task
from ._ops import (
    ActionResult,
    CronItem,
    JobDetail,
    JobRow,
    QueueStat,
    RetentionSetting,
    StorageStat,
    WorkerStat,
    clear_retention,
    count_jobs,
    count_jobs_async,
    cron_items,
    cron_items_async,
    delete_jobs,
    delete_jobs_async,
    job_detail,
    job_detail_async,
    list_jobs,
    list_jobs_async,
    prune_finished_jobs,
    queue_stats,
    queue_stats_async,
    retention_settings,
    retention_settings_async,
    retry_jobs,
    retry_jobs_async,
    run_cron_item,
    run_cron_item_async,
    run_jobs_at,
    run_jobs_at_async,
    set_retention,
    storage_stats,
    storage_stats_async,
    worker_stats,
    worker_stats_async,
)
from ._otel import enable_tracing
from ._payload import spec_of
from ._settings import WorkerSettings
from ._status import (
    JobStatus,
    job_status,
    job_status_async,
    job_status_by_key,
    job_status_by_key_async,
    wait_for_job,
    wait_for_job_async,
)
from ._worker import Worker
from .errors import (
    ConfigurationError,
    DatabaseError,
    GraphileWorkerError,
    JobWaitTimeout,
    PermanentFailure,
    RetryLater,
    Snooze,
    TaskFileError,
)

# A constant, not importlib.metadata: that import alone took a fifth of the runner's start-up.
# tests/runner/test_version.py checks it against the installed package's metadata.
__version__ = "0.1.7"

if TYPE_CHECKING:
    from ._health import HealthServer, WorkerHealth, heartbeat_file

# Imported on first use: the health server needs http.server, which a runner without health
# checks should not pay for at start-up.
_LAZY = {"HealthServer", "WorkerHealth", "heartbeat_file"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import _health

        return getattr(_health, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "AbortSignal",
    "ActionResult",
    "CancelResult",
    "ConfigurationError",
    "CronItem",
    "DatabaseError",
    "FlowControl",
    "GraphileWorkerError",
    "HealthServer",
    "Job",
    "JobCancelled",
    "JobContext",
    "JobDetail",
    "JobFailed",
    "JobPermanentlyFailed",
    "JobRow",
    "JobSpec",
    "JobStarted",
    "JobStatus",
    "JobSucceeded",
    "JobWaitTimeout",
    "JobsRecovered",
    "JobsReturned",
    "PermanentFailure",
    "QueueStat",
    "RetentionSetting",
    "RetryLater",
    "Snooze",
    "StorageStat",
    "TaskFileError",
    "Worker",
    "WorkerHealth",
    "WorkerHooks",
    "WorkerOptions",
    "WorkerSettings",
    "WorkerStarted",
    "WorkerStat",
    "WorkerStopped",
    "__version__",
    "add_job",
    "add_job_async",
    "add_jobs",
    "add_jobs_async",
    "cancel_jobs",
    "cancel_jobs_async",
    "cancel_jobs_by_key",
    "cancel_jobs_by_key_async",
    "clear_retention",
    "count_jobs",
    "count_jobs_async",
    "cron_items",
    "cron_items_async",
    "delete_jobs",
    "delete_jobs_async",
    "enable_tracing",
    "flow_controls",
    "flow_controls_async",
    "heartbeat_file",
    "job_detail",
    "job_detail_async",
    "job_status",
    "job_status_async",
    "job_status_by_key",
    "job_status_by_key_async",
    "list_jobs",
    "list_jobs_async",
    "load_task_file",
    "pause_queues",
    "pause_queues_async",
    "pause_tasks",
    "pause_tasks_async",
    "prune_finished_jobs",
    "queue_stats",
    "queue_stats_async",
    "resume_queues",
    "resume_queues_async",
    "resume_tasks",
    "resume_tasks_async",
    "retention_settings",
    "retention_settings_async",
    "retry_jobs",
    "retry_jobs_async",
    "run_cron_item",
    "run_cron_item_async",
    "run_jobs_at",
    "run_jobs_at_async",
    "set_retention",
    "set_task_limits",
    "set_task_limits_async",
    "spec_of",
    "storage_stats",
    "storage_stats_async",
    "task",
    "wait_for_job",
    "wait_for_job_async",
    "worker_stats",
    "worker_stats_async",
]
