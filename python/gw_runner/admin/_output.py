"""Output of gw-admin: aligned text tables and JSON.

Payloads, errors, results, names and keys are hostile input: text output never writes a
control character, an escape sequence, a line break or an invisible formatting character
(bidirectional overrides, zero-width characters) raw to the terminal; each is shown escaped
(``\\x1b``, ``\\n``, ``\\u202e``). JSON output is ASCII (``ensure_ascii``), so the same holds.
"""

from __future__ import annotations

import dataclasses
import json
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def clean(text: str) -> str:
    """``text`` with every control, format, line and paragraph separator character escaped,
    and lone surrogates shown as ``\\udXXX``: safe to write to a terminal."""
    out = []
    for ch in text:
        if ch in _SHORT:
            out.append(_SHORT[ch])
            continue
        category = unicodedata.category(ch)
        if category in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else
                       f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)


def fmt_time(value: datetime) -> str:
    """A time in UTC, to the second: ``2026-12-07 07:41:17Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def fmt_duration(value: timedelta) -> str:
    """A duration, short: ``3d4h``, ``2h05m``, ``4m12s``, ``0.25s``."""
    seconds = value.total_seconds()
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 10:
        return f"{sign}{seconds:.2f}s".replace(".00s", "s")
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d{hours}h" if hours else f"{sign}{days}d"
    if hours:
        return f"{sign}{hours}h{minutes:02d}m"
    return f"{sign}{minutes}m{secs:02d}s" if minutes else f"{sign}{secs}s"


def fmt_bytes(value: int) -> str:
    size = float(value)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"  # unreachable


def cell(value: object) -> str:
    """One value as table text, escaped."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return fmt_time(value)
    if isinstance(value, timedelta):
        return fmt_duration(value)
    if isinstance(value, dict | list):
        return clean(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    return clean(str(value))


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], max_width: int = 48) -> str:
    """An aligned text table: one header line, one line per row; cells longer than
    ``max_width`` are cut with an ellipsis."""
    text_rows = []
    for row in rows:
        cells = [cell(v) for v in row]
        text_rows.append([c if len(c) <= max_width else c[: max_width - 1] + "…" for c in cells])
    widths = [len(h) for h in headers]
    for cells in text_rows:
        widths = [max(w, len(c)) for w, c in zip(widths, cells, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for cells in text_rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def to_json(value: Any) -> str:
    """``value`` (dataclasses, lists, dicts, times) as JSON: times in ISO 8601, durations in
    seconds, ASCII only."""
    return json.dumps(_plain(value), ensure_ascii=True, indent=2)
