"""Task registration (the ``@task`` marker) and task-file loading.

A handler is ``def h(payload, ctx)`` or ``async def h(payload, ctx)``; the one-argument form
``h(payload)`` is allowed. It is called positionally. A task file registers handlers by marking
them with ``@task`` / ``@task("identifier", timeout=...)`` and/or with a module-level ``tasks``
mapping (identifier -> handler) or list of marked handlers.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, overload

from ._convert import build_converter
from ._marks import _MARK, TaskOptions, task_options
from ._payload import class_handler, identifier_of, is_payload_class
from .errors import TaskFileError

F = TypeVar("F", bound=Callable[..., Any])

MAX_IDENTIFIER_LENGTH = 128  # the CHECK constraint of _private_tasks.identifier


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """A loaded handler, ready to run."""

    identifier: str
    fn: Callable[..., Any]
    is_async: bool
    wants_ctx: bool
    convert: Callable[[Any], Any] | None
    timeout: float | None


@overload
def task(fn: F, /) -> F: ...
@overload
def task(
    identifier: str | None = None, /, *, timeout: float | None = None
) -> Callable[[F], F]: ...


def task(
    fn_or_identifier: Any = None, /, *, timeout: float | None = None
) -> Any:
    """Mark a function as a task handler.

    ``@task`` uses the function's name as the task identifier; ``@task("send_email")`` names
    it. Options: ``timeout`` (seconds; the attempt fails when it runs longer; async handlers
    are cancelled, sync handlers get their abort signal set).
    The function is returned unchanged, so it stays callable as before.
    """
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise TypeError(
                f"@task timeout must be a number of seconds, not {type(timeout).__name__}"
            )
        if not timeout > 0:  # also NaN
            raise ValueError(f"@task timeout must be > 0 seconds, got {timeout!r}")
    if callable(fn_or_identifier):
        setattr(fn_or_identifier, _MARK, TaskOptions(None, timeout))
        return fn_or_identifier
    if fn_or_identifier is not None and not isinstance(fn_or_identifier, str):
        raise TypeError(
            f"@task takes a task identifier (str) or decorates a function, "
            f"not {type(fn_or_identifier).__name__}"
        )
    if fn_or_identifier is not None:
        problem = identifier_problem(fn_or_identifier)
        if problem is not None:  # the same rule as for a `tasks` mapping's keys
            raise ValueError(f"@task: {problem}")
    options = TaskOptions(fn_or_identifier, timeout)

    def mark(fn: F) -> F:
        if not callable(fn):
            raise TypeError(f"@task must decorate a function, not {type(fn).__name__}")
        setattr(fn, _MARK, options)
        return fn

    return mark


def identifier_problem(identifier: object) -> str | None:
    """What is wrong with a task identifier (None when nothing is): the one rule for
    ``@task("...")``, the keys of a ``tasks`` mapping and the names of marked functions."""
    if not isinstance(identifier, str) or not identifier:
        return f"task identifier {identifier!r} is not a non-empty string"
    if len(identifier) > MAX_IDENTIFIER_LENGTH:
        return (
            f"task identifier {identifier[:40]!r}... is {len(identifier)} characters long; "
            f"the limit is {MAX_IDENTIFIER_LENGTH}"
        )
    return None


def marked_identifier(fn: Any, options: TaskOptions) -> str:
    """The identifier of a function marked with ``@task``: the one given, else its name
    (empty when it has none, which :func:`make_spec` refuses)."""
    return options.identifier or str(getattr(fn, "__name__", ""))


def _describe(fn: Any) -> str:
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    code = getattr(fn, "__code__", None)
    if code is not None:
        return f"{name}() (line {code.co_firstlineno})"
    return name


def make_spec(identifier: str, fn: Any, *, source: str) -> TaskSpec:
    """Check a handler's shape and build its :class:`TaskSpec`; raises TaskFileError."""
    options = task_options(fn) or TaskOptions()
    problem = identifier_problem(identifier)
    if problem is not None:
        raise TaskFileError(source, f"{problem} (handler {_describe(fn)})")
    if not callable(fn):
        raise TaskFileError(
            source, f"task {identifier!r} is {type(fn).__name__}, not a function"
        )
    target = inspect.unwrap(fn)
    if inspect.isgeneratorfunction(target) or inspect.isasyncgenfunction(target):
        raise TaskFileError(
            source,
            f"task {identifier!r}: handler {_describe(fn)} is a generator; a handler is "
            "def h(payload, ctx) or async def h(payload, ctx)",
        )
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError) as e:
        raise TaskFileError(source, f"task {identifier!r}: cannot inspect the handler: {e}") from e
    positional = [
        p
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    has_varargs = any(p.kind is p.VAR_POSITIONAL for p in sig.parameters.values())
    required = [p for p in positional if p.default is p.empty]
    required_kwonly = [
        p.name
        for p in sig.parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.default is p.empty
    ]
    shape_hint = "a handler is def h(payload, ctx) or async def h(payload, ctx) (or h(payload))"
    if len(required) > 2:
        raise TaskFileError(
            source,
            f"task {identifier!r}: handler {_describe(fn)} requires {len(required)} "
            f"arguments ({', '.join(p.name for p in required)}); {shape_hint}",
        )
    if required_kwonly:
        raise TaskFileError(
            source,
            f"task {identifier!r}: handler {_describe(fn)} requires keyword-only "
            f"argument(s) {', '.join(required_kwonly)}; {shape_hint}",
        )
    if not positional and not has_varargs:
        raise TaskFileError(
            source,
            f"task {identifier!r}: handler {_describe(fn)} takes no payload argument; "
            f"{shape_hint}",
        )
    wants_ctx = has_varargs or len(positional) >= 2
    convert = None
    if positional and positional[0].annotation is not inspect.Parameter.empty:
        annotation = positional[0].annotation
        globalns = getattr(target, "__globals__", {})
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, dict(globalns))
            except Exception as e:
                raise TaskFileError(
                    source,
                    f"task {identifier!r}: cannot resolve the payload annotation "
                    f"{positional[0].annotation!r} of {_describe(fn)}: {e}",
                ) from e
        try:
            convert = build_converter(annotation, globalns)
        except Exception as e:
            raise TaskFileError(
                source,
                f"task {identifier!r}: unsupported payload annotation {annotation!r} of "
                f"{_describe(fn)}: {e}",
            ) from e
    is_async = inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - async callable objects
    )
    return TaskSpec(
        identifier=identifier,
        fn=fn,
        is_async=is_async,
        wants_ctx=wants_ctx,
        convert=convert,
        timeout=options.timeout,
    )


