"""Fixtures for the runner tests: runner subprocesses of the task files in tests/runner/tasks
(always killed in teardown), the CLI run to completion, and the `runs` table the task files
record into."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from helpers import RUNS_TABLE, RunnerProcess, Runners, run_cli

TASKS = Path(__file__).resolve().parent / "tasks"


@pytest.fixture
def start_runner(dsn: str, tmp_path: Path) -> Iterator[Callable[..., RunnerProcess]]:
    """Start runners: `start_runner("record.py", "-j", "8")` (a file name in tests/runner/tasks
    or an absolute path); all are killed at teardown."""
    runners = Runners(dsn, tmp_path, tasks=TASKS)

    def start(tasks_file: str, *args: str, env: dict[str, str] | None = None,
              connection: str | None = None) -> RunnerProcess:
        return runners.start(*args, tasks=TASKS / tasks_file, env=env, connection=connection)

    yield start
    runners.close()


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_cli


@pytest.fixture
def runs_table(db: psycopg.Connection) -> psycopg.Connection:
    """`runs`: one row per handler call of the test task files."""
    db.execute(RUNS_TABLE)
    return db
