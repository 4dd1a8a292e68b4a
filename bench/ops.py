"""The operations functions at scale (issue 18, docs/operations.md): list_jobs and count_jobs
with 1,000,000 waiting jobs and 1,000,000 finished rows.

    python bench/ops.py --dsn "host=... user=postgres" [--jobs 1000000] [--finished 1000000]

Builds a scratch database with the extension (CREATE EXTENSION), fills it in bulk (SQL
inserts, not add_job: the shape matters here, not the enqueue path) and times each call: the
median of 5 runs of `--rounds`, server side (EXPLAIN ANALYZE's execution time is not used: it
adds instrumentation; the time is the client round trip over a local socket). Prints one line
per case: the first page (50 rows), a page from the middle (before_id), and count_jobs.
Nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import psycopg
from dbs import scratch_database

FILL_SQL = """
insert into graphile_worker._private_tasks (identifier)
  values ('send_email'), ('resize'), ('report'), ('rare');
insert into graphile_worker._private_job_queues (queue_name) values ('q1'), ('q2');
-- finished rows: ids 1..F, 90 percent completed, 5 failed, 5 cancelled
insert into graphile_worker._private_finished_jobs
  (id, task_identifier, queue_name, payload, key, priority, attempts, max_attempts, outcome,
   last_error, created_at, first_started_at, finished_at, worker_id, expires_at)
select i, (array['send_email', 'resize', 'report'])[1 + i %% 3],
  case when i %% 10 = 0 then 'q1' end, '{"to": "someone@example.com"}', null, 0,
  case when i %% 20 = 1 then 25 else 1 end, 25,
  case when i %% 20 = 1 then 'failed' when i %% 20 = 2 then 'cancelled' else 'completed' end,
  case when i %% 20 = 1 then 'boom' end,
  now() - interval '1 day', now() - interval '1 day', now() - interval '1 day', 'w1',
  now() + interval '6 days'
from generate_series(1, %(finished)s) as i;
-- jobs: ids F+1..F+J waiting; every 1000th retrying, every 1000th + 1 failed for good,
-- every 1000th + 2 scheduled, 100 of task rare, 50 running, 1 in 10 in queue q1, 1 in 5 keyed
insert into graphile_worker._private_jobs
  (id, job_queue_id, task_id, payload, run_at, attempts, max_attempts, key, last_error,
   locked_at, locked_by)
overriding system value
select %(finished)s + i,
  case when i %% 10 = 0 then 1 end,
  case when i %% 10000 = 5 then 4 else 1 + i %% 3 end,
  '{"to": "someone@example.com"}',
  case when i %% 1000 = 2 then now() + interval '1 day' else now() - interval '1 hour' end,
  case when i %% 1000 = 0 then 3 when i %% 1000 = 1 then 25 else 0 end, 25,
  case when i %% 5 = 0 then 'k' || i end,
  case when i %% 1000 in (0, 1) then 'boom' end,
  case when i %% 20000 = 7 then now() end,
  case when i %% 20000 = 7 then 'w1' end
from generate_series(1, %(jobs)s) as i;
select setval('graphile_worker.jobs_id_seq1', %(finished)s + %(jobs)s);
"""

CASES: list[tuple[str, dict[str, Any]]] = [
    ("no filter", {}),
    ("state waiting", {"states": ["waiting"]}),
    ("state scheduled", {"states": ["scheduled"]}),
    ("state retrying", {"states": ["retrying"]}),
    ("state failed", {"states": ["failed"]}),
    ("state running", {"states": ["running"]}),
    ("state completed", {"states": ["completed"]}),
    ("state cancelled", {"states": ["cancelled"]}),
    ("task send_email", {"task_identifiers": ["send_email"]}),
    ("task rare (100 jobs)", {"task_identifiers": ["rare"]}),
    ("task unknown", {"task_identifiers": ["nope"]}),
    ("queue q1", {"queue_names": ["q1"]}),
    ("queue q2 (no job)", {"queue_names": ["q2"]}),
    ("key", {"job_key": "k500000"}),
    ("id range (1000 ids)", {"min_id": 1_500_000, "max_id": 1_501_000}),
    ("failed + task rare (no match)", {"states": ["failed"], "task_identifiers": ["rare"]}),
    ("running + queue q1", {"states": ["running"], "queue_names": ["q1"]}),
]


def _timed(conn: psycopg.Connection[Any], sql: str, params: dict[str, Any], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        conn.execute(sql, params).fetchall()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dsn", default="")
    ap.add_argument("--jobs", type=int, default=1_000_000)
    ap.add_argument("--finished", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--keep", metavar="DSN", help="fill this empty database and keep it, or "
                    "time again in one filled earlier (for EXPLAIN)")
    args = ap.parse_args()
    if args.keep:
        with psycopg.connect(args.keep, autocommit=True) as conn:
            _run(conn, args)
        return
    with scratch_database(args.dsn, "gw_bench_ops") as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        _run(conn, args)


def _run(conn: psycopg.Connection[Any], args: argparse.Namespace) -> None:
    if conn.execute("select 1 from pg_extension where extname = 'graphile_worker'").fetchone() is None:
        conn.execute("create extension graphile_worker")
        t0 = time.perf_counter()
        for statement in FILL_SQL.split(";\n"):
            if statement.strip():
                conn.execute(statement, {"jobs": args.jobs, "finished": args.finished})
        conn.execute("vacuum analyze graphile_worker._private_jobs")
        conn.execute("vacuum analyze graphile_worker._private_finished_jobs")
        print(f"filled {args.jobs} jobs and {args.finished} finished rows in "
              f"{time.perf_counter() - t0:.0f} s")
    mid = args.finished + args.jobs // 2
    print(f"{'case':32} {'page 1 ms':>10} {'mid page ms':>12} {'count ms':>10} {'count':>9}")
    for name, filt in CASES:
        names = ", ".join(f"{k} => %({k})s" for k in filt)
        sep = ", " if names else ""
        page = f"select * from graphile_worker.list_jobs({names}{sep}max_rows => 50)"
        deep = (f"select * from graphile_worker.list_jobs({names}{sep}before_id => {mid}, "
                "max_rows => 50)")
        count = f"select graphile_worker.count_jobs({names})"
        p1 = _timed(conn, page, filt, args.rounds)
        p2 = _timed(conn, deep, filt, args.rounds)
        c = _timed(conn, count, filt, max(1, args.rounds // 2))
        n = conn.execute(count, filt).fetchone()
        print(f"{name:32} {p1:10.1f} {p2:12.1f} {c:10.1f} {n[0] if n else 0:9d}")


if __name__ == "__main__":
    main()
