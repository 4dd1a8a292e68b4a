"""Fixtures of the fault tests: the `calls` table, runner processes (killed in teardown)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from helpers import CALLS_TABLE, Runners


@pytest.fixture
def calls(db: psycopg.Connection) -> psycopg.Connection:
    """The test database with a `calls` table the task file records into."""
    db.execute(CALLS_TABLE)
    return db


@pytest.fixture
def runners(dsn: str, tmp_path: Path) -> Iterator[Runners]:
    """Start runner processes of tests/faults/tasks/faults.py on the test database."""
    started = Runners(dsn, tmp_path)
    yield started
    started.close()
