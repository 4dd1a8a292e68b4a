"""One record per claimed job, carried from the claim to the report.

A :class:`JobRun` is made when a job is claimed (``_claiming``), gets its start time and
context when a slot runs it (``_running``), its outcome when the handler returns or raises
(or the runner gives up on it), and is reported by ``_reporting`` in one ``report_jobs`` call
with others. Nothing about a job lives anywhere else.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ._text import error_message, storable
from .errors import retry_delay_problem

if TYPE_CHECKING:
    from ._context import JobContext
    from ._job import Job

#: The largest result stored with a finished job, in bytes of its JSON text: the SQL's
#: ``graphile_worker._private_result_cap()``. A larger one is still sent (the job completes
#: and the database notes why its result was not stored); the runner logs a warning.
RESULT_CAP_BYTES = 65536

#: How results are written: compact, non-ASCII characters as ``\u`` escapes (the text is the
#: same in any client encoding, and its length is its size in bytes, as the SQL counts it; a
#: lone surrogate or NUL is an escape the SQL notes and drops), NaN and infinities refused
#: (not JSON), and nothing converted behind the handler's back (no ``default``).
_RESULT_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, allow_nan=False)


class ResultError(Exception):
    """A handler's return value cannot be stored as JSON: the attempt fails with this
    message (``__cause__``: the encoder's error)."""


def encode_result(value: Any) -> str | None:
    """The JSON text of a handler's return value (None for None: no result). Raises
    :class:`ResultError` naming the problem when the value is not JSON (a ``datetime``, a
    ``set``, NaN, a circular or too deeply nested structure, a key that is not a string)."""
    if value is None:
        return None
    try:
        return _RESULT_ENCODER.encode(value)
    except Exception as e:  # TypeError, ValueError, RecursionError, or a hostile __iter__
        raise ResultError(
            f"handler returned a value that cannot be stored as JSON: {error_message(e)}"
        ) from e


class JobRun:
    """A claimed job on its way through the runner.

    - ``claimed_at``: monotonic time of the claim (the local queue's TTL counts from it);
    - ``ctx``: its :class:`~gw_runner.JobContext` once a slot runs it;
    - ``started``: ``time.perf_counter()`` when the handler was called (0 when not timed);
    - ``outcome``: None while running, then ``"completed"``, ``"failed"`` or ``"snoozed"``
      (the handler raised :class:`~gw_runner.Snooze`: reported as a failures entry with
      ``snooze``, ``retry_delay`` its delay);
    - for a failure: ``message`` (the ``last_error``), ``exc`` (the exception, if any),
      ``permanent``, ``retry_delay`` (seconds, replacing the backoff) and ``payload`` (the
      payload to keep for the retry: a batch job's failed entries);
    - ``duration``: seconds the handler ran, when timed;
    - ``result``: for a completion, the JSON text of the handler's return value (None: no
      result), sent with it in ``report_jobs``.
    """

    __slots__ = (
        "claimed_at", "ctx", "duration", "exc", "job", "message", "outcome", "payload",
        "permanent", "result", "retry_delay", "snoozed", "started",
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
        self.snoozed = False
        self.payload: Any = None
        self.result: str | None = None

    @property
    def id(self) -> int:
        return self.job.id

    def complete(self, result: str | None = None) -> None:
        """Record a completion; ``result``: the JSON text of the handler's return value (see
        :func:`encode_result`), or None."""
        self.outcome = "completed"
        self.result = result

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

    def snooze(self, delay: float, exc: BaseException | None = None) -> None:
        """Record a snooze: the job runs again after ``delay`` seconds (0 to
        ``MAX_RETRY_DELAY``, checked by :class:`~gw_runner.Snooze`) without using an attempt."""
        self.outcome = "snoozed"
        self.message = f"snoozed for {delay:g} s"
        self.exc = exc
        self.snoozed = True
        self.retry_delay = delay

    def failure_entry(self) -> dict[str, Any]:
        """This failure (or snooze) as an entry of ``report_jobs``' ``failures`` document."""
        entry: dict[str, Any] = {"id": self.job.id, "message": self.message}
        if self.snoozed:
            entry["snooze"] = True
        if self.permanent:
            entry["permanent"] = True
        if self.retry_delay is not None:
            entry["retry_delay"] = self.retry_delay
        if self.payload is not None:
            entry["payload"] = self.payload
        return entry
