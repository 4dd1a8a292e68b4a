"""The hops of one job's latency (`make bench BENCH_ARGS="--workloads hops"`): from a producer's
`add_job` to the start of the handler on an idle runner, taken apart on an idle database.

Each sample, 20 ms after the last (as the latency workload paces its enqueues):
  enqueue   `add_job` in autocommit, its commit (WAL flush) included, as the producer sees it;
  notified  from the start of that call to the `jobs:insert` notification reaching a
            listening connection (a thread blocked on it, as the runner's LISTEN connection
            is): the runner hears of the job at about the time the producer's call returns;
  claim     `get_jobs` of that one job on a third connection, idle since the last sample;
  report    `report_jobs` completing it;
  gw claim  the claim statement graphile-worker 0.18's worker sends (batch form, local queue of
            500; our tables are its tables), for the same kind of job, then its completion;
  select 1  a bare round trip on a connection idle for 20 ms: the floor of any hop here.
The end-to-end latency of the real runner comes from the `latency` workload. Nothing here
asserts a speed.
"""

from __future__ import annotations

import statistics
import threading
import time

import psycopg

GET_JOBS = "select id from graphile_worker.get_jobs(%s, %s::text[], %s)"
REPORT = "select count(*) from graphile_worker.report_jobs(%s, %s::bigint[], %s::json)"
# graphile-worker 0.18's claim (dist/sql/getJobs.js, batch of 500, named-queue strategy 2).
NODE_CLAIM = """
with j_raw as (
  select jobs.job_queue_id, jobs.priority, jobs.run_at, jobs.id
    from graphile_worker._private_jobs as jobs
    where jobs.is_available = true
    and run_at <= now()
    and task_id = any(%(tasks)s::int[])
    and (jobs.job_queue_id is null
      or jobs.job_queue_id in (
        select id from graphile_worker._private_job_queues as job_queues
        where job_queues.is_available = true
        for update skip locked))
    order by priority asc, run_at asc
    limit 500
    for update skip locked
), j as (
  select distinct on (job_queue_id, case when job_queue_id is null then id end)
      job_queue_id, priority, run_at, id
    from j_raw
    order by job_queue_id, case when job_queue_id is null then id end, priority asc, run_at asc
), q as (
  update graphile_worker._private_job_queues as job_queues
    set locked_by = %(pool)s::text, locked_at = now()
    from j where job_queues.id = j.job_queue_id
)
update graphile_worker._private_jobs as jobs
  set attempts = jobs.attempts + 1, locked_by = %(pool)s::text, locked_at = now()
  from j where jobs.id = j.id
  returning *
"""
NODE_COMPLETE = "delete from graphile_worker._private_jobs where id = any(%s::bigint[])"


def hops(dsn: str, n: int = 300, gap_ms: float = 20) -> dict[str, float]:
    heard: list[float] = []
    ready = threading.Event()
    stop = threading.Event()

    def listen() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute('listen "jobs:insert"')
            ready.set()
            while not stop.is_set():
                for _ in conn.notifies(timeout=0.5):
                    heard.append(time.perf_counter())

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    ready.wait(10)
    samples: dict[str, list[float]] = {
        k: [] for k in ("enqueue", "notified", "claim", "report", "select 1", "gw claim")
    }
    with (
        psycopg.connect(dsn, autocommit=True) as producer,
        psycopg.connect(dsn, autocommit=True) as runner,
        psycopg.connect(dsn, autocommit=True) as idle,
    ):
        runner.execute("select graphile_worker.register_worker('hops', '1 minute', '{}')")
        producer.execute("select graphile_worker.add_job('noop', '{}')")
        runner.execute("select graphile_worker.get_jobs('hops', array['noop'], 10)")
        runner.execute("delete from graphile_worker._private_jobs")  # the task exists now
        task_ids = [r[0] for r in runner.execute(
            "select id from graphile_worker._private_tasks where identifier = 'noop'")]
        for i in range(n + 20):
            time.sleep(gap_ms / 1000)
            t0 = time.perf_counter()
            idle.execute("select 1")
            t1 = time.perf_counter()
            time.sleep(gap_ms / 1000)
            before = len(heard)
            t2 = time.perf_counter()
            producer.execute("select (graphile_worker.add_job('noop', '{}')).id", prepare=True)
            t3 = time.perf_counter()
            deadline = t3 + 5
            while len(heard) == before and time.perf_counter() < deadline:
                time.sleep(0)
            t4 = heard[before] if len(heard) > before else float("nan")
            t5 = time.perf_counter()
            (job_id,) = runner.execute(GET_JOBS, ("hops", ["noop"], 1), prepare=True).fetchone()  # type: ignore[misc]
            t6 = time.perf_counter()
            runner.execute(REPORT, ("hops", [job_id], "[]"), prepare=True)
            t7 = time.perf_counter()
            time.sleep(gap_ms / 1000)
            (node_job,) = producer.execute(  # type: ignore[misc]
                "select (graphile_worker.add_job('noop', '{}')).id", prepare=True
            ).fetchone()
            time.sleep(gap_ms / 1000)
            t8 = time.perf_counter()
            claimed = runner.execute(
                NODE_CLAIM, {"tasks": task_ids, "pool": "hops-node"}, prepare=True
            ).fetchall()
            t9 = time.perf_counter()
            runner.execute(NODE_COMPLETE, ([node_job],), prepare=True)
            if len(claimed) != 1:
                raise RuntimeError(f"graphile-worker's claim took {len(claimed)} jobs, not 1")
            if i >= 20:  # warm-up: plans cached, connections busy once
                samples["select 1"].append(t1 - t0)
                samples["enqueue"].append(t3 - t2)
                samples["notified"].append(t4 - t2)
                samples["claim"].append(t6 - t5)
                samples["report"].append(t7 - t6)
                samples["gw claim"].append(t9 - t8)
        runner.execute("select graphile_worker.deregister_worker('hops')")
    stop.set()
    thread.join(5)
    return {f"{k} p50 ms": statistics.median(v) * 1000 for k, v in samples.items()}