def collect_tasks(
    tasks: Mapping[str, Callable[..., Any]] | Iterable[Callable[..., Any]],
    *,
    source: str = "<tasks>",
) -> dict[str, TaskSpec]:
    """Build the task table from a mapping (identifier -> handler) or an iterable of handlers
    marked with ``@task``. Raises TaskFileError (naming ``source``) on any problem."""
    specs: dict[str, TaskSpec] = {}
    if isinstance(tasks, Mapping):
        items: list[tuple[str, Any]] = list(tasks.items())
    else:
        items = []
        for fn in tasks:
            if is_payload_class(fn):
                items.append((identifier_of(fn), fn))
                continue
            options = task_options(fn)
            if options is None:
                raise TaskFileError(
                    source,
                    f"{_describe(fn)} is listed as a task but is not marked with @task "
                    "(or use a mapping identifier -> handler)",
                )
            items.append((marked_identifier(fn, options), fn))
    for identifier, fn in items:
        _register(specs, identifier, fn, source)
    if not specs:
        raise TaskFileError(source, "registers no tasks")
    return specs


def _register(specs: dict[str, TaskSpec], identifier: str, fn: Any, source: str) -> None:
    if is_payload_class(fn):
        fn = class_handler(fn, source)  # a payload class with a handle() method
    existing = specs.get(identifier)
    if existing is not None:
        if existing.fn is fn:
            return
        raise TaskFileError(
            source,
            f"task identifier {identifier!r} is registered twice: by {_describe(existing.fn)} "
            f"and by {_describe(fn)}",
        )
    specs[identifier] = make_spec(identifier, fn, source=source)


def load_task_file(path: str | os.PathLike[str]) -> dict[str, TaskSpec]:
    """Import a task file and collect its handlers. Raises TaskFileError naming the file."""
    file = Path(path)
    shown = str(path)
    if not file.exists():
        raise TaskFileError(shown, "no such file")
    if not file.is_file():
        raise TaskFileError(shown, "is not a file")
    file = file.resolve()
    module_name = file.stem if file.stem.isidentifier() else "gw_tasks"
    existing = sys.modules.get(module_name)
    if existing is not None and getattr(existing, "__file__", None) != str(file):
        module_name = f"_gw_tasks_{module_name}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise TaskFileError(shown, "cannot be imported (not a Python source file?)")
    module = importlib.util.module_from_spec(spec)
    folder = str(file.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # let the task file import its sibling modules
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as e:
        sys.modules.pop(module_name, None)
        if isinstance(e, KeyboardInterrupt):
            raise
        raise TaskFileError(shown, "failed to import:\n" + _format_import_error(e, file)) from e
    specs: dict[str, TaskSpec] = {}
    for attr, value in list(vars(module).items()):
        if attr.startswith("__"):
            continue
        options = task_options(value)
        if options is None or not callable(value):
            continue
        identifier = options.identifier or str(getattr(value, "__name__", attr))
        _register(specs, identifier, value, shown)
    table = vars(module).get("tasks")
    if table is not None and task_options(table) is None:
        if isinstance(table, Mapping):
            for identifier, fn in table.items():
                _register(specs, identifier, fn, shown)
        elif isinstance(table, list | tuple):
            for fn in table:
                options = task_options(fn)
                if options is None:
                    raise TaskFileError(
                        shown,
                        f"`tasks` lists {_describe(fn)}, which is not marked with @task; "
                        "use a mapping identifier -> handler, or mark it",
                    )
                _register(specs, marked_identifier(fn, options), fn, shown)
        else:
            raise TaskFileError(
                shown,
                f"`tasks` is a {type(table).__name__}; it must be a mapping "
                "identifier -> handler (or a list of @task handlers)",
            )
    if not specs:
        raise TaskFileError(
            shown,
            "registers no tasks: mark handlers with @task (from gw_runner import task) or "
            "define a module-level `tasks` mapping identifier -> handler",
        )
    return specs


def _format_import_error(exc: BaseException, file: Path) -> str:
    """The exception and the innermost frame in the task file (not the import machinery)."""
    lines = traceback.format_exception_only(type(exc), exc)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(file)]
    where = ""
    if frames:
        f = frames[-1]
        where = f"  at line {f.lineno}: {(f.line or '').strip()}\n"
    return where + "".join("  " + line for line in lines).rstrip()
