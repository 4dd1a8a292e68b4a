"""Errors raised by gw_runner, all derived from :class:`GraphileWorkerError`.

Three families:

* errors the library raises: a SQL function of the extension refused a call
  (:class:`DatabaseError` and its subclasses, one per SQLSTATE, see :data:`SQLSTATE_ERRORS`),
  or a task file / setting is unusable (:class:`TaskFileError`, :class:`ConfigurationError`);
* exceptions a task handler raises to steer its job: :class:`PermanentFailure` (no more
  retries) and :class:`RetryLater` (retry after a given delay instead of the backoff);
* :class:`JobWaitTimeout`: ``wait_for_job`` gave up before the job finished.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "MAX_RETRY_DELAY",
    "SQLSTATE_ERRORS",
    "AdminOnlyArgument",
    "ArgumentMissing",
    "ArgumentOutOfRange",
    "CheckViolation",
    "ConfigurationError",
    "CronBoundExceeded",
    "CronItemUnknown",
    "CrontabError",
    "DatabaseError",
    "DuplicateJobKey",
    "ExtensionMissing",
    "GraphileWorkerError",
    "InvalidHistoryArgument",
    "InvalidJobKeyMode",
    "JobWaitTimeout",
    "MalformedDocument",
    "NotNullViolation",
    "NullValueNotAllowed",
    "NumericOutOfRange",
    "PermanentFailure",
    "RetryLater",
    "RunAtOutOfRange",
    "Snooze",
    "TaskFileError",
    "UnsupportedPayload",
    "WaitTimeout",
    "WorkerOfAnotherRole",
    "error_from_psycopg",
]


class GraphileWorkerError(Exception):
    """Base class of every error gw_runner raises."""


# --- configuration and task files ----------------------------------------------------------


class ConfigurationError(GraphileWorkerError):
    """A setting is invalid (the CLI reports it as a usage error, exit code 2)."""


class TaskFileError(GraphileWorkerError):
    """A task file cannot be used: it does not import, registers nothing, registers one
    identifier twice, or has a handler of the wrong shape. The message names the file."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"task file {path}: {problem}")
        self.path = path
        self.problem = problem


# --- handler outcomes -----------------------------------------------------------------------


class PermanentFailure(GraphileWorkerError):
    """Raise from a handler to fail the job for good: it will not be retried.

    The message becomes the job's ``last_error``.
    """


class RetryLater(GraphileWorkerError):
    """Raise from a handler to fail this attempt and retry after ``delay`` seconds.

    The delay replaces the exponential backoff for this attempt only. The attempt still
    counts: a job whose attempts are used up fails permanently.
    """

    def __init__(self, delay: float, message: str | None = None) -> None:
        problem = retry_delay_problem(delay)
        if problem is not None:
            raise ValueError(f"RetryLater: {problem}")
        super().__init__(message or f"retry requested in {delay:g} s")
        self.delay = float(delay)


class Snooze(GraphileWorkerError):
    """Raise from a handler to run the job again after ``delay`` seconds without using an
    attempt: the attempt is given back and ``last_error`` is left as it was (a failure with
    :class:`RetryLater` uses one). For work that is not due yet, such as a resource that is not
    ready or a partner's rate limit. A job that snoozes for ever runs for ever.
    """

    def __init__(self, delay: float) -> None:
        problem = retry_delay_problem(delay)
        if problem is not None:
            raise ValueError(f"Snooze: {problem}")
        super().__init__(f"snoozed for {delay:g} s")
        self.delay = float(delay)


#: The longest delay :class:`RetryLater` accepts, in seconds (10 years): ``report_jobs``
#: refuses a longer ``retry_delay`` (GWA03).
MAX_RETRY_DELAY = 315_360_000


def retry_delay_problem(delay: object) -> str | None:
    """What is wrong with a retry delay (None when it is a number of seconds from 0 to
    :data:`MAX_RETRY_DELAY`)."""
    if isinstance(delay, bool) or not isinstance(delay, int | float):
        return f"the retry delay must be a number of seconds, got {type(delay).__name__}"
    if not 0 <= delay <= MAX_RETRY_DELAY:  # also rejects NaN and infinities
        return (f"the retry delay must be between 0 and {MAX_RETRY_DELAY} seconds "
                f"(10 years), got {delay!r}")
    return None


# --- waiting for a job -------------------------------------------------------------------


class JobWaitTimeout(GraphileWorkerError):
    """``wait_for_job`` (or ``Job.wait``) gave up: the job had not finished after ``timeout``
    seconds. The job is untouched and may still finish; ``status`` is the last
    :class:`gw_runner.JobStatus` read (its ``state`` says where the job was)."""

    def __init__(self, job_id: int, timeout: float, status: Any) -> None:
        state = getattr(status, "state", "unknown")
        super().__init__(
            f"job {job_id} did not finish within {timeout:g} s (last state seen: {state}); "
            "it may still finish: wait again, or read its status later"
        )
        self.job_id = job_id
        self.timeout = timeout
        self.status = status


# --- errors from SQL, by SQLSTATE -----------------------------------------------------------


