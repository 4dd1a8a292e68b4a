"""Typed payloads: turn a job's JSON payload into the type its handler's first parameter names.

Supported annotations: a dataclass, a TypedDict, a pydantic model (when pydantic is
installed), and inside those the usual JSON-shaped types (``int``, ``float``, ``str``,
``bool``, ``None``, ``list[X]``, ``dict[str, X]``, ``X | None``, ``Literal``, ``Any``, nested
dataclasses and TypedDicts). Converters are built once, when the task file is loaded; a payload
that does not fit raises :class:`PayloadError` naming the field, and the job fails permanently.
Unknown keys are ignored (as pydantic does by default), so payloads may carry extra fields
such as a cron job's ``_cron``.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, Union, get_args, get_origin, is_typeddict

Converter = Callable[[Any, str], Any]


class PayloadError(Exception):
    """The payload does not fit the handler's payload type; the message names the field."""


def _name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or repr(tp)


def _where(path: str) -> str:
    return f"payload field {path!r}" if path else "payload"


def build_converter(annotation: Any, globalns: dict[str, Any]) -> Callable[[Any], Any] | None:
    """Return a function converting a payload to ``annotation``, or None when the annotation
    asks for no conversion (missing, ``Any``, ``dict``, ``list``, plain JSON types)."""
    if not _needs_conversion(annotation):
        return None
    conv = _converter(annotation, globalns)

    def convert(payload: Any) -> Any:
        return conv(payload, "")

    return convert


def _is_model(tp: Any) -> bool:
    """A pydantic model class (checked without importing pydantic)."""
    pyd = sys.modules.get("pydantic")
    base = getattr(pyd, "BaseModel", None) if pyd is not None else None
    return isinstance(tp, type) and base is not None and issubclass(tp, base)


def _needs_conversion(tp: Any) -> bool:
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return True
    if is_typeddict(tp) or _is_model(tp):
        return True
    return any(_needs_conversion(arg) for arg in get_args(tp))


def _converter(tp: Any, globalns: dict[str, Any]) -> Converter:
    if tp is Any or tp is object:
        return lambda value, path: value
    if tp is None or tp is type(None):
        return _exact(type(None), "null")
    if tp is bool:
        return _exact(bool, "a boolean")
    if tp is int:
        return _int
    if tp is float:
        return _float
    if tp is str:
        return _exact(str, "a string")
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass(tp, globalns)
    if is_typeddict(tp):
        return _typeddict(tp, globalns)
    if _is_model(tp):
        return _model(tp)
    origin = get_origin(tp)
    args = get_args(tp)
    if origin is Union or origin is types.UnionType:
        return _union([_converter(a, globalns) for a in args], tp)
    if origin is Literal:
        allowed = args
        return lambda value, path: value if value in allowed else _fail(
            path, f"expected one of {list(allowed)!r}, got {value!r}"
        )
    if origin in (list, typing.List, typing.Sequence) or tp is list:  # noqa: UP006
        item = _converter(args[0], globalns) if args else None
        return _list(item)
    if origin in (dict, typing.Dict, typing.Mapping) or tp is dict:  # noqa: UP006
        value_conv = _converter(args[1], globalns) if len(args) == 2 else None
        return _dict(value_conv)
    # Anything else (a custom class, a NewType...): pass through unchecked.
    return lambda value, path: value


def _fail(path: str, problem: str) -> Any:
    raise PayloadError(f"{_where(path)}: {problem}")


def _exact(cls: type, what: str) -> Converter:
    def conv(value: Any, path: str) -> Any:
        if type(value) is not cls:
            _fail(path, f"expected {what}, got {_describe(value)}")
        return value

    return conv


def _int(value: Any, path: str) -> Any:
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    return _fail(path, f"expected an integer, got {_describe(value)}")


def _float(value: Any, path: str) -> Any:
    if type(value) in (int, float):
        return float(value)
    return _fail(path, f"expected a number, got {_describe(value)}")


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


def _union(convs: list[Converter], tp: Any) -> Converter:
    def conv(value: Any, path: str) -> Any:
        problems = []
        for c in convs:
            try:
                return c(value, path)
            except PayloadError as e:
                problems.append(str(e))
        if len(problems) == 1:
            raise PayloadError(problems[0])
        return _fail(path, f"{_describe(value)} matches none of {tp!r}")

    return conv


def _list(item: Converter | None) -> Converter:
    def conv(value: Any, path: str) -> Any:
        if type(value) is not list:
            _fail(path, f"expected a list, got {_describe(value)}")
        if item is None:
            return value
        return [item(v, f"{path}[{i}]") for i, v in enumerate(value)]

    return conv


def _dict(value_conv: Converter | None) -> Converter:
    def conv(value: Any, path: str) -> Any:
        if type(value) is not dict:
            _fail(path, f"expected an object, got {_describe(value)}")
        if value_conv is None:
            return value
        return {k: value_conv(v, _join(path, k)) for k, v in value.items()}

    return conv


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _hints(tp: Any, globalns: dict[str, Any]) -> dict[str, Any]:
    module = sys.modules.get(getattr(tp, "__module__", ""), None)
    ns = dict(vars(module)) if module is not None else {}
    ns.update(globalns)
    return typing.get_type_hints(tp, globalns=ns)


def _dataclass(tp: type, globalns: dict[str, Any]) -> Converter:
    hints = _hints(tp, globalns)
    fields: list[tuple[str, bool, Converter]] = []
    for f in dataclasses.fields(tp):
        if not f.init:
            continue
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        fields.append((f.name, required, _converter(hints.get(f.name, Any), globalns)))

    def conv(value: Any, path: str) -> Any:
        if type(value) is not dict:
            _fail(path, f"expected an object for {tp.__name__}, got {_describe(value)}")
        kwargs = {}
        for name, required, field_conv in fields:
            if name in value:
                kwargs[name] = field_conv(value[name], _join(path, name))
            elif required:
                _fail(_join(path, name), f"missing (required by {tp.__name__})")
        return tp(**kwargs)

    return conv


def _typeddict(tp: Any, globalns: dict[str, Any]) -> Converter:
    hints = _hints(tp, globalns)
    required = frozenset(getattr(tp, "__required_keys__", ()))
    convs = {name: _converter(hint, globalns) for name, hint in hints.items()}

    def conv(value: Any, path: str) -> Any:
        if type(value) is not dict:
            _fail(path, f"expected an object for {_name(tp)}, got {_describe(value)}")
        for name in required:
            if name not in value:
                _fail(_join(path, name), f"missing (required by {_name(tp)})")
        out = dict(value)
        for name, field_conv in convs.items():
            if name in value:
                out[name] = field_conv(value[name], _join(path, name))
        return out

    return conv


def _model(tp: Any) -> Converter:
    def conv(value: Any, path: str) -> Any:
        try:
            return tp.model_validate(value)
        except Exception as e:  # pydantic.ValidationError, without importing pydantic
            errors = getattr(e, "errors", None)
            if callable(errors):
                parts = []
                for err in errors()[:5]:
                    loc = ".".join(str(p) for p in err.get("loc", ()))
                    parts.append(f"{_where(_join(path, loc) if loc else path)}: {err.get('msg')}")
                if parts:
                    raise PayloadError("; ".join(parts)) from None
            raise PayloadError(f"{_where(path)}: {e}") from None

    return conv
