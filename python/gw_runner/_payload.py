"""Payload classes: a task type that carries its identifier and its handler.

The alternative to ``@task`` functions::

    @task("images/resize")              # identifier (default: the class name), options
    @dataclass                          # or a pydantic model
    class Resize:
        image: str
        width: int

        async def handle(self, ctx: JobContext) -> None:   # or def handle(self[, ctx])
            ...

    worker = Worker([Resize, send_email])                   # classes and functions mix
    add_jobs(conn, [spec_of(Resize("a.jpg", 64))])          # identifier taken from the class

The JSON payload is converted to an instance (checked like a typed payload: a payload that
does not fit fails the job permanently) and ``handle`` is called on it.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from ._enqueue import JobSpec
from ._marks import _MARK, task_options
from .errors import TaskFileError

_HANDLER = "__gw_handler__"


def is_payload_class(obj: object) -> bool:
    return inspect.isclass(obj) and callable(getattr(obj, "handle", None))


def class_handler(cls: type, source: str) -> Callable[..., Any]:
    """The handler function of a payload class (made once per class)."""
    cached = cls.__dict__.get(_HANDLER)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    handle = getattr(cls, "handle", None)
    if handle is None or not callable(handle):
        raise TaskFileError(
            source, f"class {cls.__qualname__} has no handle(self, ctx) method; a payload "
            "class handles its jobs with def handle(self, ctx) or async def handle(self, ctx)"
        )
    params = [
        p for p in inspect.signature(handle).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    wants_ctx = len(params) >= 2  # (self, ctx)
    handler: Callable[..., Any]
    if inspect.iscoroutinefunction(handle):
        async def handler(payload: Any, ctx: Any) -> Any:
            return await (payload.handle(ctx) if wants_ctx else payload.handle())
    else:
        def handler(payload: Any, ctx: Any) -> Any:
            return payload.handle(ctx) if wants_ctx else payload.handle()
    handler.__annotations__ = {"payload": cls, "ctx": Any, "return": Any}
    handler.__name__ = cls.__name__
    handler.__qualname__ = f"{cls.__qualname__}.handle"
    handler.__module__ = cls.__module__
    options = task_options(cls)
    if options is not None:
        setattr(handler, _MARK, options)
    setattr(cls, _HANDLER, handler)
    return handler


def identifier_of(cls: Any) -> str:
    """The task identifier of a payload class: its ``@task`` name, else the class name."""
    options = task_options(cls)
    return (options.identifier if options and options.identifier else None) or cls.__name__


def spec_of(
    payload: Any,
    *,
    queue_name: str | None = None,
    run_at: datetime | None = None,
    max_attempts: int | None = None,
    job_key: str | None = None,
    priority: int | None = None,
    flags: Iterable[str] | None = None,
) -> JobSpec:
    """A :class:`JobSpec` for a payload-class instance: the identifier comes from the class,
    the payload from its fields (a dataclass or a pydantic model). For ``add_jobs``/
    ``add_jobs_async``, e.g. ``add_jobs(conn, [spec_of(Resize("a.jpg", 64))])``."""
    cls = type(payload)
    if dataclasses.is_dataclass(payload) and not isinstance(payload, type):
        data: Any = dataclasses.asdict(payload)
    elif callable(getattr(payload, "model_dump", None)):  # pydantic v2
        data = payload.model_dump(mode="json")
    else:
        raise TypeError(
            f"spec_of() takes an instance of a dataclass or pydantic payload class, not "
            f"{cls.__name__}"
        )
    return JobSpec(
        identifier_of(cls), data, queue_name=queue_name, run_at=run_at,
        max_attempts=max_attempts, job_key=job_key, priority=priority,
        flags=list(flags) if flags is not None else None,
    )
