"""History workloads (issue 16, docs/history.md): what keeping finished jobs costs.

    python bench/run.py --workloads history

1. process_c10 with history off and on (`set_retention(null, '1 day')`), in alternating fresh
   databases, `--rounds` times: the median rates and their ratio.
2. Pruning under load: a database holding `--hist-rows` (default 1,000,000) finished jobs past
   their retention, and `--hist-jobs` jobs waiting, drained by one runner at -j 10 with history
   on. The processing rate is read from the backlog over a window: once while a pruner calls
   `prune_finished_jobs(10000)` until the store is empty (the runner's housekeeping does the
   same), once with no pruning over a window of the same length, in another database set up
   the same way.

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


def _rate_over(dsn: str, window: Callable[[], float]) -> tuple[float, float]:
    """Start a runner, let it warm up, run `window` (returns its length in seconds) and
    return (jobs/s over the window, window seconds)."""
    proc = subprocess.Popen(_runner(dsn, ["--prune-interval", "0"]), stderr=subprocess.PIPE,
                            text=True)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            time.sleep(2.0)
            before = conn.execute(PENDING_SQL).fetchone()[0]
            t0 = time.perf_counter()
            length = window()
            elapsed = time.perf_counter() - t0
            after = conn.execute(PENDING_SQL).fetchone()[0]
        if after == 0:
            raise RuntimeError("the backlog ran out inside the window: raise --hist-jobs")
        return (before - after) / elapsed, length
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

    pruned = 0
    calls = 0

    def prune_all(dsn: str) -> float:
        nonlocal pruned, calls
        t0 = time.perf_counter()
        with psycopg.connect(dsn, autocommit=True) as conn:
            while True:
                n = conn.execute("select graphile_worker.prune_finished_jobs(10000)").fetchone()[0]
                calls += 1
                pruned += n
                if n < 10000:
                    break
        return time.perf_counter() - t0

    with scratch_database(base_dsn, "gw_hist") as dsn:
        prepare(dsn)
        with_prune, length = _rate_over(dsn, lambda: prune_all(dsn))
    if pruned < rows:
        raise RuntimeError(f"pruned {pruned} of {rows}")
    with scratch_database(base_dsn, "gw_hist") as dsn:
        prepare(dsn)
        without, _ = _rate_over(dsn, lambda: (time.sleep(length), length)[1])
    return {"rows pruned": pruned, "prune s": length, "prune calls": calls,
            "jobs/s pruning": with_prune, "jobs/s not pruning": without,
            "ratio": with_prune / without}


def main_history(base_dsn: str, n: int, rounds: int, rows: int, jobs: int) -> None:
    result = on_off(base_dsn, n, rounds)
    print(f"process_c10 (n={n}, {rounds} rounds), history off: {result['off jobs/s']:,.0f} jobs/s,"
          f" on: {result['on jobs/s']:,.0f} jobs/s, on/off {result['on/off']:.2f}x")
    pr = prune_under_load(base_dsn, rows, jobs)
    print(f"pruning {pr['rows pruned']:,.0f} finished jobs in {pr['prune s']:.1f} s"
          f" ({pr['prune calls']:.0f} calls) while one runner (-j 10) drains:"
          f" {pr['jobs/s pruning']:,.0f} jobs/s, against {pr['jobs/s not pruning']:,.0f}"
          f" without pruning over the same length of time: {pr['ratio']:.2f}x")
