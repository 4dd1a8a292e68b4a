"""Dashboard page times at scale (issue 18 target: every page under 200 ms of server time with
1,000,000 waiting jobs and 1,000,000 finished rows).

    python bench/dashboard.py --dsn "host=... dbname=postgres" [--waiting 1000000]
        [--finished 1000000] [--rounds 7] [--keep DBNAME]

Builds a scratch database: the finished-jobs store filled with `--finished` rows (ids below the
jobs', as history is older; finished over the last two days, 1 in 20 failed), then
`--waiting` jobs enqueued with add_jobs over 6 tasks and 5 named queues (half of them in no
queue), 2,000 of them failed for good and 1,000 retrying, VACUUM ANALYZE. Then it starts the
real server (`python -m gw_runner.dashboard`), times its very first request (the overview,
which must wait for the first queue_stats() read), then reads every page `--rounds` times after
one warm-up read, 1.1 s apart (5.1 s for the overview: the app reads queue_stats() again when
its result is older than 1 s and the chart's when older than 5 s, behind the page, which is
served with the result it has; every sample here starts such a read), recording the server
time of each (its Server-Timing header: from the request's arrival to the response's start,
the page rendered) and the client's wall time. Last, the time of queue_stats() itself, the read
behind the pages. Prints a table of medians and maxima. `--keep NAME` reuses (or leaves) a
database of that name. Nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

CACHE_GAP = 1.1
CHART_GAP = 5.1
TASKS = ("send_email", "resize_image", "sync_account", "charge_card", "notify", "report")
FINISHED_SQL = """
insert into graphile_worker._private_finished_jobs (id, task_identifier, queue_name, payload,
  priority, attempts, max_attempts, outcome, result, last_error, key, created_at,
  first_started_at, finished_at, worker_id, expires_at)
select i, (%(tasks)s::text[])[1 + i %% 6], case when i %% 2 = 0 then 'q' || (i %% 5) end,
  json_build_object('n', i, 'to', 'someone@example.com'), 0, 1, 25,
  case when i %% 20 = 0 then 'failed' else 'completed' end, '{"ok": true}',
  case when i %% 20 = 0 then 'boom' end, 'fk' || i,
  now() - interval '2 days' + i * (interval '2 days' / %(n)s),
  now() - interval '2 days' + i * (interval '2 days' / %(n)s),
  now() - interval '2 days' + i * (interval '2 days' / %(n)s), 'bench',
  now() + interval '30 days'
from generate_series(%(lo)s::bigint, %(hi)s::bigint) as i
"""
ENQUEUE_SQL = """
select count(*) from graphile_worker.add_jobs(array(
  select row((%(tasks)s::text[])[1 + i %% 6], json_build_object('n', i),
             case when i %% 2 = 0 then 'q' || (i %% 5) end, null, null, 'k' || i, null, null
  )::graphile_worker.job_spec
  from generate_series(%(lo)s::bigint, %(hi)s::bigint) as i))
