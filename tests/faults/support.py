"""Helpers of the fault tests: runner processes, private clusters, bounded waiting.

Runner processes are real `python -m gw_runner` subprocesses, killed in teardown; private
clusters are real PostgreSQL servers started with scripts/pg-cluster.sh (as `postgres` when
root), stopped in teardown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from helpers import wait_until  # noqa: F401 - re-exported for the fault tests
from psycopg.conninfo import make_conninfo

ROOT = Path(__file__).resolve().parents[2]
TASKS = Path(__file__).resolve().parent / "tasks" / "faults.py"
CLUSTER = ROOT / "scripts" / "pg-cluster.sh"
PYTHON = sys.executable

#: Short recovery settings for tests: lost after 3 s without a heartbeat.
FAST_RECOVERY = ("--heartbeat-interval", "0.5", "--stale-after", "3", "--sweep-interval", "0.5")

CALLS_TABLE = (
    "create table calls (token text primary key, job_id bigint not null, task text not null,"
    " attempt int, queue text, pid int not null, worker_id text not null,"
    " started double precision not null, finished double precision not null, note text)"
)


class RunnerProcess:
    """A `python -m gw_runner` subprocess; its log (stdout and stderr) goes to a file."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str],
                 cwd: str | None = None) -> None:
        self.args = args
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "gw_runner", *args], stdout=self._log, stderr=subprocess.STDOUT,
            env=env, cwd=cwd, start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_for_log(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log:
            if self.proc.poll() is not None:
                raise AssertionError(f"runner exited ({self.proc.returncode}) before logging "
                                     f"{text!r}:\n{self.log}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not logged within {timeout} s:\n{self.log}")
            time.sleep(0.05)

    def send(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"runner still running after {timeout} s:\n{self.log}") from None

    def stop(self) -> None:
        """Kill it (teardown); a stopped (SIGSTOP) process is continued so it can die."""
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
                os.kill(self.proc.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
        self._log.close()


class Runners:
    """Starts runner processes on one database; `close()` kills every one of them."""

    def __init__(self, dsn: str, log_dir: Path, tasks: Path = TASKS) -> None:
        self.dsn = dsn
        self.log_dir = log_dir
        self.tasks = tasks
        self.started: list[RunnerProcess] = []

    def start(self, *args: str, connection: str | None = None, env: dict[str, str] | None = None,
              tasks: Path | None = None, cwd: str | None = None) -> RunnerProcess:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("GW_RUNNER_")}
        full_env.pop("DATABASE_URL", None)
        full_env["GW_TEST_DSN"] = self.dsn
        full_env["PYTHONUNBUFFERED"] = "1"
        full_env.update(env or {})
        runner = RunnerProcess(
            [str(tasks or self.tasks), "-c", connection or self.dsn, *args],
            self.log_dir / f"runner-{len(self.started)}.log", full_env, cwd=cwd,
        )
        self.started.append(runner)
        return runner

    def close(self) -> None:
        for runner in self.started:
            runner.stop()




def query(dsn: str, sql: str, params: Any = None) -> Any:
    """The first value of the first row, on a fresh connection; None when the server is
    down (it may be restarting)."""
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute(sql, params).fetchone()
            return row[0] if row else None
    except psycopg.OperationalError:
        return None


def as_owner(*cmd: str) -> list[str]:
    """A command run as `postgres` when we are root (PostgreSQL and PgBouncer refuse root)."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.getuid() == 0 else list(cmd)


def pg_bindir() -> str:
    return subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                          check=True).stdout.strip()


class PrivateCluster:
    """A PostgreSQL cluster of one test, which may stop, start and restart it."""

    def __init__(self, name: str, port: int) -> None:
        self.base = f"/tmp/{name}"
        self.datadir = f"{self.base}/data"
        self.sockdir = f"{self.base}/sock"
        self.port = port
        self.logfile = f"{self.base}/postgresql.log"

    def start(self) -> None:
        subprocess.run([str(CLUSTER), "start", self.datadir, str(self.port)], check=True,
                       timeout=120, capture_output=True)

    def stop(self) -> None:
        subprocess.run([str(CLUSTER), "stop", self.datadir], timeout=120, capture_output=True)

    def pg_ctl(self, action: str) -> None:
        subprocess.run(
            as_owner(f"{pg_bindir()}/pg_ctl", "-D", self.datadir, action, "-m", "fast", "-w",
                     "-t", "60", "-l", self.logfile),
            check=True, timeout=120, capture_output=True,
        )

    def dsn(self, dbname: str) -> str:
        return make_conninfo(host=self.sockdir, port=self.port, user="postgres", dbname=dbname)

    def fresh_database(self, dbname: str) -> str:
        """Drop and create `dbname` with the extension and the `calls` table; its DSN."""
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f"drop database if exists {dbname} with (force)")
            conn.execute(f"create database {dbname}")
        dsn = self.dsn(dbname)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("create extension graphile_worker")
            conn.execute(CALLS_TABLE)
        return dsn


def enqueue_spread(dsn: str, total: int, queues: int, task: str = "work",
                   payload: str = "{}") -> None:
    """`total` jobs of `task`: every other one in one of `queues` named queues, the rest in
    no queue; one add_jobs call per 5,000."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for start in range(1, total + 1, 5000):
            end = min(total, start + 4999)
            conn.execute(
                "select count(*) from graphile_worker.add_jobs(array(select row(%s, %s::json,"
                " case when i %% 2 = 0 then 'q' || (i / 2) %% %s::int end, null, null, null, null,"
                " null)::graphile_worker.job_spec from generate_series(%s::int, %s::int) i))",
                (task, payload, queues, start, end),
            )


def queue_overlaps(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
    """Calls of one named queue whose run overlapped the previous call of that queue."""
    return conn.execute(
        "select queue, job_id, prev_job, started, prev_finished from ("
        " select queue, job_id, started, lag(job_id) over w as prev_job,"
        "  lag(finished) over w as prev_finished"
        " from calls where queue is not null window w as (partition by queue order by started)"
        ") c where started < prev_finished"
    ).fetchall()
