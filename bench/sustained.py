"""The sustained-volume scenario (`make bench BENCH_ARGS="--workloads sustained"`): producers
enqueue at a fixed rate for a long time (default 10 million jobs over 30 minutes) while a fleet
of runners (`python -m gw_runner`, default settings) drains them; every minute it records the
rates, the latency of a sample of jobs, and the sizes of the jobs table and its indexes, to see
whether they stay flat and level off (docs/scaling.md, "Hours of volume").

    python bench/run.py --dsn ... --workloads sustained --sus-rate 5600 --sus-minutes 30
    python bench/run.py --dsn ... --workloads sustained --sus-autovacuum default

`--sus-autovacuum`: `extension` keeps the storage parameters the extension sets on its tables
(the recommended settings), `default` resets them to the server's autovacuum defaults first.
Producers are processes of their own, each calling add_jobs every 20 ms for its share of the
rate; one job in `--sus-sample` carries its enqueue time, and bench/tasks.py records when it
starts (BENCH_RECORD). Nothing here asserts a speed.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg
from dbs import scratch_database

HERE = Path(__file__).resolve().parent
TASKS = HERE / "tasks.py"

ENQUEUE_SQL = """
select count(*) from graphile_worker.add_jobs(
  array(select row('noop', p, null, null, null, null, null, null)::graphile_worker.job_spec
        from unnest(%s::json[]) as u(p)))
"""
TICK = 0.02  # a producer's enqueue period, seconds
JOBS_TABLE = "graphile_worker._private_jobs"
# Storage parameters the extension may set on its tables; reset for --sus-autovacuum default.
AUTOVACUUM_PARAMS = (
    "autovacuum_vacuum_scale_factor",
    "autovacuum_vacuum_threshold",
    "autovacuum_vacuum_insert_scale_factor",
    "autovacuum_vacuum_insert_threshold",
    "autovacuum_analyze_scale_factor",
    "autovacuum_vacuum_cost_delay",
    "autovacuum_vacuum_cost_limit",
    "fillfactor",
)
STATS_SQL = """
select coalesce(s.n_tup_ins, 0), coalesce(s.n_tup_del, 0), coalesce(s.n_dead_tup, 0),
       coalesce(s.n_live_tup, 0), coalesce(s.autovacuum_count, 0),
       pg_relation_size(c.oid), pg_indexes_size(c.oid),
       (select count(*) from graphile_worker._private_jobs),
       (select coalesce(json_object_agg(i.relname, pg_relation_size(i.oid)), '{}')
        from pg_index x join pg_class i on i.oid = x.indexrelid where x.indrelid = c.oid)
