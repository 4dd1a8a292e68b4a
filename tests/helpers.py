"""Helpers shared by the tests: the one place for them (import as `helpers` or `tests.helpers`).

- queries: `rows`, `one`, `scalar`, `snapshot`, `query` (a fresh connection);
- waiting: `wait_until`, and for connections interleaved step by step `backend_pid` and
  `wait_until_waiting` (PostgreSQL shows the backend waiting);
- the SQL API with keyword arguments, and its tables: `call`, `call_scalar`, `add_job`,
  `add_jobs`, `get_jobs`, `report_jobs`, `jobs`, `job`, `job_queues`, `seq_last_values`,
  `make_selection_of_jobs`;
- `run`: a test coroutine in its own bounded event loop (library API tests);
- the real runner: `RunnerProcess` (a `python -m gw_runner` subprocess in the background),
  `Runners` (starts them on one database, kills them at teardown), `run_cli` (the CLI run to
  completion), `runner_env`; the tables the test task files record into (`RUNS_TABLE`,
  `CALLS_TABLE`) and what the fault tests need (`FAST_RECOVERY`, `enqueue_spread`,
  `queue_overlaps`);
- `PrivateCluster`: a PostgreSQL server of one test, which it may stop, start and restart
  (`as_owner`, `pg_bindir`).

Nothing here hides or fakes database behaviour: every helper runs plain SQL on a real server
or starts real processes.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal as _signal
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row
from psycopg.types.json import Json

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
CLUSTER_SCRIPT = ROOT / "scripts" / "pg-cluster.sh"

# --- queries ------------------------------------------------------------------------------------


def rows(conn: psycopg.Connection, sql: str, params: Any = None) -> list[dict[str, Any]]:
    """Run a query and return its rows as dicts."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def one(conn: psycopg.Connection, sql: str, params: Any = None) -> dict[str, Any]:
    """Run a query that returns exactly one row and return it as a dict."""
    result = rows(conn, sql, params)
    assert len(result) == 1, result
    return result[0]


def scalar(conn: psycopg.Connection, sql: str, params: Any = None) -> Any:
    """Run a query and return the first column of its single row."""
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row[0]


def query(dsn: str, sql: str, params: Any = None) -> Any:
    """The first value of the first row, on a fresh connection; None when the server is
    down (it may be restarting)."""
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute(sql, params).fetchone()
            return row[0] if row else None
    except psycopg.OperationalError:
        return None


def snapshot(conn: psycopg.Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the extension's tables, to assert that an error changed nothing."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    tables = conn.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'graphile_worker' and c.relkind = 'r' order by 1"
    ).fetchall()
    for (name,) in tables:
        out[name] = conn.execute(f'select * from graphile_worker."{name}" order by 1').fetchall()
    seqs = conn.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'graphile_worker' and c.relkind = 'S' order by 1"
    ).fetchall()
    for (name,) in seqs:
        out["seq:" + name] = conn.execute(
            f'select last_value, is_called from graphile_worker."{name}"'
        ).fetchall()
    return out


# --- waiting ------------------------------------------------------------------------------------


def wait_until(
    predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1
) -> Any:
    """Poll `predicate` until it returns a truthy value (returned); fail after `timeout` s.
    Deadlines only separate outcomes: give them a wide margin."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


#: How long `wait_until_waiting` waits for a backend to block.
WAIT_SECONDS = 10.0


def backend_pid(conn: psycopg.Connection) -> int:
    return int(scalar(conn, "select pg_backend_pid()"))


def wait_until_waiting(
    observer: psycopg.Connection, pid: int, wait_event_type: str | None = "Lock"
) -> str:
    """Wait until backend `pid` is active and waiting on `wait_event_type` (e.g. 'Lock' for a
    row or advisory lock, 'Timeout' for pg_sleep); returns its wait_event. For a call that
    must block, run in a thread while the test holds what it waits for."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        row = observer.execute(
            "select state, wait_event_type, wait_event from pg_stat_activity where pid = %s",
            [pid],
        ).fetchone()
        if row and row[0] == "active" and (wait_event_type is None or row[1] == wait_event_type):
            return str(row[2])
        time.sleep(0.01)
    raise AssertionError(f"backend {pid} never waited on {wait_event_type}")


# --- the SQL API with keyword arguments, and its tables -----------------------------------------

