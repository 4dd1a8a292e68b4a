"""The :class:`Job` record: a job as claimed by the runner or returned by the enqueue API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Job:
    """One row of the queue.

    For a claimed job every field is filled in, and ``attempts`` already counts the attempt
    being made (attempts are counted when a job is claimed). For a job returned by
    ``add_job``/``add_jobs``, ``task_identifier`` and ``queue_name`` are the values given
    when enqueueing (``queue_name`` is None when no queue was named).
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
