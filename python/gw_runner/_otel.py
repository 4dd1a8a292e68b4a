"""OpenTelemetry tracing: a span per job, spans for enqueueing through the Python API, and the
trace context carried with the job in a flag (``--otel``, ``WorkerSettings.otel``,
:func:`enable_tracing`).

Off by default. This module imports ``opentelemetry`` only when tracing is switched on; while
it is off, ``add_job``/``add_jobs`` test one module global (:data:`enqueue_tracer`) and the
running stage one attribute, nothing more. Spans go to the globally configured
TracerProvider (``opentelemetry.trace.set_tracer_provider``, or ``opentelemetry-instrument``):
the runner never configures exporters.

Spans follow the OpenTelemetry messaging conventions (``messaging.system`` =
``graphile_worker``, the destination is the task identifier):

- ``send <task>`` (kind PRODUCER, operation type ``send``): one per ``add_job`` call, and one
  per ``add_jobs`` call (``messaging.batch.message_count``; named ``send`` alone when the
  specs name several tasks). Its context is the jobs' creation context: it is written into
  each job as the flag ``traceparent:<W3C traceparent>`` (the job row has no headers column;
  flags are a JSON object of names that nothing else reads but ``forbidden_flags``). A job
  whose flags already carry a ``traceparent:`` flag keeps it.
- ``process <task>`` (kind CONSUMER, operation type ``process``): one per attempt, around the
  handler; a child of the job's creation context when its flags carry one, with a link to it
  as well, otherwise the root of a new trace (jobs enqueued from SQL, a trigger, Node, or with
  tracing off). Attributes: task (``messaging.destination.name``), job id
  (``messaging.message.id``), attempt, max attempts, queue, outcome; a failure sets the status
  to ERROR, ``error.type`` and records the exception.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from .errors import ConfigurationError

if TYPE_CHECKING:
    from ._job import Job


class _Run(Protocol):
    """What :meth:`JobTracer.end` reads of a ``_record.JobRun`` (not imported: ``_record``
    leads back to ``_enqueue``, which imports this module)."""

    job: Job
    ctx: Any
    outcome: str | None
    permanent: bool
    exc: BaseException | None
    message: str

#: The flag that carries a job's creation context: ``traceparent:00-<trace id>-<span id>-<flags>``.
TRACEPARENT_FLAG = "traceparent:"
SYSTEM = "graphile_worker"
INSTRUMENTATION = "gw_runner"

#: Set by :func:`enable_tracing`: the enqueue API makes spans while it is not None.
enqueue_tracer: EnqueueTracer | None = None


def _opentelemetry() -> Any:
    try:
        from opentelemetry import trace
    except ImportError as e:
        raise ConfigurationError(
            "tracing (--otel, otel=True, enable_tracing()) needs the opentelemetry-api package, "
            f"which is not installed: pip install 'gw_runner[otel]' ({e})"
        ) from None
    return trace


def _tracer() -> Any:
    from . import __version__

    return _opentelemetry().get_tracer(INSTRUMENTATION, __version__)


def enable_tracing(enabled: bool = True) -> None:
    """Switch OpenTelemetry spans for ``add_job``/``add_jobs`` (and their ``_async`` forms) in
    this process on or off; ``Worker(otel=True)`` and ``--otel`` switch them on too. Spans go
    to the global TracerProvider. Raises :class:`~gw_runner.errors.ConfigurationError` when
    ``opentelemetry-api`` is not installed (``pip install 'gw_runner[otel]'``)."""
    global enqueue_tracer
    if not isinstance(enabled, bool):
        raise TypeError(f"enable_tracing: enabled must be a bool, not {type(enabled).__name__}")
    if not enabled:
        enqueue_tracer = None
    elif enqueue_tracer is None:
        enqueue_tracer = EnqueueTracer()


def _traceparent(flags: Any) -> str | None:
    """The traceparent carried in a job's flags (a JSON object of names, or a list of names)."""
    if not flags:
        return None
    for flag in flags:
        if isinstance(flag, str) and flag.startswith(TRACEPARENT_FLAG):
            return flag[len(TRACEPARENT_FLAG):]
    return None


def _with_traceparent(flags: Any, traceparent: str) -> Any:
    """``flags`` with the traceparent flag added; unchanged when it has one already, or is
    not a list of strings (the enqueue API's checks then raise their TypeError)."""
    if flags is None:
        return [TRACEPARENT_FLAG + traceparent]
    if isinstance(flags, str | bytes | bytearray | Mapping) or not isinstance(flags, Iterable):
        return flags
    listed = list(flags)
    if not all(isinstance(f, str) for f in listed) or _traceparent(listed) is not None:
        return listed
    return [*listed, TRACEPARENT_FLAG + traceparent]


class Sending:
    """One enqueue call's span: ``flags(...)`` gives the flags to send with the job (with the
    span's traceparent), ``sent(jobs)`` notes the ids."""

    def __init__(self, span: Any, traceparent: str | None) -> None:
        self.span = span
        self._traceparent = traceparent

    def flags(self, flags: Any) -> Any:
        return flags if self._traceparent is None else _with_traceparent(flags, self._traceparent)

    def specs(self, items: Any) -> Any:
        """The specs of ``add_jobs`` with the traceparent flag (``items`` as they are when
        not a list: the checks raise their TypeError)."""
        return [self.spec(i) for i in items] if isinstance(items, list) else items

    def spec(self, spec: Any) -> Any:
        """A spec of ``add_jobs`` (a ``JobSpec`` or a mapping) with the traceparent flag."""
        if self._traceparent is None:
            return spec
        if dataclasses.is_dataclass(spec) and not isinstance(spec, type):
            return dataclasses.replace(spec, flags=self.flags(spec.flags))  # type: ignore[attr-defined]
        if isinstance(spec, Mapping):
            return {**spec, "flags": self.flags(spec.get("flags"))}
        return spec  # not a spec: the checks raise their TypeError

    def sent(self, jobs: list[Job]) -> None:
        if len(jobs) == 1:
            self.span.set_attribute("messaging.message.id", str(jobs[0].id))


