"""The :class:`Job` record: a job as claimed by the runner or returned by the enqueue API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ._status import JobStatus, job_status, job_status_async, wait_for_job, wait_for_job_async

if TYPE_CHECKING:
    import psycopg


@dataclass(frozen=True, slots=True)
class Job:
    """One row of the queue.

    For a claimed job every field is filled in, and ``attempts`` already counts the attempt
    being made (attempts are counted when a job is claimed). For a job returned by
    ``add_job``/``add_jobs``, ``task_identifier`` and ``queue_name`` are the values given
    when enqueueing (``queue_name`` is None when no queue was named).

    ``status``/``wait`` (and their ``_async`` forms) read this job's status and wait for it
    to finish: :func:`gw_runner.job_status` and :func:`gw_runner.wait_for_job` with this id.
    """

    id: int
    task_identifier: str
    queue_name: str | None
    payload: Any
    priority: int
    run_at: datetime
    attempts: int
    max_attempts: int
    key: str | None
    flags: dict[str, bool] | None
    created_at: datetime
    locked_at: datetime | None = None
    revision: int = 0
    last_error: str | None = None

    @property
    def is_batch(self) -> bool:
        """True when the payload is a list (a batch job, see the runner docs)."""
        return isinstance(self.payload, list)

    def status(self, conn: psycopg.Connection[Any]) -> JobStatus:
        """This job's status, read on ``conn`` (:func:`gw_runner.job_status`)."""
        return job_status(conn, self.id)

    async def status_async(self, conn: psycopg.AsyncConnection[Any]) -> JobStatus:
        """:meth:`status` for a ``psycopg.AsyncConnection``."""
        return await job_status_async(conn, self.id)

    def wait(
        self,
        conn: str | psycopg.Connection[Any],
        *,
        timeout: float,
        poll_interval: float = 2.0,
    ) -> JobStatus:
        """Wait until this job has finished and return its final status
        (:func:`gw_runner.wait_for_job`: commit the transaction that enqueued it first)."""
        return wait_for_job(conn, self.id, timeout=timeout, poll_interval=poll_interval)

    async def wait_async(
        self,
        conn: str | psycopg.AsyncConnection[Any],
        *,
        timeout: float,
        poll_interval: float = 2.0,
    ) -> JobStatus:
        """:meth:`wait` for asyncio (:func:`gw_runner.wait_for_job_async`)."""
        return await wait_for_job_async(conn, self.id, timeout=timeout,
                                        poll_interval=poll_interval)