# Arguments passed as JSON documents (psycopg adapts dicts and lists with Json()).
_JSON_ARGS = {"payload", "failures", "results"}


def _arg(name: str, value: Any) -> Any:
    if name in _JSON_ARGS and value is not None:
        return Json(value)
    return value


def call(conn: psycopg.Connection, function: str, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """`select * from graphile_worker.<function>(args..., name => value, ...)` as dicts."""
    parts = ["%s"] * len(args) + [f"{name} => %s" for name in kwargs]
    params = list(args) + [_arg(name, value) for name, value in kwargs.items()]
    return rows(conn, f"select * from graphile_worker.{function}({', '.join(parts)})", params)


def call_scalar(conn: psycopg.Connection, function: str, *args: Any, **kwargs: Any) -> Any:
    """`select graphile_worker.<function>(...)` for functions returning one value."""
    parts = ["%s"] * len(args) + [f"{name} => %s" for name in kwargs]
    params = list(args) + [_arg(name, value) for name, value in kwargs.items()]
    return scalar(conn, f"select graphile_worker.{function}({', '.join(parts)})", params)


def add_job(conn: psycopg.Connection, identifier: str | None, **kwargs: Any) -> dict[str, Any] | None:
    """add_job(); returns the row, or None when the function returned a null row."""
    result = call(conn, "add_job", identifier, **kwargs)
    assert len(result) == 1, result
    return None if result[0]["id"] is None else result[0]


def _spec_json(spec: dict[str, Any]) -> dict[str, Any]:
    out = dict(spec)
    if isinstance(out.get("run_at"), datetime):
        out["run_at"] = out["run_at"].isoformat()
    return out


def add_jobs(
    conn: psycopg.Connection, specs: list[dict[str, Any]], preserve_run_at: bool | None = None
) -> list[dict[str, Any]]:
    """add_jobs() with specs built as Node builds them (json_populate_recordset into job_spec)."""
    doc = json.dumps([_spec_json(s) for s in specs])
    array = "array(select json_populate_recordset(null::graphile_worker.job_spec, %s::json))"
    if preserve_run_at is None:
        return rows(conn, f"select * from graphile_worker.add_jobs({array})", [doc])
    return rows(
        conn, f"select * from graphile_worker.add_jobs({array}, %s)", [doc, preserve_run_at]
    )


def get_jobs(
    conn: psycopg.Connection, worker_id: str, tasks: list[str], **kwargs: Any
) -> list[dict[str, Any]]:
    return call(conn, "get_jobs", worker_id, tasks, **kwargs)


def report_jobs(conn: psycopg.Connection, worker_id: str, **kwargs: Any) -> dict[int, dict[str, Any]]:
    """report_jobs(); returns its rows keyed by job id."""
    result = call(conn, "report_jobs", worker_id, **kwargs)
    by_id = {r["job_id"]: r for r in result}
    assert len(by_id) == len(result), result
    return by_id


def jobs(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Every job (private row plus task_identifier and queue_name), by id, like upstream's getJobs."""
    return rows(
        conn,
        "select j.*, t.identifier as task_identifier, q.queue_name "
        "from graphile_worker._private_jobs j "
        "join graphile_worker._private_tasks t on t.id = j.task_id "
        "left join graphile_worker._private_job_queues q on q.id = j.job_queue_id "
        "order by j.id",
    )


def job(conn: psycopg.Connection, job_id: int) -> dict[str, Any]:
    return one(conn, "select * from graphile_worker._private_jobs where id = %s", [job_id])


def job_queues(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Every queue row with its job count, by name, like upstream's getJobQueues."""
    return rows(
        conn,
        "select q.*, (select count(*) from graphile_worker._private_jobs j "
        "where j.job_queue_id = q.id) as job_count "
        "from graphile_worker._private_job_queues q order by q.queue_name",
    )


def seq_last_values(conn: psycopg.Connection) -> dict[str, Any]:
    """last_value and is_called of the three identity sequences."""
    out = {}
    for name in ("tasks_id_seq", "job_queues_id_seq", "jobs_id_seq1"):
        out[name] = conn.execute(
            f"select last_value, is_called from graphile_worker.{name}"
        ).fetchone()
    return out


def make_selection_of_jobs(conn: psycopg.Connection) -> dict[str, dict[str, Any]]:
    """Upstream's makeSelectionOfJobs: five future job3 jobs, one locked by 'test', one failed
    for good ('Failed forever'), two regular ones and one left untouched."""
    created = [
        add_job(conn, "job3", payload={"a": i}, run_at=_future(conn)) for i in range(1, 6)
    ]
    ids = [c["id"] for c in created if c is not None]
    assert len(ids) == 5
    conn.execute(
        "update graphile_worker._private_jobs set locked_by = 'test', locked_at = now() "
        "where id = %s",
        [ids[0]],
    )
    conn.execute(
        "update graphile_worker._private_jobs "
        "set attempts = max_attempts, last_error = 'Failed forever' where id = %s",
        [ids[1]],
    )
    names = ["locked", "failed", "regular1", "regular2", "untouched"]
    return {name: job(conn, job_id) for name, job_id in zip(names, ids, strict=True)}


def _future(conn: psycopg.Connection) -> datetime:
    value = scalar(conn, "select now() + interval '1 minute'")
    assert isinstance(value, datetime)
    return value


# --- library API tests --------------------------------------------------------------------------


def run(coro: Coroutine[Any, Any, Any], timeout: float = 90) -> Any:
    """Run a test coroutine in a fresh event loop (the test's own), bounded by ``timeout``."""

    async def bounded() -> Any:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())


# --- the real runner ----------------------------------------------------------------------------

#: The task file of the fault tests (and the default of `Runners`).
FAULT_TASKS = TESTS / "faults" / "tasks" / "faults.py"

#: Short recovery settings for tests: lost after 3 s without a heartbeat.
FAST_RECOVERY = ("--heartbeat-interval", "0.5", "--stale-after", "3", "--sweep-interval", "0.5")

#: `runs`: one row per handler call of tests/runner/tasks.
RUNS_TABLE = (
    "create table runs (job_id bigint not null, task text not null, attempt int,"
    " note text, started_at timestamptz not null default clock_timestamp())"
)

#: `calls`: one row per handler call of tests/faults/tasks/faults.py, with the process and the
#: wall-clock start and end.
CALLS_TABLE = (
    "create table calls (token text primary key, job_id bigint not null, task text not null,"
    " attempt int, queue text, pid int not null, worker_id text not null,"
    " started double precision not null, finished double precision not null, note text)"
)


def runner_env(dsn: str | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a runner subprocess: this one without GW_RUNNER_* and DATABASE_URL
    (nothing configures the runner behind the test's back), unbuffered output, the test
    database's DSN in GW_TEST_DSN (the task files record through it), then `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GW_RUNNER_")}
    env.pop("DATABASE_URL", None)
    env["PYTHONUNBUFFERED"] = "1"
    if dsn is not None:
        env["GW_TEST_DSN"] = dsn
    env.update(extra or {})
    return env


class RunnerProcess:
    """A real `python -m gw_runner ARGS` subprocess in the background, in a session of its own
    (so SIGKILL and SIGSTOP reach it alone); its stdout and stderr go to `log_path`. Whoever
    starts one stops it (`stop()`, or `Runners.close()`)."""

    def __init__(self, args: list[str], log_path: Path, *, dsn: str | None = None,
                 env: Mapping[str, str] | None = None, cwd: str | Path | None = None) -> None:
        self.args = list(args)
        self.log_path = log_path
        self.started_at = time.monotonic()
        with open(log_path, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gw_runner", *self.args], stdout=out,
                stderr=subprocess.STDOUT, env=runner_env(dsn, env), cwd=cwd,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def alive_log(self) -> str:
        """The log; fails if the runner has exited (for predicates of `wait_until`)."""
        assert self.alive(), f"the runner exited ({self.proc.returncode}):\n{self.log}"
        return self.log

    def wait_for_log(self, text: str, timeout: float = 30, count: int = 1) -> None:
        """Wait until `text` was logged `count` times; fail at once if the runner exits."""
        deadline = time.monotonic() + timeout
        while self.log.count(text) < count:
            if self.proc.poll() is not None:
                raise AssertionError(f"runner exited ({self.proc.returncode}) before logging "
                                     f"{text!r} {count} time(s):\n{self.log}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not logged {count} time(s) within {timeout} s:"
                                     f"\n{self.log}")
            time.sleep(0.05)

    def health_port(self, timeout: float = 30) -> int:
        """The port of the health endpoint (started with --health-port 0), from the log."""
        found = wait_until(
            lambda: re.search(r"health endpoint on http://\S+:(\d+)/live", self.alive_log()),
            timeout, "the health endpoint's address in the log",
        )
        return int(found.group(1))

    def signal(self, sig: int = _signal.SIGTERM) -> None:
        """Send `sig` (SIGTERM by default) unless the runner has exited."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    send = signal  # the name the fault tests use

    def wait(self, timeout: float = 60) -> int:
        """Its exit status; fails if it still runs after `timeout` s."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"runner still running after {timeout} s:\n{self.log}") from None

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM (a clean shutdown) and its exit status."""
        self.signal(_signal.SIGTERM)
        return self.wait(timeout)

    def stop(self) -> None:
        """Kill it (teardown); a stopped (SIGSTOP) process is continued so it can die."""
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, _signal.SIGKILL)
                os.kill(self.proc.pid, _signal.SIGCONT)
            except ProcessLookupError:
                pass
            self.proc.wait(10)


class Runners:
    """Starts runner processes of `tasks` on one database (`connection` overrides it for one);
    logs go to `log_dir`; `close()` (teardown) kills every one of them."""

    def __init__(self, dsn: str, log_dir: Path, tasks: Path = FAULT_TASKS) -> None:
        self.dsn = dsn
        self.log_dir = log_dir
        self.tasks = tasks
        self.started: list[RunnerProcess] = []

    def start(self, *args: str, connection: str | None = None, env: dict[str, str] | None = None,
              tasks: str | Path | None = None, cwd: str | Path | None = None) -> RunnerProcess:
        runner = RunnerProcess(
            [str(tasks or self.tasks), "-c", connection or self.dsn, *args],
            self.log_dir / f"runner-{len(self.started)}.log", dsn=self.dsn, env=env, cwd=cwd,
        )
        self.started.append(runner)
        return runner

    def close(self) -> None:
        for runner in self.started:
            runner.stop()


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the CLI to completion (usage errors, --once); no GW_TEST_DSN unless `env` has it."""
    return subprocess.run(
        [sys.executable, "-m", "gw_runner", *args],
        capture_output=True,
        text=True,
        env=runner_env(None, env),
        timeout=timeout,
    )


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


# --- private clusters ---------------------------------------------------------------------------


def as_owner(*cmd: str) -> list[str]:
    """A command run as `postgres` when we are root (PostgreSQL and PgBouncer refuse root)."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.getuid() == 0 else list(cmd)


def pg_bindir() -> str:
    return subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                          check=True).stdout.strip()


class PrivateCluster:
    """A PostgreSQL cluster of one test (in /tmp/NAME, started with scripts/pg-cluster.sh),
    which it may stop, start and restart."""

    def __init__(self, name: str, port: int) -> None:
        self.base = f"/tmp/{name}"
        self.datadir = f"{self.base}/data"
        self.sockdir = f"{self.base}/sock"
        self.port = port
        self.logfile = f"{self.base}/postgresql.log"

    def start(self) -> None:
        subprocess.run([str(CLUSTER_SCRIPT), "start", self.datadir, str(self.port)], check=True,
                       timeout=120, capture_output=True)

    def stop(self) -> None:
        subprocess.run([str(CLUSTER_SCRIPT), "stop", self.datadir], timeout=120,
                       capture_output=True)

    def pg_ctl(self, action: str) -> None:
        subprocess.run(
            as_owner(f"{pg_bindir()}/pg_ctl", "-D", self.datadir, action, "-m", "fast", "-w",
                     "-t", "60", "-l", self.logfile),
            check=True, timeout=120, capture_output=True,
        )

    def dsn(self, dbname: str) -> str:
        return make_conninfo(host=self.sockdir, port=self.port, user="postgres", dbname=dbname)

    def fresh_database(self, dbname: str, tables: tuple[str, ...] = (CALLS_TABLE,)) -> str:
        """Drop and create `dbname` with the extension and `tables` (the `calls` table by
        default); its DSN."""
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f"drop database if exists {dbname} with (force)")
            conn.execute(f"create database {dbname}")
        dsn = self.dsn(dbname)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("create extension graphile_worker")
            for table in tables:
                conn.execute(table)  # type: ignore[call-overload]
        return dsn
