"""The long-transaction scenario (`make bench BENCH_ARGS="--workloads long_txn"`): bursts of
no-op jobs drained by a running worker while a REPEATABLE READ transaction stays open in the
same database, so vacuum can remove nothing that the jobs leave behind (docs/scaling.md, "Long
transactions").

Phases, one fresh database per system: warm-up bursts; `free` bursts (the full rate); `held`
bursts with the transaction open (at least 400,000 jobs by default); the transaction ends;
`after` bursts for --lt-recovery seconds. For each burst: the drain rate (commit of the burst
to the last job gone), the time of one claim of 500 jobs (get_jobs, taken inside the enqueue
transaction and rolled back; ours only), dead tuples of the jobs table (statistics, a little
behind), and the sizes of the table and its indexes.

Systems: `gw` (the extension + python -m gw_runner, --batch-size 500), `gw-sql=FILE` (the
same runner on a database set up with a standalone script instead, e.g. the frozen 0.1.3), and
`node` (graphile-worker 0.18 from GW_NODE_DIR, default /tmp/benchdeps/node, with
bench/node_worker.mjs: local queue of 500, batched completions, its own schema). Nothing here
asserts a speed.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
from dbs import scratch_database
from psycopg.conninfo import conninfo_to_dict

HERE = Path(__file__).resolve().parent
TASKS = HERE / "tasks.py"
NODE_WORKER = HERE / "node_worker.mjs"

ENQUEUE_SQL = """
select min(id), max(id) from graphile_worker.add_jobs(
  array(select row('noop', '{}', null, null, null, null, null, null)::graphile_worker.job_spec
        from generate_series(1, %s)))
"""
# The newest job of the burst that is still there: jobs finish roughly in id order, so this
# walks little while the burst drains (and the whole burst once, at the end).
LEFT_SQL = (
    "select id from graphile_worker._private_jobs where id between %s and %s"
    " order by id desc limit 1"
)
STATS_SQL = """
select coalesce(s.n_dead_tup, 0), pg_relation_size(c.oid), pg_indexes_size(c.oid),
       coalesce(pg_relation_size(to_regclass('graphile_worker.jobs_gw_claim_no_queue_index')), 0)
