"""Fixtures for the runner tests: runner subprocesses (always killed in teardown), a `runs`
table the test task files record into, and bounded waiting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from helpers import wait_until

TASKS = Path(__file__).resolve().parent / "tasks"
PYTHON = sys.executable


class Runner:
    """A `python -m gw_runner` subprocess; stderr (the log) goes to a file."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str]) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "gw_runner", *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log:
            if self.proc.poll() is not None:
                raise AssertionError(f"runner exited ({self.proc.returncode}):\n{self.log}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not logged within {timeout} s:\n{self.log}")
            time.sleep(0.05)

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"runner still running after {timeout} s:\n{self.log}") from None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()


@pytest.fixture
def runner_env(dsn: str) -> dict[str, str]:
    """Environment of runner subprocesses: no GW_RUNNER_* leaking in; the test database's
    DSN for the task files (GW_TEST_DSN)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GW_RUNNER_")}
    env.pop("DATABASE_URL", None)
    env["GW_TEST_DSN"] = dsn
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def start_runner(
    dsn: str, runner_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[..., Runner]]:
    """Start runners: `start_runner("record.py", "-j", "8")`; all are killed at teardown."""
    started: list[Runner] = []

    def start(
        tasks_file: str,
        *args: str,
        env: dict[str, str] | None = None,
        connection: str | None = None,
    ) -> Runner:
        path = tasks_file if os.path.isabs(tasks_file) else str(TASKS / tasks_file)
        full_env = dict(runner_env)
        full_env.update(env or {})
        runner = Runner(
            [path, "-c", connection or dsn, *args],
            tmp_path / f"runner-{len(started)}.log",
            full_env,
        )
        started.append(runner)
        return runner

    yield start
    for runner in started:
        runner.stop()


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the CLI to completion (for usage errors and --once)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("GW_RUNNER_")}
    base.pop("DATABASE_URL", None)
    base.update(env or {})
    return subprocess.run(
        [PYTHON, "-m", "gw_runner", *args],
        capture_output=True,
        text=True,
        env=base,
        timeout=timeout,
    )


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_cli


@pytest.fixture
def runs_table(db: psycopg.Connection) -> psycopg.Connection:
    """`runs`: one row per handler call of the test task files."""
    db.execute(
        "create table runs (job_id bigint not null, task text not null, attempt int,"
        " note text, started_at timestamptz not null default clock_timestamp())"
    )
    return db


@pytest.fixture
def waiter() -> Callable[..., Any]:
    return wait_until
