"""The project's own benchmarks (`make bench`): enqueue rates, processing rates, latency, the
large-table scenario and a profile mode, against a real PostgreSQL server.

    python bench/run.py --dsn postgresql:///bench_db      # or: make bench (throwaway durable cluster)
    python bench/run.py --workloads process --concurrency 1,10 --rounds 3
    python bench/run.py --workloads large                  # 1M non-runnable jobs vs an empty table
    python bench/run.py --profile                          # cProfile of the runner on process_c10
    python bench/run.py --workloads long_txn               # bursts under a long open transaction
    python bench/run.py --workloads long_txn --lt-systems gw,node   # ... and graphile-worker's
    python bench/run.py --workloads sustained              # 10M jobs over 30 min at a fixed rate
    python bench/run.py --workloads hops,latency           # one job's latency taken apart
    python bench/run.py --workloads history                # finished jobs: on/off, pruning under load
    python bench/run.py --workloads flow                   # set_task_limits: max_running, rate

Every measurement uses a fresh database with the extension (dropped afterwards). Rates are
jobs per second (higher is better), latency is enqueue -> handler start in ms. Speed targets
against the peers are measured side by side with ../shared/bench (see docs/performance.md);
these numbers are for regressions and tuning. Nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from dbs import scratch_database
from flow import main_flow
from history import main_history
from hops import hops
from long_txn import main_long_txn
from sustained import main_sustained

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TASKS = HERE / "tasks.py"
LARGE_SETUP = HERE / "large_table_setup.sql"

BULK_SQL = """
select count(*) from graphile_worker.add_jobs(
  array(select row(i, p, null, null, null, null, null, null)::graphile_worker.job_spec
        from unnest(%s::text[], %s::json[]) as u(i, p)))
"""
SINGLE_SQL = "select (graphile_worker.add_job(%s, %s::json)).id"
# Extra runner options for every run (--runner-args), e.g. "--batch-size 500".
RUNNER_ARGS: list[str] = []
PENDING_SQL = (
    "select count(*) from graphile_worker._private_jobs where is_available or locked_at is not null"
)


@contextmanager
def fresh_db(base_dsn: str) -> Iterator[str]:
    """A new database with the extension; dropped afterwards."""
    with scratch_database(base_dsn, "gw_bench") as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("create extension graphile_worker")
        yield dsn


def _chunked_rate(
    dsn: str, n: int, chunk: int, send: Callable[[psycopg.Connection, int], object]
) -> float:
    """Jobs per second of `send(conn, k)` calls enqueueing n jobs, k <= chunk at a time."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("select 1")
        t0 = time.perf_counter()
        done = 0
        while done < n:
            k = min(chunk, n - done)
            send(conn, k)
            done += k
        return n / (time.perf_counter() - t0)


def bulk_enqueue(dsn: str, n: int, chunk: int = 5000) -> float:
    """add_jobs in SQL, the specs as text[] and json[] parameters (as ../shared/bench sends)."""
    return _chunked_rate(dsn, n, chunk, lambda c, k: c.execute(BULK_SQL, (["noop"] * k, ["{}"] * k)))


def api_bulk_enqueue(dsn: str, n: int, chunk: int = 5000) -> float:
    """gw_runner.add_jobs (the Python API: specs checked, Job objects returned)."""
    from gw_runner import JobSpec, add_jobs

    return _chunked_rate(
        dsn, n, chunk, lambda c, k: add_jobs(c, [JobSpec("noop", {}) for _ in range(k)])
    )


def single_enqueue(dsn: str, n: int) -> float:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("select 1")
        t0 = time.perf_counter()
        for _ in range(n):
            conn.execute(SINGLE_SQL, ("noop", "{}"))
        return n / (time.perf_counter() - t0)


def runner_cmd(
    dsn: str, concurrency: int, extra: list[str], profile_out: str | None = None
) -> list[str]:
    cmd = [sys.executable]
    if profile_out:
        cmd += ["-m", "cProfile", "-o", profile_out]
    cmd += [
        "-m",
        "gw_runner",
        str(TASKS),
        "-c",
        dsn,
        "-j",
        str(concurrency),
        "--log-level",
        "warning",
        *RUNNER_ARGS,
    ]
    return cmd + extra