"""


def build(dsn: str, waiting: int, finished: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create extension if not exists graphile_worker")
        if conn.execute("select count(*) from graphile_worker._private_jobs").fetchone() != (0,):
            print("database already filled: reusing it")
            return
        conn.execute("select graphile_worker.set_retention(null, '30 days')")
        t0 = time.monotonic()
        for lo in range(1, finished + 1, 100_000):
            conn.execute(FINISHED_SQL, {"tasks": list(TASKS), "n": finished, "lo": lo,
                                        "hi": min(finished, lo + 99_999)})
        seq = conn.execute("select pg_get_serial_sequence('graphile_worker._private_jobs',"
                           " 'id')").fetchone()
        assert seq is not None
        conn.execute("select setval(%s, %s)", (seq[0], finished + 1))
        print(f"finished store: {finished} rows in {time.monotonic() - t0:.0f} s", flush=True)
        t0 = time.monotonic()
        for lo in range(1, waiting + 1, 10_000):
            conn.execute(ENQUEUE_SQL, {"tasks": list(TASKS), "lo": lo,
                                       "hi": min(waiting, lo + 9_999)})
        print(f"jobs: {waiting} enqueued in {time.monotonic() - t0:.0f} s", flush=True)
        # some failed for good and some retrying (what runners would leave), among the oldest
        conn.execute("update graphile_worker._private_jobs set attempts = max_attempts,"
                     " last_error = 'boom' where id between %s and %s",
                     (finished + 2, finished + 2001))
        conn.execute("update graphile_worker._private_jobs set attempts = 1,"
                     " last_error = 'retry me' where id between %s and %s",
                     (finished + 2002, finished + 3001))
        conn.execute("vacuum analyze")


def pages(first_job: int, last_job: int) -> list[tuple[str, str]]:
    mid = (first_job + last_job) // 2
    return [
        ("overview", "/"),
        ("jobs, newest", "/jobs"),
        ("jobs, page 1000 deep (before=mid)", f"/jobs?before={mid}"),
        ("jobs, oldest finished (before=1000)", "/jobs?before=1000"),
        ("jobs, state=waiting", "/jobs?state=waiting"),
        ("jobs, state=failed", "/jobs?state=failed"),
        ("jobs, state=retrying", "/jobs?state=retrying"),
        ("jobs, state=completed", "/jobs?state=completed"),
        ("jobs, state=running (none)", "/jobs?state=running"),
        ("jobs, task=report", "/jobs?task=report"),
        ("jobs, queue=q2", "/jobs?queue=q2"),
        ("jobs, key (waiting job)", f"/jobs?key=k{last_job - first_job - 5}"),
        ("jobs, key (finished)", "/jobs?key=fk500000"),
        ("jobs, id range", f"/jobs?min_id={mid}&max_id={mid + 100}"),
        ("job, waiting", f"/jobs/{mid}"),
        ("job, finished", "/jobs/500000"),
        ("tasks & queues", "/tasks"),
        ("workers", "/workers"),
        ("cron", "/cron"),
        ("storage", "/storage"),
    ]


def measure(url: str) -> tuple[float, float]:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()
        timing = response.headers.get("server-timing", "")
    wall = (time.perf_counter() - t0) * 1000
    found = re.search(r"dur=([\d.]+)", timing)
    return (float(found.group(1)) if found else float("nan")), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", required=True, help="a database on the server (CREATE DATABASE)")
    parser.add_argument("--waiting", type=int, default=1_000_000)
    parser.add_argument("--finished", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--keep", metavar="DBNAME",
                        help="use (and keep) this database instead of a scratch one")
    args = parser.parse_args()
    params = conninfo_to_dict(args.dsn)
    name = args.keep or f"gw_bench_dashboard_{int(time.time())}"
    with psycopg.connect(args.dsn, autocommit=True) as admin:
        if not admin.execute("select 1 from pg_database where datname = %s",
                             (name,)).fetchone():
            admin.execute(f'create database "{name}"')
    dsn = make_conninfo(**{**params, "dbname": name})
    try:
        build(dsn, args.waiting, args.finished)
        with psycopg.connect(dsn) as conn:
            row = conn.execute("select min(id), max(id) from graphile_worker._private_jobs"
                               ).fetchone()
            assert row is not None
        server = subprocess.Popen(
            [sys.executable, "-m", "gw_runner.dashboard", "-c", dsn, "--port", "0",
             "--log-level", "warning"], stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            base = re.search(r"(http://\S+?)/ ", line)
            assert base, line
            print(f"\n{'page':<40} {'server median':>14} {'server max':>11} {'client median':>14}")
            first = measure(base.group(1) + "/")
            print(f"{'overview, first request after start':<40} {first[0]:>11.1f} ms "
                  f"{first[0]:>8.1f} ms {first[1]:>11.1f} ms", flush=True)
            for label, path in pages(row[0], row[1]):
                measure(base.group(1) + path)  # warm-up
                samples = []
                for _ in range(args.rounds):
                    # past the app's sharing of queue_stats() (1 s) and of the chart (5 s)
                    time.sleep(CHART_GAP if path == "/" else CACHE_GAP)
                    samples.append(measure(base.group(1) + path))
                server_ms = [s for s, _ in samples]
                wall_ms = [w for _, w in samples]
                print(f"{label:<40} {statistics.median(server_ms):>11.1f} ms "
                      f"{max(server_ms):>8.1f} ms {statistics.median(wall_ms):>11.1f} ms",
                      flush=True)
            with psycopg.connect(dsn) as conn:
                reads = []
                for _ in range(args.rounds):
                    t0 = time.perf_counter()
                    conn.execute("select * from graphile_worker.queue_stats()").fetchall()
                    reads.append((time.perf_counter() - t0) * 1000)
            print(f"{'queue_stats(), the read behind pages':<40} {statistics.median(reads):>11.1f} ms "
                  f"{max(reads):>8.1f} ms", flush=True)
        finally:
            server.terminate()
            server.wait(10)
    finally:
        if not args.keep:
            with psycopg.connect(args.dsn, autocommit=True) as admin:
                admin.execute(f'drop database if exists "{name}" with (force)')


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
