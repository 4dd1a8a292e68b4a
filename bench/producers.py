"""Concurrent producers (`make bench BENCH_ARGS=...` runs bench/run.py; this one runs alone):
`add_job` from 1, 8, 32 and 64 connections, one job per transaction, with pgbench.

    .venv/bin/python bench/producers.py --dsn postgresql:///postgres?host=...&port=...
    .venv/bin/python bench/producers.py --dsn ... --clients 32 --seconds 20 --rounds 3

Systems, each in a fresh database (dropped afterwards):
- `gw`: `select graphile_worker.add_job('noop', '{}')` against this extension, no runner ever
  marked itself waiting (as for a fleet of Node workers): every enqueue notifies;
- `gw-busy`: the same, while a runner is busy (its mark in `_private_wait_marks` says it does
  not wait, as while a fleet works through a backlog): enqueues do not notify (0.1.5);
- `insert`: the same row written with a plain INSERT into `_private_jobs` (no NOTIFY, no
  checks): the ceiling a queue could reach;
- `insert+notify`: that INSERT plus `pg_notify('jobs:insert', ...)` in the same transaction;
- `node`: graphile-worker 0.18's own `add_job` (its schema installed by its CLI; needs
  `BENCH_DEPS`, as for ../shared/bench, or `--node-bin`).
With `--runner`, an idle `gw_runner` (bench/tasks.py) is connected to the `gw` database while
the producers run, as in production (it LISTENs, so every notification is delivered).
Rates are transactions (jobs) per second, the median of the rounds. Nothing here asserts speed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from dbs import scratch_database
from psycopg.conninfo import conninfo_to_dict

HERE = Path(__file__).resolve().parent
TASKS = HERE / "tasks.py"

SCRIPTS = {
    "gw": "select graphile_worker.add_job('noop', '{}');\n",
    "gw-busy": "select graphile_worker.add_job('noop', '{}');\n",
    "insert": (
        "insert into graphile_worker._private_jobs (task_id, payload, run_at, max_attempts)"
        " values (:task_id, '{}', now(), 25);\n"
    ),
    "insert+notify": (
        "begin;\n"
        "insert into graphile_worker._private_jobs (task_id, payload, run_at, max_attempts)"
        " values (:task_id, '{}', now(), 25);\n"
        # (chr(58) is ':', which pgbench would read as a variable)
        "select pg_notify('jobs' || chr(58) || 'insert',"
        " '{\"r\"' || chr(58) || random()::text || ',\"count\"' || chr(58) || '1}');\n"
        "commit;\n"
    ),
    "node": "select graphile_worker.add_job('noop', '{}');\n",
}


def pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                            check=True).stdout.strip()
    return str(Path(bindir) / name)


@contextmanager
def fresh_db(base_dsn: str, system: str, node_bin: str | None) -> Iterator[str]:
    with scratch_database(base_dsn, "gw_prod") as dsn:
        if system == "node":
            if node_bin is None:
                raise SystemExit("the node system needs graphile-worker: set BENCH_DEPS or --node-bin")
            subprocess.run([node_bin, "-c", _node_url(conninfo_to_dict(dsn)), "--schema-only"],
                           check=True, capture_output=True)
        else:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("create extension graphile_worker")
                # the task row exists, as after the first add_job of a real workload
                conn.execute("select graphile_worker.add_job('noop', '{}')")
                conn.execute("delete from graphile_worker._private_jobs")
                if system == "gw-busy":
                    conn.execute("insert into graphile_worker._private_wait_marks"
                                 " values ('busy-runner', false, now())")
        yield dsn


def _node_url(params: dict[str, str]) -> str:
    host = params.get("host", "/var/run/postgresql")
    user = params.get("user", "postgres")
    port = params.get("port", "5432")
    return f"postgresql://{user}@localhost/{params['dbname']}?host={host}&port={port}"


def pgbench(dsn: str, script: str, clients: int, seconds: float, task_id: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "script.sql"
        path.write_text(script)
        proc = subprocess.run(
            [pg_bin("pgbench"), "-n", "-M", "prepared", "-c", str(clients),
             "-j", str(min(clients, 4)), "-T", str(round(seconds)), "-D", f"task_id={task_id}",
             "-f", str(path), dsn],
            capture_output=True, text=True,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"pgbench failed: {proc.stderr[-2000:]}")
    m = re.search(r"tps = ([0-9.]+)", proc.stdout)
    if not m:
        raise RuntimeError(f"no tps in pgbench's output:\n{proc.stdout}")
    return float(m.group(1))


def measure(base_dsn: str, system: str, clients: int, seconds: float, runner: bool,
            node_bin: str | None) -> float:
    with fresh_db(base_dsn, system, node_bin) as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute(
                "select id from graphile_worker._private_tasks where identifier = 'noop'"
            ).fetchone() if system != "node" else (0,)
        proc = None
        if runner and system == "gw":
            proc = subprocess.Popen(
                [sys.executable, "-m", "gw_runner", str(TASKS), "-c", dsn, "-j", "10",
                 "--log-level", "warning"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            time.sleep(1.5)
        try:
            return pgbench(dsn, SCRIPTS[system], clients, seconds, int(row[0]) if row else 0)
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn", default=os.environ.get("DATABASE_URL"))
    ap.add_argument("--systems", default="gw,gw-busy,insert,insert+notify,node")
    ap.add_argument("--clients", default="1,8,32,64")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runner", action="store_true",
                    help="an idle gw_runner listens on the gw database meanwhile")
    ap.add_argument("--node-bin", default=None)
    args = ap.parse_args()
    if not args.dsn:
        ap.error("give --dsn or DATABASE_URL")
    node_bin = args.node_bin
    if node_bin is None and os.environ.get("BENCH_DEPS"):
        candidate = Path(os.environ["BENCH_DEPS"]) / "node" / "node_modules" / ".bin" / "graphile-worker"
        node_bin = str(candidate) if candidate.exists() else None
    systems = args.systems.split(",")
    clients = [int(c) for c in args.clients.split(",")]
    results: dict[tuple[str, int], list[float]] = {}
    for _ in range(args.rounds):
        for c in clients:
            for system in systems:  # interleaved: every system in every round
                results.setdefault((system, c), []).append(
                    measure(args.dsn, system, c, args.seconds, args.runner, node_bin))
    print("| producers | " + " | ".join(systems) + " | gw-busy (else gw) / insert |")
    print("|---|" + "---|" * (len(systems) + 1))
    for c in clients:
        med = {s: statistics.median(results[(s, c)]) for s in systems}
        quiet = "gw-busy" if "gw-busy" in med else "gw"  # the enqueue a busy fleet sees
        ratio = f"{med[quiet] / med['insert']:.2f}x" if quiet in med and "insert" in med else ""
        print(f"| {c} | " + " | ".join(f"{med[s]:,.0f}" for s in systems) + f" | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
