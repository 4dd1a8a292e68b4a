"""Text from hostile sources: exceptions raised by handlers and errors from the database.

A handler's exception can have a ``__str__`` that raises, text that cannot be encoded (lone
surrogates), NUL characters (refused by PostgreSQL's text and jsonb) or megabytes of text.
Everything here returns a ``str`` that can be stored in ``last_error`` and logged, whatever it
is given; nothing here raises.
"""

from __future__ import annotations

from datetime import datetime

from .errors import PermanentFailure, RetryLater

#: The longest ``last_error`` the runner stores; longer messages are cut.
MAX_ERROR_LENGTH = 20_000


def safe_str(value: object) -> str:
    """``str(value)``, or a description of the failure when its ``__str__`` raises."""
    try:
        text = str(value)
    except BaseException as e:  # a __str__ may raise anything
        return f"<str() raised {type(e).__name__}>"
    return text


def storable(text: str) -> str:
    """``text`` made safe for PostgreSQL text and jsonb: lone surrogates become ``\\udXXX``
    escapes and NUL becomes ``\\0``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text.replace("\x00", "\\0")


def error_message(exc: BaseException) -> str:
    """The ``last_error`` text for an exception raised by a handler: ``Type: message`` (the
    message alone for :class:`PermanentFailure` and :class:`RetryLater`), storable, at most
    :data:`MAX_ERROR_LENGTH` characters."""
    name = type(exc).__name__
    detail = safe_str(exc)
    if detail.startswith("<str() raised "):
        detail = f"(its str() raised {detail[len('<str() raised '):-1]})"
        text = f"{name} {detail}"
    elif isinstance(exc, PermanentFailure | RetryLater):
        text = detail or name
    else:
        text = f"{name}: {detail}" if detail else name
    text = storable(text)
    if len(text) > MAX_ERROR_LENGTH:
        text = text[: MAX_ERROR_LENGTH - 15] + "... (truncated)"
    return text


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none)."""
    text = safe_str(exc).strip().split("\n", 1)[0]
    return text or type(exc).__name__


def fmt_time(value: object) -> str:
    """A time for the log (milliseconds), or whatever else it is as text."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")
    return safe_str(value)