class EnqueueTracer:
    """Makes the ``send`` spans of the enqueue API (see the module docstring)."""

    def __init__(self) -> None:
        trace = _opentelemetry()
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self._trace = trace
        self._tracer = _tracer()
        self._propagator = TraceContextTextMapPropagator()

    @staticmethod
    def listed(specs: Any) -> Any:
        """``add_jobs``' specs as a list (a generator is read once), or as they are when they
        are no iterable of specs (the checks then raise their TypeError)."""
        if isinstance(specs, str | bytes | Mapping) or not isinstance(specs, Iterable):
            return specs
        return list(specs)

    def sending_specs(self, operation: str, items: Any) -> contextlib.AbstractContextManager[
            Sending]:
        """:meth:`sending` for the specs of an ``add_jobs`` call."""
        names: list[Any] = []
        queues: set[Any] = set()
        if isinstance(items, list):
            for item in items:
                get = item.get if isinstance(item, Mapping) else (
                    lambda key, item=item: getattr(item, key, None))
                names.append(get("identifier"))
                queues.add(get("queue_name"))
        count = len(items) if isinstance(items, list) else None
        return self.sending(operation, names, queues.pop() if len(queues) == 1 else None,
                            count if count is not None else 0)

    @contextlib.contextmanager
    def sending(
        self, operation: str, identifiers: list[Any], queue_name: Any, count: int | None
    ) -> Iterator[Sending]:
        """The span of one ``add_job`` (``count`` None) or ``add_jobs`` call, current while
        the SQL runs; an exception ends it with status ERROR."""
        names = {i for i in identifiers if isinstance(i, str)}
        task = names.pop() if len(names) == 1 else None
        attributes: dict[str, Any] = {
            "messaging.system": SYSTEM,
            "messaging.operation.type": "send",
            "messaging.operation.name": operation,
        }
        if task is not None:
            attributes["messaging.destination.name"] = task
        if isinstance(queue_name, str):
            attributes["graphile_worker.job.queue_name"] = queue_name
        if count is not None:
            attributes["messaging.batch.message_count"] = count
        name = f"send {task}" if task is not None else "send"
        with self._tracer.start_as_current_span(
            name, kind=self._trace.SpanKind.PRODUCER, attributes=attributes
        ) as span:
            carrier: dict[str, str] = {}
            if span.get_span_context().is_valid:
                self._propagator.inject(carrier)
            sending = Sending(span, carrier.get("traceparent"))
            try:
                yield sending
            except BaseException as e:
                span.set_attribute("error.type", _error_type(e))
                raise


class JobTracer:
    """Makes the ``process`` span of each job attempt (the running stage calls it)."""

    def __init__(self) -> None:
        trace = _opentelemetry()
        from opentelemetry import context
        from opentelemetry.trace import Link, StatusCode
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self._trace = trace
        self._context = context
        self._link = Link
        self._error = StatusCode.ERROR
        self._tracer = _tracer()
        self._propagator = TraceContextTextMapPropagator()

    def start(self, job: Job) -> tuple[Any, Any]:
        """Start the job's span and make it current in the calling task; returns the span and
        the token for :meth:`end`."""
        parent = None
        links = None
        traceparent = _traceparent(job.flags)
        if traceparent is not None:
            parent = self._propagator.extract({"traceparent": traceparent})
            creation = self._trace.get_current_span(parent).get_span_context()
            if creation.is_valid:
                links = [self._link(creation)]
            else:
                parent = None
        attributes: dict[str, Any] = {
            "messaging.system": SYSTEM,
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.destination.name": job.task_identifier,
            "messaging.message.id": str(job.id),
            "graphile_worker.job.attempt": job.attempts,
            "graphile_worker.job.max_attempts": job.max_attempts,
        }
        if job.queue_name is not None:
            attributes["graphile_worker.job.queue_name"] = job.queue_name
        span = self._tracer.start_span(
            f"process {job.task_identifier}", context=parent or self._context.Context(),
            kind=self._trace.SpanKind.CONSUMER, attributes=attributes, links=links,
            record_exception=False, set_status_on_exception=False,
        )
        token = self._context.attach(self._trace.set_span_in_context(span))
        return span, token

    def end(self, span: Any, token: Any, run: _Run) -> None:
        """Detach the span and end it with the attempt's outcome."""
        self._context.detach(token)
        outcome = run.outcome or "abandoned"
        if outcome == "failed":
            ctx = run.ctx
            if ctx is not None and ctx.cancelled:
                outcome = "cancelled"
            elif run.permanent or run.job.attempts >= run.job.max_attempts:
                outcome = "permanently_failed"
        span.set_attribute("graphile_worker.job.outcome", outcome)
        if run.outcome == "failed":
            exc = run.exc
            span.set_attribute("error.type", _error_type(exc) if exc is not None else "_OTHER")
            if exc is not None:
                span.record_exception(exc)
            span.set_status(self._error, run.message[:500])
        span.end()


def _error_type(exc: BaseException) -> str:
    cls = type(exc)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"