from pg_class c
left join pg_stat_user_tables s on s.relid = c.oid
where c.oid = 'graphile_worker._private_jobs'::regclass
"""


@dataclass
class Minute:
    minute: int
    enqueued_per_s: float
    processed_per_s: float
    backlog: int
    latency_samples: int
    p50_ms: float | None
    p99_ms: float | None
    dead_tuples: int
    autovacuums: int
    table_mb: float
    indexes_mb: float
    index_mb: dict[str, float]


def _producer(dsn: str, rate: float, total: int, sample: int, t0: float, seq: int) -> None:
    """Enqueue `total` jobs at `rate` per second from t0, one add_jobs call per tick."""
    per_tick = rate * TICK
    done = 0
    tick = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        while done < total:
            tick += 1
            due = t0 + tick * TICK
            pause = due - time.time()
            if pause > 0:
                time.sleep(pause)
            k = min(total - done, int(tick * per_tick) - done)
            if k <= 0:
                continue
            now = time.time()
            payloads = [
                f'{{"t":{now:.6f}}}' if (seq + done + i) % sample == 0 else "{}" for i in range(k)
            ]
            conn.execute(ENQUEUE_SQL, (payloads,))
            done += k


def _read_latencies(path: Path, offset: int) -> tuple[list[tuple[float, float]], int]:
    """New "<enqueued> <started>" lines of a record file since offset (whole lines only)."""
    if not path.exists():
        return [], offset
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read()
    end = data.rfind(b"\n") + 1
    rows = []
    for line in data[:end].splitlines():
        a, _, b = line.partition(b" ")
        rows.append((float(a), float(b)))
    return rows, offset + end


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def run_sustained(
    base_dsn: str,
    *,
    rate: float,
    minutes: float,
    producers: int,
    runners: int,
    concurrency: int,
    sample: int,
    autovacuum: str,
    interval: float,
) -> dict[str, object]:
    total = int(rate * minutes * 60)
    with scratch_database(base_dsn, "gw_sus") as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("create extension graphile_worker")
            if autovacuum == "default":
                for table in (JOBS_TABLE, "graphile_worker._private_job_queues"):
                    conn.execute(f"alter table {table} reset ({', '.join(AUTOVACUUM_PARAMS)})")
            reloptions = conn.execute(
                "select coalesce(reloptions, '{}') from pg_class where oid = %s::regclass",
                (JOBS_TABLE,),
            ).fetchone()[0]  # type: ignore[index]
        record_dir = Path(tempfile.mkdtemp(prefix="gw_sus_"))
        fleet = []
        for i in range(runners):
            env = dict(os.environ, BENCH_RECORD=str(record_dir / f"runner{i}.txt"))
            fleet.append(
                subprocess.Popen(
                    [sys.executable, "-m", "gw_runner", str(TASKS), "-c", dsn,
                     "-j", str(concurrency), "--log-level", "warning"],
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                )
            )
        time.sleep(2)
        t0 = time.time() + 1
        share = total // producers
        procs = [
            mp.Process(
                target=_producer,
                args=(dsn, rate / producers, share + (total % producers if i == 0 else 0),
                      sample, t0, i),
            )
            for i in range(producers)
        ]
        for p in procs:
            p.start()
        offsets = {i: 0 for i in range(runners)}
        out: list[Minute] = []
        try:
            with psycopg.connect(dsn, autocommit=True) as mon:
                prev = mon.execute(STATS_SQL).fetchone()
                prev_t = time.time()
                minute = 0
                while True:
                    time.sleep(max(0.0, t0 + (minute + 1) * interval - time.time()))
                    minute += 1
                    cur = mon.execute(STATS_SQL).fetchone()
                    now = time.time()
                    lat: list[float] = []
                    for i in range(runners):
                        rows, offsets[i] = _read_latencies(
                            record_dir / f"runner{i}.txt", offsets[i]
                        )
                        lat.extend((b - a) * 1000 for a, b in rows)
                    ins, dele, dead, _live, avac, heap, idx, backlog, per_index = cur  # type: ignore[misc]
                    dt = now - prev_t
                    out.append(
                        Minute(
                            minute,
                            (ins - prev[0]) / dt,  # type: ignore[index]
                            (dele - prev[1]) / dt,  # type: ignore[index]
                            backlog,
                            len(lat),
                            statistics.median(lat) if lat else None,
                            _percentile(lat, 0.99),
                            dead,
                            avac,
                            heap / 2**20,
                            idx / 2**20,
                            {k: v / 2**20 for k, v in per_index.items()},
                        )
                    )
                    m = out[-1]
                    print(
                        f"[{minute:3d}] in {m.enqueued_per_s:8,.0f}/s  done {m.processed_per_s:8,.0f}/s"
                        f"  backlog {m.backlog:9,}  p50 {m.p50_ms or 0:8.1f} ms  p99 {m.p99_ms or 0:8.1f} ms"
                        f"  dead {m.dead_tuples:9,}  av {m.autovacuums:3}  heap {m.table_mb:7.1f} MB"
                        f"  idx {m.indexes_mb:7.1f} MB",
                        flush=True,
                    )
                    prev, prev_t = cur, now
                    for r in fleet:
                        if r.poll() is not None:
                            raise RuntimeError(f"a runner exited: {r.stderr.read()[-2000:]}")  # type: ignore[union-attr]
                    if all(not p.is_alive() for p in procs) and m.backlog == 0:
                        break
                    if minute * interval > minutes * 60 * 2 + 600:
                        raise RuntimeError("the fleet did not drain the jobs in time")
        finally:
            for p in procs:
                if p.is_alive():
                    p.terminate()
            for r in fleet:
                r.terminate()
            for r in fleet:
                try:
                    r.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    r.kill()
    return {
        "settings": {
            "rate": rate, "minutes": minutes, "total": total, "producers": producers,
            "runners": runners, "concurrency": concurrency, "sample": sample,
            "autovacuum": autovacuum, "reloptions": reloptions, "interval_s": interval,
        },
        "minutes": [asdict(m) for m in out],
        "summary": summary(out, minutes * 60 / interval),
    }


def summary(rows: list[Minute], producing: float) -> dict[str, float | None]:
    """First 5 against last 5 intervals of the producing period (the drain after it excluded)."""
    busy = [m for m in rows if m.minute <= int(producing)]
    if len(busy) < 10:
        return {}
    first, last = busy[1:6], busy[-5:]  # the first interval holds the runners' warm-up

    def med(xs: list[float | None]) -> float | None:
        vals = [x for x in xs if x is not None]
        return statistics.median(vals) if vals else None

    out: dict[str, float | None] = {
        "first5 processed/s": med([m.processed_per_s for m in first]),
        "last5 processed/s": med([m.processed_per_s for m in last]),
        "first5 p99 ms": med([m.p99_ms for m in first]),
        "last5 p99 ms": med([m.p99_ms for m in last]),
        "first5 p50 ms": med([m.p50_ms for m in first]),
        "last5 p50 ms": med([m.p50_ms for m in last]),
        "max backlog": max(m.backlog for m in busy),
        "heap MB at 10": busy[9].table_mb,
        "heap MB at end": busy[-1].table_mb,
        "indexes MB at 10": busy[9].indexes_mb,
        "indexes MB at end": busy[-1].indexes_mb,
    }
    a, b = out["first5 processed/s"], out["last5 processed/s"]
    out["rate last5/first5"] = b / a if a and b else None
    a, b = out["first5 p99 ms"], out["last5 p99 ms"]
    out["p99 last5/first5"] = b / a if a and b else None
    return out


def main_sustained(base_dsn: str, out_path: str | None, **kw: object) -> None:
    result = run_sustained(base_dsn, **kw)  # type: ignore[arg-type]
    print(json.dumps(result["summary"], indent=2), flush=True)
    if out_path:
        Path(out_path).write_text(json.dumps(result, indent=2))