def process(dsn: str, n: int, concurrency: int, profile_out: str | None = None) -> dict[str, float]:
    """Preload n jobs, then time `--once` from spawn to exit (includes start-up)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        before = conn.execute(PENDING_SQL).fetchone()[0]  # jobs that are not runnable stay
    bulk_enqueue(dsn, n)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("vacuum analyze graphile_worker._private_jobs")
        xact0 = conn.execute(
            "select xact_commit from pg_stat_database where datname = current_database()"
        ).fetchone()
    t0 = time.perf_counter()
    proc = subprocess.run(
        runner_cmd(dsn, concurrency, ["--once"], profile_out), capture_output=True, text=True
    )
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"runner failed ({proc.returncode}): {proc.stderr[-2000:]}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        left = conn.execute(PENDING_SQL).fetchone()[0]
        time.sleep(0.6)  # let the statistics collector catch up
        xact1 = conn.execute(
            "select xact_commit from pg_stat_database where datname = current_database()"
        ).fetchone()
    if left != before:
        raise RuntimeError(f"{left - before} jobs left after --once")
    return {"jobs/s": n / elapsed, "seconds": elapsed, "xact/job": (xact1[0] - xact0[0]) / n}


def latency(dsn: str, n: int, gap_ms: float, settle: float = 1.5) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "record.txt"
        env = {**os.environ, "BENCH_RECORD": str(record)}
        proc = subprocess.Popen(
            runner_cmd(dsn, 10, []),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            time.sleep(settle)
            with psycopg.connect(dsn, autocommit=True) as conn:
                start = time.perf_counter()
                for i in range(n):
                    target = start + i * gap_ms / 1000
                    delay = target - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    conn.execute(SINGLE_SQL, ("noop", json.dumps({"t": time.time()})))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if record.exists() and len(record.read_text().splitlines()) >= n:
                    break
                time.sleep(0.05)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        samples = sorted(
            (float(b) - float(a)) * 1000
            for a, b in (line.split() for line in record.read_text().splitlines())
        )
    if len(samples) < n:
        raise RuntimeError(f"only {len(samples)}/{n} latency samples recorded")
    q = statistics.quantiles(samples, n=100)
    return {"p50 ms": q[49], "p95 ms": q[94], "p99 ms": q[98], "max ms": samples[-1]}


def large(dsn: str, n: int, concurrency: int) -> dict[str, float]:
    """Processing rate with 1,000,000 non-runnable jobs in the table (bench/large_table_setup.sql)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(LARGE_SETUP.read_text())  # type: ignore[call-overload]
        conn.execute("vacuum analyze graphile_worker._private_jobs")
    result = process(dsn, n, concurrency)
    bulk_enqueue(dsn, 200)
    notices: list[str] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        conn.execute(
            "load 'auto_explain'; set auto_explain.log_min_duration = 0;"
            " set auto_explain.log_nested_statements = on; set auto_explain.log_analyze = on;"
            " set auto_explain.log_timing = on; set auto_explain.log_level = notice;"
            " set client_min_messages = notice"
        )
        conn.execute("select count(*) from graphile_worker.get_jobs('explain', array['noop'], 100)")
    claim_plan = [(n,) for n in notices]
    result["plan"] = "\n".join(r[0] for r in claim_plan)  # type: ignore[assignment]
    return result