class DatabaseError(GraphileWorkerError):
    """A call of a ``graphile_worker`` SQL function failed.

    ``sqlstate``, ``detail`` and ``hint`` come from the server; the original psycopg
    exception is ``__cause__``.
    """

    def __init__(
        self,
        message: str,
        *,
        sqlstate: str | None = None,
        detail: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.detail = detail
        self.hint = hint

    def __str__(self) -> str:
        text = super().__str__()
        if self.detail:
            text += f"\nDETAIL: {self.detail}"
        if self.hint:
            text += f"\nHINT: {self.hint}"
        return text


class InvalidJobKeyMode(DatabaseError):
    """``job_key_mode`` is not one of replace, preserve_run_at, unsafe_dedupe (GWBKM)."""


class CheckViolation(DatabaseError):
    """A value broke a table constraint, e.g. an over-long identifier or key (23514)."""


class NumericOutOfRange(DatabaseError):
    """A number does not fit its column, e.g. priority outside smallint (22003)."""


class NotNullViolation(DatabaseError):
    """A required value was null (23502)."""


class NullValueNotAllowed(DatabaseError):
    """A list argument contained a null element, e.g. in ``flags`` (22004)."""


class RunAtOutOfRange(DatabaseError):
    """``run_at`` is infinite or outside 0001-01-02 .. 9999-12-30 UTC, the times a runner can
    read back as a ``datetime`` in any time zone (GWE01)."""


class DuplicateJobKey(DatabaseError):
    """One ``add_jobs`` call has the same job key in two specs (GWE02)."""


class UnsupportedPayload(DatabaseError):
    """A payload is JSON that PostgreSQL's jsonb cannot hold: ``\\u0000`` or an unpaired
    surrogate in a string, or a number beyond the numeric type (GWE03)."""


class WorkerOfAnotherRole(DatabaseError):
    """The worker id is registered by another login role: a runner acts only for the workers
    its role registered (GWA05)."""


class AdminOnlyArgument(DatabaseError):
    """An argument only admin-level roles may pass: a ``now`` other than the server's clock,
    or a ``reset_locked`` threshold under 4 hours (GWA06)."""


class ArgumentMissing(DatabaseError):
    """A required argument of a SQL function was null or missing (GWA01)."""


class ArgumentOutOfRange(DatabaseError):
    """An argument of a SQL function is outside its allowed range (GWA02)."""


class MalformedDocument(DatabaseError):
    """A JSON document passed to a SQL function has the wrong shape (GWA03)."""


class WaitTimeout(DatabaseError):
    """A maintenance function gave up waiting for other transactions (GWA04)."""


class InvalidHistoryArgument(DatabaseError):
    """An argument of the finished-jobs functions is invalid (GWH01): a null or negative
    retention, a task identifier that is empty or over 128 characters, or a
    ``prune_finished_jobs`` ``max_rows`` outside 1..1000000."""


class InvalidFlowControlArgument(DatabaseError):
    """An argument of the flow-control or operations functions is invalid (GWF01): a null or
    empty array, a null, empty or over-long name, a null job id or key, a limit below 1, a rate
    limit without its period (or the reverse), a period outside 1 second to 7 days; an unknown
    job state, ``max_rows`` outside 1..10000, more than 10000 job ids in one call."""


class CronItemUnknown(DatabaseError):
    """``run_cron_item`` was given an identifier no 0.1.8 scheduler registered with its
    schedule (GWO01); ``cron_items()`` lists the known items."""


class CrontabError(DatabaseError):
    """A crontab is invalid (GWC01-GWC09); the message names the line at fault."""


class CronBoundExceeded(DatabaseError):
    """A cron function was asked for more due times than its bound (GWC10):
    ``cron_times_between`` beyond ``max_results``, ``schedule_crontab`` beyond 100000 minutes
    of one item in one call."""


class ExtensionMissing(DatabaseError):
    """The database has no (or an incompatible) ``graphile_worker`` extension (42883, 3F000)."""


#: SQLSTATE -> exception class. Extend it when the SQL gains a code; codes not listed here
#: map to :class:`DatabaseError`, and any ``GWC..`` code maps to :class:`CrontabError`.
SQLSTATE_ERRORS: dict[str, type[DatabaseError]] = {
    "GWBKM": InvalidJobKeyMode,
    "23514": CheckViolation,
    "22003": NumericOutOfRange,
    "23502": NotNullViolation,
    "22004": NullValueNotAllowed,
    "GWE01": RunAtOutOfRange,
    "GWE02": DuplicateJobKey,
    "GWE03": UnsupportedPayload,
    "GWA01": ArgumentMissing,
    "GWA02": ArgumentOutOfRange,
    "GWA03": MalformedDocument,
    "GWA04": WaitTimeout,
    "GWA05": WorkerOfAnotherRole,
    "GWA06": AdminOnlyArgument,
    "GWH01": InvalidHistoryArgument,
    "GWF01": InvalidFlowControlArgument,
    "GWO01": CronItemUnknown,
    **{f"GWC0{n}": CrontabError for n in range(1, 10)},
    "GWC10": CronBoundExceeded,
    "42883": ExtensionMissing,  # undefined_function
    "3F000": ExtensionMissing,  # invalid_schema_name
}


def error_from_psycopg(exc: Any) -> DatabaseError:
    """Map a ``psycopg.Error`` to the :class:`DatabaseError` subclass of its SQLSTATE.

    Use as ``raise error_from_psycopg(e) from e``.
    """
    sqlstate: str | None = getattr(exc, "sqlstate", None)
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    detail = getattr(diag, "message_detail", None) if diag is not None else None
    hint = getattr(diag, "message_hint", None) if diag is not None else None
    cls = SQLSTATE_ERRORS.get(sqlstate or "")
    if cls is None:
        cls = CrontabError if sqlstate and sqlstate.startswith("GWC") else DatabaseError
    message = primary or str(exc).split("\n", 1)[0] or type(exc).__name__
    if sqlstate:
        message = f"{message} (SQLSTATE {sqlstate})"
    return cls(message, sqlstate=sqlstate, detail=detail, hint=hint)
