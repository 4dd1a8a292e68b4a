"""History workloads (issue 16, docs/history.md): what keeping finished jobs costs.

    python bench/run.py --workloads history

1. process_c10 with history off and on (`set_retention(null, '1 day')`), in alternating fresh
   databases, `--rounds` times: the median rates and their ratio.
2. Pruning under load: a database holding `--hist-rows` (default 1,000,000) finished jobs past
   their retention, and `--hist-jobs` jobs waiting, drained by one runner at -j 10 with history
   on. The runner prunes them itself (`--prune-interval 1`: its housekeeping, as in
   production). The processing rate is read from the backlog over a window that starts 3 s
   after the runner and ends when no expired row is left; then again with `--prune-interval 0`
   over a window of the same length, in another database set up the same way.

`job_status` timing is a psql one-liner in docs/history.md. Nothing here asserts a speed.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from dbs import scratch_database

HERE = Path(__file__).resolve().parent
TASKS = HERE / "tasks.py"

BULK_SQL = """
select count(*) from graphile_worker.add_jobs(
  array(select row('noop', '{}', null, null, null, null, null, null)::graphile_worker.job_spec
        from generate_series(1, %s)))
"""
PENDING_SQL = "select count(*) from graphile_worker._private_jobs"
#: 1 while an expired row of the preloaded ones (negative ids) is left, else 0
EXPIRED_LEFT_SQL = (
    "select count(*) from (select 1 from graphile_worker._private_finished_jobs"
    " where id < 0 limit 1) as x"
)
EXPIRED_ROWS_SQL = """
insert into graphile_worker._private_finished_jobs (id, task_identifier, payload, priority,
  attempts, max_attempts, outcome, result, created_at, first_started_at, finished_at,
  worker_id, expires_at)
select -i, 'noop', '{"to":"someone@example.com"}', 0, 1, 25, 'completed', '{"ok":true}',
  now() - interval '2 days', now() - interval '2 days', now() - interval '2 days',
  'bench', now() - interval '1 day' + i * interval '1 ms'
from generate_series(1, %s) as i
"""


def _runner(dsn: str, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "gw_runner", str(TASKS), "-c", dsn, "-j", "10",
            "--log-level", "warning", *extra]


def _setup(dsn: str, history: bool) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create extension graphile_worker")
        if history:
            conn.execute("select graphile_worker.set_retention(null, '1 day')")


def _drain_once(dsn: str, n: int) -> float:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(BULK_SQL, (n,))
        conn.execute("vacuum analyze graphile_worker._private_jobs")
    t0 = time.perf_counter()
    proc = subprocess.run(_runner(dsn, ["--once"]), capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"runner failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return n / elapsed


def on_off(base_dsn: str, n: int, rounds: int) -> dict[str, float]:
    """process_c10 with history off and on, alternating."""
    off: list[float] = []
    on: list[float] = []
    for _ in range(rounds):
        for history, out in ((False, off), (True, on)):
            with scratch_database(base_dsn, "gw_hist") as dsn:
                _setup(dsn, history)
                out.append(_drain_once(dsn, n))
                if history:
                    with psycopg.connect(dsn, autocommit=True) as conn:
                        kept = conn.execute(
                            "select count(*) from graphile_worker._private_finished_jobs"
                        ).fetchone()[0]
                    if kept != n:
                        raise RuntimeError(f"{kept} of {n} finished jobs recorded")
    ratios = [b / a for a, b in zip(off, on, strict=True)]
    return {"off jobs/s": statistics.median(off), "on jobs/s": statistics.median(on),
            "on/off": statistics.median(ratios)}


def _rate_over(dsn: str, prune_interval: str, window: Callable[[psycopg.Connection], float]
               ) -> float:
    """Start a runner, wait 3 s, run `window` and return the jobs/s drained over it."""
    proc = subprocess.Popen(_runner(dsn, ["--prune-interval", prune_interval]),
                            stderr=subprocess.DEVNULL)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            time.sleep(3.0)
            before = conn.execute(PENDING_SQL).fetchone()[0]
            t0 = time.perf_counter()
            window(conn)
            elapsed = time.perf_counter() - t0
            after = conn.execute(PENDING_SQL).fetchone()[0]
        if after == 0:
            raise RuntimeError("the backlog ran out inside the window: raise --hist-jobs")
        return (before - after) / elapsed
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def prune_under_load(base_dsn: str, rows: int, jobs: int) -> dict[str, float]:
    def prepare(dsn: str) -> None:
        _setup(dsn, True)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(EXPIRED_ROWS_SQL, (rows,))
            conn.execute(BULK_SQL, (jobs,))
            conn.execute("vacuum analyze")

    length = 0.0

    def until_pruned(conn: psycopg.Connection) -> float:
        nonlocal length
        t0 = time.perf_counter()
        while conn.execute(EXPIRED_LEFT_SQL).fetchone()[0]:
            time.sleep(0.5)
        length = time.perf_counter() - t0
        return length

    with scratch_database(base_dsn, "gw_hist") as dsn:
        prepare(dsn)
        with psycopg.connect(dsn, autocommit=True) as conn:
            if conn.execute(EXPIRED_LEFT_SQL).fetchone()[0] != 1:
                raise RuntimeError("the expired rows are not in place")
        with_prune = _rate_over(dsn, "1", until_pruned)
    with scratch_database(base_dsn, "gw_hist") as dsn:
        prepare(dsn)
        without = _rate_over(dsn, "0", lambda conn: (time.sleep(length), length)[1])
    return {"rows pruned": rows, "prune s": length, "jobs/s pruning": with_prune,
            "jobs/s not pruning": without, "ratio": with_prune / without}


def main_history(base_dsn: str, n: int, rounds: int, rows: int, jobs: int) -> None:
    result = on_off(base_dsn, n, rounds)
    print(f"process_c10 (n={n}, {rounds} rounds), history off: {result['off jobs/s']:,.0f} jobs/s,"
          f" on: {result['on jobs/s']:,.0f} jobs/s, on/off {result['on/off']:.2f}x")
    pr = prune_under_load(base_dsn, rows, jobs)
    print(f"the runner pruning {pr['rows pruned']:,.0f} finished jobs (done {pr['prune s']:.1f} s"
          f" into the window) while it drains at -j 10:"
          f" {pr['jobs/s pruning']:,.0f} jobs/s, against {pr['jobs/s not pruning']:,.0f}"
          f" without pruning over the same length of time: {pr['ratio']:.2f}x")
