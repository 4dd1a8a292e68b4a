"""What the dashboard's browser tests share (fixtures are in conftest.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from helpers import RunnerProcess, Runners, runner_env

PGHOST = os.environ.get("GW_TEST_PGHOST", "/tmp/gw_test_pg/sock")
PGPORT = int(os.environ.get("GW_TEST_PGPORT", "54329"))
PGUSER = os.environ.get("GW_TEST_PGUSER", "postgres")
CHROMIUM = "/usr/bin/chromium"
TASKS = Path(__file__).resolve().parent / "tasks.py"
WAIT = 15.0  # seconds: the deadline of every wait, far above what anything should take
HOSTILE = '<script>window.__pwned = 1</script>"><img src=x onerror="window.__pwned = 2">'


def wait_until(predicate: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[str]
    log_path: Path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class Servers:
    """Dashboard server processes; each is stopped (SIGTERM, then SIGKILL) at teardown."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[Server] = []

    def start(self, dsn: str, *args: str, env: dict[str, str] | None = None) -> Server:
        log_path = self.log_dir / f"dashboard-{len(self.started)}.log"
        out = open(log_path, "w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "gw_runner.dashboard", "-c", dsn, "--port", "0",
             "--refresh", "1", *args],
            stdout=out, stderr=subprocess.STDOUT, text=True, env=runner_env(None, env),
            start_new_session=True,
        )
        out.close()
        server = Server("", proc, log_path)
        self.started.append(server)

        def address() -> str | None:
            assert proc.poll() is None, f"the dashboard exited:\n{server.log}"
            found = re.search(r"dashboard on (http://\S+?)/ ", server.log)
            return found.group(1) if found else None

        server.url = wait_until(address, "the dashboard's address in its log")
        return server

    def close(self) -> None:
        for server in self.started:
            if server.proc.poll() is None:
                server.proc.terminate()
                try:
                    server.proc.wait(10)
                except subprocess.TimeoutExpired:
                    server.proc.kill()
                    server.proc.wait()


def start_runner(runners: Runners, *args: str) -> RunnerProcess:
    runner = runners.start("--poll-interval", "0.2", *args)
    runner.wait_for_log(" starting: ", timeout=WAIT)
    return runner


def job_state(conn: psycopg.Connection, job_id: int) -> str:
    row = conn.execute("select state from graphile_worker.job_status(%s)", (job_id,)).fetchone()
    assert row is not None
    return str(row[0])


def add_job(conn: psycopg.Connection, task: str, payload: Any = None, **kwargs: Any) -> int:
    """add_job through SQL (named arguments), returning the job id."""
    names = "".join(f", {k} => %({k})s" for k in kwargs)
    row = conn.execute(
        f"select id from graphile_worker.add_job(%(task)s, %(payload)s::json{names})",
        {"task": task, "payload": json.dumps(payload), **kwargs},
    ).fetchone()
    assert row is not None
    return int(row[0])


def fail_attempt(conn: psycopg.Connection, job_id: int, message: str, worker: str = "w-test",
                 now: str = "now()") -> None:
    """One real attempt of `job_id` that fails with `message`: claimed with get_jobs and
    reported with report_jobs (what a runner does), at `now` (an admin may pass it)."""
    task = conn.execute("select task_identifier from graphile_worker.job_status(%s)",
                        (job_id,)).fetchone()
    assert task is not None
    claimed = conn.execute(
        f"select id from graphile_worker.get_jobs(%s, array[%s], 10, now => {now})",
        (worker, task[0])).fetchall()
    assert [r[0] for r in claimed] == [job_id], claimed
    conn.execute(
        f"select * from graphile_worker.report_jobs(%s, null, %s::json, now => {now})",
        (worker, json.dumps([{"id": job_id, "message": message}])))
