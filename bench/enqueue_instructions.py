"""What one enqueue costs the server, in CPU instructions (issue 15, item 1): how close can a
function call come to a bare INSERT?

    .venv/bin/python bench/enqueue_instructions.py [--calls 1000]

Starts a private cluster of its own (scripts/pg-cluster.sh, under /tmp), creates the extension,
a task `noop` and a busy runner's wait mark (so that nothing notifies, as while a fleet works),
then stops it and runs `postgres --single` under `valgrind --tool=callgrind` with a script of
one PREPARE and N EXECUTEs, each its own transaction, once with 200 and once with 200 + N:
the difference over N is the instructions of one transaction, startup excluded. Instruction
counts do not depend on what else the machine runs (same binary, same input, same count), and
on this 2-core machine they predicted pgbench's jobs per second at 32 producers within a few
per cent (docs/scaling.md). Single-user mode has no concurrency: lock and snapshot contention
is not in these numbers.

Statements, each the same job row:
- `insert`: a plain INSERT into `_private_jobs` with the task's id (the ceiling);
- `insert, task by name`: the same INSERT taking the id from `_private_tasks` by identifier;
- `plpgsql`: the INSERT inside a plpgsql function returning nothing;
- `plpgsql, definer`, `plpgsql, pinned path`, `plpgsql, row`: the same, `security definer`;
  with a pinned `search_path`; returning the inserted row (each alone: what each one costs);
- `plpgsql, definer, row`: inside a `security definer` plpgsql function with a pinned
  `search_path`, returning the inserted row, as add_job must;
- `sql, definer, row`: the same as a `language sql` function;
- `add_job`: `graphile_worker.add_job('noop', '{}')`.
Needs valgrind (Debian package `valgrind`). Nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = ROOT / "scripts" / "pg-cluster.sh"
INSERT = ("insert into graphile_worker._private_jobs (task_id, payload, run_at, max_attempts)"
          " values (1, '{}', now(), 25)")
PINNED = "set search_path = pg_catalog, pg_temp"
ROW = "graphile_worker._private_jobs"


def _function(name: str, attributes: str = "", row: bool = False) -> str:
    """A plpgsql function around the INSERT: returning nothing, or the inserted row."""
    if row:
        return (f"create function bench.{name}() returns {ROW} language plpgsql {attributes}"
                f" as $$ declare v {ROW}; begin {INSERT} returning * into v; return v; end $$;")
    return (f"create function bench.{name}() returns void language plpgsql {attributes}"
            f" as $$ begin {INSERT}; end $$;")


SETUP = "\n".join([
    "create extension graphile_worker;",
    "select graphile_worker.add_job('noop', '{}');",
    "delete from graphile_worker._private_jobs;",
    "insert into graphile_worker._private_wait_marks values ('busy-runner', false, '2999-01-01');",
    "create schema bench;",
    _function("plain"),
    _function("definer", "security definer"),
    _function("pinned", PINNED),
    _function("row", row=True),
    _function("definer_row", f"security definer {PINNED}", row=True),
    f"create function bench.sql_definer_row() returns {ROW} language sql security definer {PINNED}"
    f" as $$ {INSERT} returning * $$;",
])
STATEMENTS = {
    "insert": INSERT,
    "insert, task by name": "insert into graphile_worker._private_jobs"
                            " (task_id, payload, run_at, max_attempts)"
                            " select id, '{}', now(), 25 from graphile_worker._private_tasks"
                            " where identifier = 'noop'",
    "plpgsql": "select bench.plain()",
    "plpgsql, definer": "select bench.definer()",
    "plpgsql, pinned path": "select bench.pinned()",
    "plpgsql, row": "select bench.row()",
    "plpgsql, definer, row": "select bench.definer_row()",
    "sql, definer, row": "select bench.sql_definer_row()",
    "add_job": "select graphile_worker.add_job('noop', '{}')",
}
BASE_CALLS = 200


def _as_owner(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _cluster(action: str, env: dict[str, str]) -> str:
    return subprocess.run(["bash", str(CLUSTER), action], env=env, check=True,
                          capture_output=True, text=True).stdout


def _instructions(bindir: str, datadir: str, work: Path, statement: str, calls: int) -> int:
    script = work / f"script_{calls}.sql"
    script.write_text(f"prepare p as {statement};\n" + "execute p;\n" * calls)
    out = work / f"callgrind_{calls}.out"
    out.unlink(missing_ok=True)
    with script.open() as stdin:
        subprocess.run(_as_owner(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                                  f"{bindir}/postgres", "--single", "-D", datadir, "bench"]),
                       stdin=stdin, check=True, capture_output=True)
    summary = re.search(r"^summary:\s+(\d+)", out.read_text(), re.M)
    if summary is None:
        raise RuntimeError(f"no summary in {out}")
    return int(summary.group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=1000, help="transactions measured per statement")
    ap.add_argument("--port", default="54398", help="the private cluster's port while set up")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is missing: apt-get install valgrind")
    bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                            check=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="gw_instr_", dir="/tmp") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o777)
        datadir = str(work / "data")
        env = {**os.environ, "GW_PG_DATA": datadir, "GW_PG_PORT": args.port}
        _cluster("start", env)
        try:
            settings = dict(re.findall(r"(\w+)=(\S+)", _cluster("env", env)))
            host, port = settings["PGHOST"], settings["PGPORT"]
            psql = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", port,
                    "-U", "postgres"]
            subprocess.run([*psql, "-d", "postgres", "-c", "create database bench"], check=True)
            subprocess.run([*psql, "-o", "/dev/null", "-d", "bench"], input=SETUP, text=True,
                           check=True)
        finally:
            _cluster("stop", env)
        print(f"{'statement':<26} {'instructions per transaction':>30} {'vs insert':>10}")
        first = None
        for label, statement in STATEMENTS.items():
            low = _instructions(bindir, datadir, work, statement, BASE_CALLS)
            high = _instructions(bindir, datadir, work, statement, BASE_CALLS + args.calls)
            each = (high - low) / args.calls
            first = first or each
            print(f"{label:<26} {each:>30,.0f} {first / each:>9.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