from pg_class c join pg_namespace n on n.oid = c.relnamespace
left join pg_stat_user_tables s on s.relid = c.oid
where n.nspname = 'graphile_worker' and c.relname = '_private_jobs'
"""


@dataclass
class Burst:
    phase: str
    n: int
    seconds: float
    claim_ms: float | None
    dead: int
    table_mb: float
    indexes_mb: float
    claim_index_mb: float
    at: float  # seconds since the held transaction ended (after phase), else since start

    @property
    def rate(self) -> float:
        return self.n / self.seconds


@contextmanager
def _database(base_dsn: str, system: str) -> Iterator[str]:
    with scratch_database(base_dsn, "gw_lt") as dsn:
        if system == "gw":
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("create extension graphile_worker")
        elif system.startswith("gw-sql="):
            script = system.split("=", 1)[1]
            subprocess.run(
                ["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", script],
                check=True,
                capture_output=True,
                text=True,
            )
        yield dsn


def _start_worker(dsn: str, system: str, concurrency: int) -> subprocess.Popen[str]:
    if system == "node":
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not installed")
        # node-postgres reads a socket directory as a URL-encoded host
        p = conninfo_to_dict(dsn)
        host = quote(str(p.get("host") or "localhost"), safe="")
        url = f"postgresql://{p.get('user') or 'postgres'}@{host}:{p.get('port') or 5432}/{p['dbname']}"
        cmd = [node, str(NODE_WORKER), url, str(concurrency)]
    else:
        cmd = [
            sys.executable,
            "-m",
            "gw_runner",
            str(TASKS),
            "-c",
            dsn,
            "-j",
            str(concurrency),
            "--batch-size",
            "500",
            "--log-level",
            "warning",
        ]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_gone(poll: psycopg.Connection, lo: int, hi: int, timeout: float) -> float:
    deadline = time.perf_counter() + timeout
    while True:
        if poll.execute(LEFT_SQL, (lo, hi)).fetchone() is None:
            return time.perf_counter()
        if time.perf_counter() > deadline:
            raise RuntimeError(f"burst {lo}..{hi} not drained within {timeout} s")
        time.sleep(0.002)


def _burst(
    conn: psycopg.Connection,
    poll: psycopg.Connection,
    n: int,
    phase: str,
    t_ref: float,
    probe: bool,
) -> Burst:
    lo, hi = None, None
    claim_ms = None
    with conn.transaction():
        left = n
        while left > 0:
            k = min(5000, left)
            a, b = conn.execute(ENQUEUE_SQL, (k,)).fetchone()  # type: ignore[misc]
            lo = a if lo is None else min(lo, a)
            hi = b if hi is None else max(hi, b)
            left -= k
        if probe:
            # one claim of 500 from where the runner's claims start (rolled back)
            conn.execute("savepoint probe")
            t = time.perf_counter()
            conn.execute(
                "select count(*) from graphile_worker.get_jobs('bench-probe', array['noop'], 500)"
            )
            claim_ms = (time.perf_counter() - t) * 1000
            conn.execute("rollback to savepoint probe")
    t0 = time.perf_counter()
    t1 = _wait_gone(poll, lo, hi, timeout=600)  # type: ignore[arg-type]
    dead, table, indexes, claim_index = poll.execute(STATS_SQL).fetchone()  # type: ignore[misc]
    return Burst(
        phase,
        n,
        t1 - t0,
        claim_ms,
        dead,
        table / 2**20,
        indexes / 2**20,
        claim_index / 2**20,
        time.perf_counter() - t_ref,
    )


def run_long_txn(
    base_dsn: str,
    system: str,
    *,
    burst: int,
    held_jobs: int,
    free: int,
    warmup: int,
    recovery: float,
    gap: float,
    concurrency: int,
) -> list[Burst]:
    out: list[Burst] = []
    probe = system != "node"
    with _database(base_dsn, system) as dsn:
        worker = _start_worker(dsn, system, concurrency)
        try:
            with (
                psycopg.connect(dsn, autocommit=True) as conn,
                psycopg.connect(dsn, autocommit=True) as poll,
                psycopg.connect(dsn, autocommit=True) as holder,
            ):
                # the worker is up once it has run a first burst (Node installs its schema)
                deadline = time.monotonic() + 60
                while True:
                    try:
                        conn.execute("select 1 from graphile_worker.migrations limit 1")
                        break
                    except psycopg.Error as e:
                        if time.monotonic() > deadline or worker.poll() is not None:
                            raise RuntimeError(f"the worker did not start ({e})") from e
                        time.sleep(0.2)
                t_ref = time.perf_counter()
                for _ in range(warmup):
                    _burst(conn, poll, burst, "warm-up", t_ref, probe)
                    time.sleep(gap)
                for _ in range(free):
                    out.append(_burst(conn, poll, burst, "free", t_ref, probe))
                    time.sleep(gap)
                holder.execute("begin isolation level repeatable read")
                holder.execute("select count(*) from graphile_worker.migrations")
                done = 0
                while done < held_jobs:
                    out.append(_burst(conn, poll, burst, "held", t_ref, probe))
                    done += burst
                    time.sleep(gap)
                holder.execute("commit")
                t_ref = time.perf_counter()
                while time.perf_counter() - t_ref < recovery:
                    out.append(_burst(conn, poll, burst, "after", t_ref, probe))
                    time.sleep(gap)
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
    return out


def summary(bursts: list[Burst]) -> dict[str, float]:
    full = statistics.median(b.rate for b in bursts if b.phase == "free")
    held = [b for b in bursts if b.phase == "held"]
    end = statistics.median(b.rate for b in held[-3:])
    after = [b for b in bursts if b.phase == "after"]
    back = next((b.at for b in after if b.rate >= 0.9 * full), float("nan"))
    first_after = after[0].rate / full if after else float("nan")
    return {
        "full jobs/s": full,
        "held end jobs/s": end,
        "end / full": end / full,
        "first after / full": first_after,
        "back to 0.9x after s": back,
    }


def report(system: str, bursts: list[Burst]) -> str:
    lines = [
        f"### {system}",
        "",
        "| phase | # | jobs/s | claim 500 ms | dead tuples | table MB | indexes MB | claim index MB | t s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    count: dict[str, int] = {}
    for b in bursts:
        count[b.phase] = count.get(b.phase, 0) + 1
        claim = f"{b.claim_ms:.1f}" if b.claim_ms is not None else ""
        lines.append(
            f"| {b.phase} | {count[b.phase]} | {b.rate:,.0f} | {claim} | {b.dead:,} | "
            f"{b.table_mb:.1f} | {b.indexes_mb:.1f} | {b.claim_index_mb:.1f} | {b.at:.1f} |"
        )
    s = summary(bursts)
    lines.append("")
    lines.append(
        f"full {s['full jobs/s']:,.0f} jobs/s; end of held {s['held end jobs/s']:,.0f} jobs/s "
        f"({s['end / full']:.2f}x); first burst after the transaction {s['first after / full']:.2f}x; "
        f"back to 0.9x {s['back to 0.9x after s']:.1f} s after it ended"
    )
    return "\n".join(lines)


def main_long_txn(base_dsn: str, systems: list[str], **kw: float) -> None:
    results: dict[str, list[Burst]] = {}
    for system in systems:
        results[system] = run_long_txn(base_dsn, system, **kw)  # type: ignore[arg-type]
        print(report(system, results[system]) + "\n", flush=True)
    if len(results) > 1:
        ends = {s: summary(b)["held end jobs/s"] for s, b in results.items()}
        first = systems[0]
        for other in systems[1:]:
            print(f"end of held: {first} / {other} = {ends[first] / ends[other]:.2f}x")
