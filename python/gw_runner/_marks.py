"""What ``@task`` records on a handler or payload class, read by the loader and by payload
classes (a module of its own, so that neither imports the other)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_MARK = "__gw_task__"


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """What ``@task(...)`` records on a handler."""

    identifier: str | None = None
    timeout: float | None = None


def task_options(fn: Any) -> TaskOptions | None:
    """The options recorded by ``@task``, or None for an unmarked function."""
    if isinstance(fn, type) and _MARK not in vars(fn):
        return None  # a subclass of a marked payload class is not marked itself
    options = getattr(fn, _MARK, None)
    return options if isinstance(options, TaskOptions) else None
