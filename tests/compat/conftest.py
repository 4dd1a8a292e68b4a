"""Fixtures for running the real graphile-worker 0.18 (npm) beside the extension."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from helpers import wait_until as wait_for  # noqa: F401 - used by the compat tests

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / ".cache" / "node" / "node_modules"
NODE_SIDE = Path(__file__).resolve().parent / "node_side.mjs"
PY_TASKS = Path(__file__).resolve().parent / "py_tasks.py"


@pytest.fixture
def node_env(postgresql: psycopg.Connection) -> dict[str, str]:
    """Environment for Node processes pointed at this test's database (TCP, trust auth)."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the mixed-fleet tests need Node.js 20+ and npm")
    if not (NODE_MODULES / "graphile-worker" / "package.json").exists():
        pytest.fail(
            f"graphile-worker@0.18.0 is missing from {NODE_MODULES}: run scripts/ensure-deps.sh"
        )
    info = postgresql.info
    url = f"postgres://{info.user}@127.0.0.1:{info.port}/{info.dbname}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GW_RUNNER_")}
    return {
        **env,
        "DATABASE_URL": url,
        "GW_NODE_MODULES": str(NODE_MODULES),
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def executions(db: psycopg.Connection) -> psycopg.Connection:
    """A table where Node and Python handlers record every execution."""
    db.execute(
        """
        create table public.executions (
          job_id bigint not null,
          task text not null,
          runner text not null,
          attempt int,
          payload jsonb,
          info jsonb,
          prev_error text,
          started_at timestamptz not null,
          finished_at timestamptz
        )
        """
    )
    return db


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start background processes whose output goes to files; all are killed after the test."""
    procs: list[subprocess.Popen[str]] = []

    def _spawn(args: list[str], env: dict[str, str], name: str) -> subprocess.Popen[str]:
        log = open(tmp_path / f"{name}.log", "w")
        proc = subprocess.Popen(
            args, env=env, stdout=log, stderr=subprocess.STDOUT, text=True, cwd=ROOT
        )
        procs.append(proc)
        return proc

    yield _spawn
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def node_cmd(mode: str) -> list[str]:
    return ["node", str(NODE_SIDE), mode]


def py_cmd(*args: str) -> list[str]:
    """A gw_runner process on py_tasks.py (connection: DATABASE_URL of the environment)."""
    return [sys.executable, "-m", "gw_runner", str(PY_TASKS), *args]


def graphile_worker_cli() -> str:
    return str(NODE_MODULES / ".bin" / "graphile-worker")


def run_py_once(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    """Run gw_runner --once on py_tasks.py to completion; returns its log, asserts exit 0."""
    out = subprocess.run(
        py_cmd("--once", *args),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    log = out.stdout + out.stderr
    assert out.returncode == 0, f"gw_runner --once exited {out.returncode}:\n{log}"
    return log


def stop_node(proc: subprocess.Popen[str], log_path: Path, timeout: float = 60) -> None:
    """SIGTERM a Node worker and wait for its graceful shutdown (graphile-worker then kills
    itself with the same signal, so the exit status is -SIGTERM)."""
    proc.send_signal(signal.SIGTERM)
    status = proc.wait(timeout=timeout)
    log = log_path.read_text(errors="replace")
    assert status == -signal.SIGTERM and "graceful shutdown complete" in log, (
        f"the Node worker did not shut down gracefully (exit {status}):\n{log}"
    )


def log_of(tmp_path: Path, name: str) -> str:
    """The output of a process started with `spawn(..., name)`."""
    path = tmp_path / f"{name}.log"
    return path.read_text(errors="replace") if path.exists() else ""
