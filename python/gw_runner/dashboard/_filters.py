"""The jobs filter as it travels in URLs and forms: parsed strictly (a malformed value is a
400 naming the field), written back as a query string or hidden fields."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from ._core import STATES, DashboardError

BIGINT_MAX = 2**63 - 1


def _id(name: str, value: str | None) -> int | None:
    if value is None or value.strip() == "":
        return None
    try:
        number = int(value.strip())
    except ValueError:
        raise DashboardError(f"{name} must be a job id (a whole number), not {value!r}") from None
    if not 1 <= number <= BIGINT_MAX:
        raise DashboardError(f"{name} must be a job id from 1 to {BIGINT_MAX}, not {number}")
    return number


def _names(values: Iterable[str]) -> list[str]:
    found: list[str] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if part and part not in found:
                found.append(part)
    return found


@dataclass(frozen=True)
class JobFilter:
    states: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)
    key: str | None = None
    min_id: int | None = None
    max_id: int | None = None

    @classmethod
    def parse(cls, get: Mapping[str, Sequence[str]]) -> JobFilter:
        def one(name: str) -> str | None:
            values = get.get(name) or []
            return values[-1] if values else None

        states = _names(get.get("state") or [])
        unknown = [s for s in states if s not in STATES]
        if unknown:
            raise DashboardError(f"state {unknown[0]!r} is not one of: {', '.join(STATES)}")
        key = one("key")
        return cls(
            states=states, tasks=_names(get.get("task") or []),
            queues=_names(get.get("queue") or []),
            key=key if key else None,
            min_id=_id("min_id", one("min_id")), max_id=_id("max_id", one("max_id")),
        )

    @property
    def empty(self) -> bool:
        return self == JobFilter()

    def params(self) -> dict[str, Any]:
        return {
            "states": self.states or None, "tasks": self.tasks or None,
            "queues": self.queues or None, "key": self.key,
            "min_id": self.min_id, "max_id": self.max_id,
        }

    def pairs(self) -> list[tuple[str, str]]:
        out = [("state", s) for s in self.states]
        out += [("task", t) for t in self.tasks]
        out += [("queue", q) for q in self.queues]
        if self.key is not None:
            out.append(("key", self.key))
        if self.min_id is not None:
            out.append(("min_id", str(self.min_id)))
        if self.max_id is not None:
            out.append(("max_id", str(self.max_id)))
        return out

    def query(self, **extra: Any) -> str:
        pairs = self.pairs() + [(k, str(v)) for k, v in extra.items() if v is not None]
        return urlencode(pairs)

    def describe(self) -> str:
        parts = []
        if self.states:
            parts.append("state " + " or ".join(self.states))
        if self.tasks:
            parts.append("task " + " or ".join(self.tasks))
        if self.queues:
            parts.append("queue " + " or ".join(self.queues))
        if self.key is not None:
            parts.append(f"key {self.key}")
        if self.min_id is not None:
            parts.append(f"id >= {self.min_id}")
        if self.max_id is not None:
            parts.append(f"id <= {self.max_id}")
        return ", ".join(parts) or "every job"


def parse_ids(values: Sequence[str]) -> list[int]:
    ids: list[int] = []
    for value in values:
        number = _id("job id", value)
        if number is not None and number not in ids:
            ids.append(number)
    return ids
