"""One record per claimed job, carried from the claim to the report.

A :class:`JobRun` is made when a job is claimed (``_claiming``), gets its start time and
context when a slot runs it (``_running``), its outcome when the handler returns or raises
(or the runner gives up on it), and is reported by ``_reporting`` in one ``report_jobs`` call
with others. Nothing about a job lives anywhere else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._text import storable
from .errors import retry_delay_problem

if TYPE_CHECKING:
    from ._context import JobContext
    from ._job import Job


class JobRun:
    """A claimed job on its way through the runner.

    - ``claimed_at``: monotonic time of the claim (the local queue's TTL counts from it);
    - ``ctx``: its :class:`~gw_runner.JobContext` once a slot runs it;
    - ``started``: ``time.perf_counter()`` when the handler was called (0 when not timed);
    - ``outcome``: None while running, then ``"completed"`` or ``"failed"``;
    - for a failure: ``message`` (the ``last_error``), ``exc`` (the exception, if any),
      ``permanent``, ``retry_delay`` (seconds, replacing the backoff) and ``payload`` (the
      payload to keep for the retry: a batch job's failed entries);
    - ``duration``: seconds the handler ran, when timed.
    """

    __slots__ = (
        "claimed_at", "ctx", "duration", "exc", "job", "message", "outcome", "payload",
        "permanent", "retry_delay", "started",
    )

    def __init__(self, job: Job, claimed_at: float) -> None:
        self.job = job
        self.claimed_at = claimed_at
        self.ctx: JobContext | None = None
        self.started = 0.0
        self.duration: float | None = None
        self.outcome: str | None = None
        self.message = ""
        self.exc: BaseException | None = None
        self.permanent = False
        self.retry_delay: float | None = None
        self.payload: Any = None

    @property
    def id(self) -> int:
        return self.job.id

    def complete(self) -> None:
        self.outcome = "completed"

    def fail(
        self,
        message: str,
        exc: BaseException | None = None,
        *,
        permanent: bool = False,
        retry_delay: float | None = None,
        payload: Any = None,
    ) -> None:
        """Record a failure. A retry delay ``report_jobs`` would refuse (a ``RetryLater``
        changed after it was made) is dropped, and the message says so; the message is made
        storable (no lone surrogates, no NUL)."""
        if retry_delay is not None:
            problem = retry_delay_problem(retry_delay)
            if problem is not None:
                message += f" (RetryLater ignored: {problem}; the usual backoff applies)"
                retry_delay = None
        self.outcome = "failed"
        self.message = storable(message)
        self.exc = exc
        self.permanent = permanent
        self.retry_delay = retry_delay
        self.payload = payload

    def failure_entry(self) -> dict[str, Any]:
        """This failure as an entry of ``report_jobs``' ``failures`` document."""
        entry: dict[str, Any] = {"id": self.job.id, "message": self.message}
        if self.permanent:
            entry["permanent"] = True
        if self.retry_delay is not None:
            entry["retry_delay"] = self.retry_delay
        if self.payload is not None:
            entry["payload"] = self.payload
        return entry
