"""Fixtures for running the real graphile-worker 0.18 (npm) beside the extension."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / ".cache" / "node" / "node_modules"
NODE_SIDE = Path(__file__).resolve().parent / "node_side.mjs"


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
    return {**os.environ, "DATABASE_URL": url, "GW_NODE_MODULES": str(NODE_MODULES)}


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


def graphile_worker_cli() -> str:
    return str(NODE_MODULES / ".bin" / "graphile-worker")