def table(rows: list[tuple[str, dict[str, float]]]) -> str:
    keys: list[str] = []
    for _, values in rows:
        keys += [k for k in values if k not in keys and k != "plan"]
    out = ["| workload | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for name, values in rows:
        cells = [f"{values[k]:,.4g}" if k in values else "" for k in keys]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def median_of(rounds: int, fn: Callable[[], dict[str, float]]) -> dict[str, float]:
    results = [fn() for _ in range(rounds)]
    return {k: statistics.median(r[k] for r in results) for k in results[0] if k != "plan"}


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--dsn",
        default=os.environ.get("DATABASE_URL"),
        help="a database where CREATE DATABASE works",
    )
    ap.add_argument("--workloads", default="enqueue,process,latency,large")
    ap.add_argument("--concurrency", default="1,10")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n-bulk", type=int, default=50_000)
    ap.add_argument("--n-single", type=int, default=5_000)
    ap.add_argument("--n-process", type=int, default=20_000)
    ap.add_argument("--n-latency", type=int, default=200)
    ap.add_argument("--gap-ms", type=float, default=20)
    ap.add_argument(
        "--runner-args",
        default="",
        help="extra gw_runner options for every run, e.g. '--batch-size 500' (default: none, the runner's defaults, which adapt the batch size)",
    )
    ap.add_argument(
        "--lt-systems",
        default="gw",
        help="long_txn: comma-separated systems: gw (this tree's extension), "
        "gw-sql=FILE (a standalone script, e.g. sql/released/standalone/...--0.1.3.sql), "
        "node (graphile-worker 0.18 from GW_NODE_DIR, default /tmp/benchdeps/node)",
    )
    ap.add_argument("--lt-burst", type=int, default=20_000, help="long_txn: jobs per burst")
    ap.add_argument(
        "--lt-held-jobs", type=int, default=400_000, help="long_txn: jobs through while held"
    )
    ap.add_argument("--lt-free", type=int, default=3, help="long_txn: bursts before the hold")
    ap.add_argument("--lt-warmup", type=int, default=2, help="long_txn: warm-up bursts")
    ap.add_argument(
        "--lt-recovery", type=float, default=60, help="long_txn: seconds of bursts after it"
    )
    ap.add_argument("--lt-gap", type=float, default=0.5, help="long_txn: pause between bursts, s")
    ap.add_argument("--hist-rows", type=int, default=1_000_000,
                    help="history: finished jobs to prune under load")
    ap.add_argument("--hist-jobs", type=int, default=1_000_000,
                    help="history: jobs waiting while pruning")
    ap.add_argument("--flow-parts", default="max_running,rate_limit,mixed,cancel",
                    help="flow: comma-separated parts: max_running, rate_limit, mixed, cancel")
    ap.add_argument("--flow-jobs", type=int, default=5_000,
                    help="flow: jobs of the max_running part")
    ap.add_argument("--flow-ms", type=float, default=20,
                    help="flow: milliseconds each job of the max_running part sleeps")
    ap.add_argument("--flow-rate-seconds", type=float, default=180,
                    help="flow: seconds the rate_limit part runs and measures")
    ap.add_argument("--flow-free-jobs", type=int, default=2_000,
                    help="flow: no-op jobs of the mixed part")
    ap.add_argument("--flow-rounds", type=int, default=2,
                    help="flow: rounds of the mixed part (alone, mixed alternating)")
    ap.add_argument("--flow-history", choices=("on", "off"), default="on",
                    help="flow: max_running with history on (the database's view of each job "
                         "is read back) or off (the runner's own speed; claim to handler end)")
    ap.add_argument("--flow-out", default=None, help="flow: write the results as JSON here")
    ap.add_argument("--flow-dir", default=None,
                    help="flow: keep the job records and runner logs here (default: removed)")
    ap.add_argument("--flow-log-level", default="warning",
                    help="flow: the runners' --log-level (their logs go to --flow-dir)")
    ap.add_argument("--sus-rate", type=float, default=5600, help="sustained: jobs/s enqueued")
    ap.add_argument("--sus-minutes", type=float, default=30, help="sustained: minutes enqueueing")
    ap.add_argument("--sus-producers", type=int, default=2, help="sustained: producer processes")
    ap.add_argument("--sus-runners", type=int, default=2, help="sustained: runner processes")
    ap.add_argument("--sus-concurrency", type=int, default=10, help="sustained: -j per runner")
    ap.add_argument(
        "--sus-sample", type=int, default=50, help="sustained: one job in N records its latency"
    )
    ap.add_argument(
        "--sus-autovacuum",
        choices=["extension", "default"],
        default="extension",
        help="sustained: keep the extension's storage parameters, or reset them to the defaults",
    )
    ap.add_argument("--sus-interval", type=float, default=60, help="sustained: seconds per row")
    ap.add_argument("--sus-out", default=None, help="sustained: write every row as JSON here")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="cProfile the runner on process_c10 and print the top",
    )
    args = ap.parse_args()
    RUNNER_ARGS[:] = args.runner_args.split()
    if not args.dsn:
        ap.error("give --dsn or DATABASE_URL (make bench starts a throwaway cluster and sets it)")
    workloads = set(args.workloads.split(","))
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    rows: list[tuple[str, dict[str, float]]] = []

    if "long_txn" in workloads:
        main_long_txn(
            args.dsn,
            args.lt_systems.split(","),
            burst=args.lt_burst,
            held_jobs=args.lt_held_jobs,
            free=args.lt_free,
            warmup=args.lt_warmup,
            recovery=args.lt_recovery,
            gap=args.lt_gap,
            concurrency=10,
        )
        workloads.discard("long_txn")
        if not workloads:
            return 0

    if "history" in workloads:
        main_history(args.dsn, args.n_process, args.rounds, args.hist_rows, args.hist_jobs)
        workloads.discard("history")
        if not workloads:
            return 0

    if "flow" in workloads:
        held = main_flow(
            args.dsn,
            parts=args.flow_parts.split(","),
            jobs=args.flow_jobs,
            ms=args.flow_ms,
            rate_seconds=args.flow_rate_seconds,
            free_jobs=args.flow_free_jobs,
            rounds=args.flow_rounds,
            history=args.flow_history == "on",
            out_path=args.flow_out,
            folder=args.flow_dir,
            log_level=args.flow_log_level,
        )
        workloads.discard("flow")
        if not held:
            return 1
        if not workloads:
            return 0

    if "sustained" in workloads:
        main_sustained(
            args.dsn,
            args.sus_out,
            rate=args.sus_rate,
            minutes=args.sus_minutes,
            producers=args.sus_producers,
            runners=args.sus_runners,
            concurrency=args.sus_concurrency,
            sample=args.sus_sample,
            autovacuum=args.sus_autovacuum,
            interval=args.sus_interval,
        )
        workloads.discard("sustained")
        if not workloads:
            return 0

    if args.profile:
        with tempfile.TemporaryDirectory() as tmp, fresh_db(args.dsn) as dsn:
            out = str(Path(tmp) / "runner.prof")
            result = process(dsn, args.n_process, 10, profile_out=out)
            print(
                f"process_c10 under cProfile: {result['jobs/s']:,.0f} jobs/s (profiling slows it down)"
            )
            pstats.Stats(out).sort_stats("cumulative").print_stats(30)
        return 0

    if "enqueue" in workloads:
        rows.append(
            (
                "enqueue_bulk",
                median_of(
                    args.rounds,
                    lambda: _in_fresh(args.dsn, lambda d: {"jobs/s": bulk_enqueue(d, args.n_bulk)}),
                ),
            )
        )
        rows.append(
            (
                "enqueue_bulk (Python add_jobs)",
                median_of(
                    args.rounds,
                    lambda: _in_fresh(args.dsn, lambda d: {"jobs/s": api_bulk_enqueue(d, args.n_bulk)}),
                ),
            )
        )
        rows.append(
            (
                "enqueue_single",
                median_of(
                    args.rounds,
                    lambda: _in_fresh(
                        args.dsn, lambda d: {"jobs/s": single_enqueue(d, args.n_single)}
                    ),
                ),
            )
        )
    if "process" in workloads:
        for c in concurrencies:
            n = args.n_process if c > 1 else args.n_process // 4
            rows.append(
                (
                    f"process_c{c} (n={n})",
                    median_of(
                        args.rounds,
                        lambda c=c, n=n: _in_fresh(args.dsn, lambda d: process(d, n, c)),
                    ),
                )
            )
    if "latency" in workloads:
        rows.append(
            (
                "latency (c10)",
                median_of(
                    args.rounds,
                    lambda: _in_fresh(args.dsn, lambda d: latency(d, args.n_latency, args.gap_ms)),
                ),
            )
        )
    if "hops" in workloads:
        rows.append(
            (
                "hops of latency (idle, 20 ms apart)",
                median_of(args.rounds, lambda: _in_fresh(args.dsn, lambda d: hops(d))),
            )
        )
    if "large" in workloads:
        n = args.n_process
        empty = median_of(1, lambda: _in_fresh(args.dsn, lambda d: process(d, n, 10)))
        with fresh_db(args.dsn) as dsn:
            big = large(dsn, n, 10)
        rows.append((f"process_c10, empty table (n={n})", empty))
        rows.append(
            (
                f"process_c10, +1M non-runnable (n={n})",
                {k: v for k, v in big.items() if k != "plan"},
            )
        )
        rows.append(("large / empty", {"jobs/s": big["jobs/s"] / empty["jobs/s"]}))
        print("get_jobs(batch 100) with 1M non-runnable jobs:\n" + str(big["plan"]) + "\n")
    print(table(rows))
    return 0


def _in_fresh(base: str, fn: Callable[[str], dict[str, float]]) -> dict[str, float]:
    with fresh_db(base) as dsn:
        return fn(dsn)


if __name__ == "__main__":
    sys.exit(main())
