"""Fixtures for the cron tests: parsing a crontab and calling the due-time functions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg
import pytest
from helpers import rows

Parse = Callable[[str], list[dict[str, Any]]]


@pytest.fixture
def parse(db: psycopg.Connection) -> Parse:
    """parse_crontab(text) as a list of dicts, one per item."""

    def _parse(crontab: str) -> list[dict[str, Any]]:
        return rows(db, "select * from graphile_worker.parse_crontab(%s)", (crontab,))

    return _parse


@pytest.fixture
def times_between(
    db: psycopg.Connection,
) -> Callable[[str, datetime, datetime, str], list[datetime]]:
    """cron_times_between(schedule, after, until, time_zone) as a list."""

    def _times(schedule: str, after: datetime, until: datetime, tz: str = "UTC") -> list[datetime]:
        return [
            r[0]
            for r in db.execute(
                "select t from graphile_worker.cron_times_between(%s, %s, %s, %s) as t",
                (schedule, after, until, tz),
            )
        ]

    return _times
