"""Keyed enqueues from many real connections: never a null row, exactly one job per key, and
the #580 race (a keyed add_job while a worker claims that job) always returns a row."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psycopg
from helpers import (
    add_job,
    add_jobs,
    backend_pid,
    get_jobs,
    job,
    jobs,
    report_jobs,
    rows,
    scalar,
    seq_last_values,
    wait_until_waiting,
)


def test_add_job_20_connections_same_key_one_job_no_null_row(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    conns = [connect() for _ in range(20)]
    rounds = 5
    start = threading.Barrier(20)
    results: list[dict | None] = []
    lock = threading.Lock()

    def enqueue(n: int) -> None:
        start.wait(timeout=10)
        for r in range(rounds):
            row = add_job(conns[n], "job1", payload={"n": n, "r": r}, queue_name="q",
                          job_key="same")
            with lock:
                results.append(row)

    with ThreadPoolExecutor(max_workers=20) as pool:
        for f in [pool.submit(enqueue, n) for n in range(20)]:
            f.result(timeout=60)
    assert len(results) == 20 * rounds
    assert all(r is not None and r["key"] == "same" for r in results)
    [only] = jobs(db)
    assert only["key"] == "same"
    assert only["revision"] == 20 * rounds - 1
    assert {r["id"] for r in results if r is not None} == {only["id"]}


def test_add_job_racing_a_claimer_step_by_step_returns_a_row(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    # Upstream #580: the claimer locks the keyed job after the enqueuer's detach step; the
    # enqueuer's upsert then waits for it and, once it commits, skips the now-locked row.
    first = add_job(db, "job1", payload={"v": 1}, job_key="k")
    assert first is not None
    claimer, enqueuer = connect(), connect()
    enqueuer_pid = backend_pid(enqueuer)
    claimer.execute("begin")
    [claimed] = get_jobs(claimer, "w1", ["job1"])
    assert claimed["id"] == first["id"]
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(add_job, enqueuer, "job1", payload={"v": 2}, job_key="k")
        wait_until_waiting(db, enqueuer_pid, "Lock")
        assert not pending.done()
        claimer.execute("commit")
        row = pending.result(timeout=10)
    assert row is not None, "keyed add_job returned no row (#580)"
    assert row["id"] != first["id"]
    assert (row["key"], row["payload"], row["attempts"]) == ("k", {"v": 2}, 0)
    running = job(db, first["id"])
    assert running["key"] is None
    assert running["locked_by"] == "w1"
    assert running["attempts"] == running["max_attempts"]


def test_add_job_racing_claimers_under_load_always_returns_a_row(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    stop = threading.Event()
    nulls: list[int] = []
    enqueued: list[int] = []
    lock = threading.Lock()

    def enqueuer(n: int) -> None:
        conn = connect()
        for i in range(60):
            row = add_job(conn, "job1", payload={"n": n, "i": i}, job_key=f"k{i % 3}")
            with lock:
                (enqueued if row is not None else nulls).append(i)

    def claimer(n: int) -> None:
        conn = connect()
        while not stop.is_set():
            batch = get_jobs(conn, f"w{n}", ["job1"], batch_size=3)
            if batch:
                report_jobs(conn, f"w{n}", completed_job_ids=[j["id"] for j in batch])

    with ThreadPoolExecutor(max_workers=6) as pool:
        claimers = [pool.submit(claimer, n) for n in range(2)]
        enqueuers = [pool.submit(enqueuer, n) for n in range(4)]
        try:
            for f in enqueuers:
                f.result(timeout=60)
        finally:
            stop.set()
        for f in claimers:
            f.result(timeout=10)
    assert nulls == []
    assert len(enqueued) == 240
    # Each key is held by at most one job.
    keys = rows(db, "select key, count(*) as n from graphile_worker._private_jobs "
                    "where key is not null group by key")
    assert all(k["n"] == 1 for k in keys)


def test_add_job_concurrent_enqueues_of_existing_task_and_queue_burn_no_identity(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    add_job(db, "job1", queue_name="q")
    add_jobs(db, [{"identifier": "job2", "queue_name": "q2"}])
    before = seq_last_values(db)
    conns = [connect() for _ in range(8)]
    start = threading.Barrier(8)

    def enqueue(n: int) -> None:
        start.wait(timeout=10)
        for i in range(10):
            if n % 2:
                add_job(conns[n], "job1", queue_name="q",
                        job_key=f"k{i}" if i % 2 else None)
            else:
                add_jobs(conns[n], [{"identifier": "job2", "queue_name": "q2"},
                                    {"identifier": "job1", "queue_name": "q", "job_key": f"j{i}"}])

    with ThreadPoolExecutor(max_workers=8) as pool:
        for f in [pool.submit(enqueue, n) for n in range(8)]:
            f.result(timeout=60)
    after = seq_last_values(db)
    assert after["tasks_id_seq"] == before["tasks_id_seq"]
    assert after["job_queues_id_seq"] == before["job_queues_id_seq"]
    assert scalar(db, "select count(*) from graphile_worker._private_tasks") == 2
