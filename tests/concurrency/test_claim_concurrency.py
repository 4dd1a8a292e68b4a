"""Claims from several real connections: no job is claimed twice, and a named queue never
runs two jobs at once, even with batch claims (upstream #621)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psycopg
from helpers import add_jobs, get_jobs, report_jobs, scalar


def test_claim_two_open_transactions_never_get_the_same_job(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    add_jobs(db, [{"identifier": "job1", "payload": {"i": i}} for i in range(6)])
    a, b = connect(), connect()
    with a.transaction():
        first = get_jobs(a, "wa", ["job1"], batch_size=2)
        # b runs while a's claim is uncommitted: SKIP LOCKED hands it other jobs at once.
        second = get_jobs(b, "wb", ["job1"], batch_size=10)
        assert len(first) == 2 and len(second) == 4
        assert not {j["id"] for j in first} & {j["id"] for j in second}
    assert get_jobs(b, "wb", ["job1"], batch_size=10) == []
    assert scalar(db, "select count(distinct locked_by) from graphile_worker._private_jobs") == 2


def test_claim_batch_claimers_share_a_named_queue_serially(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    add_jobs(db, [{"identifier": "job1", "queue_name": "serial", "payload": {"i": i}}
                  for i in range(5)])
    claimers = [connect() for _ in range(3)]
    done = []
    for step in range(5):
        # All three claim inside open transactions, interleaved: one wins the queue row.
        for c in claimers:
            c.execute("begin")
        got = [get_jobs(c, f"w{n}", ["job1"], batch_size=5) for n, c in enumerate(claimers)]
        for c in claimers:
            c.execute("commit")
        winners = [(n, j) for n, g in enumerate(got) for j in g]
        assert len(winners) == 1, got
        n, j = winners[0]
        # Committed and still running: nobody else gets a job of the queue.
        assert all(get_jobs(c, "other", ["job1"], batch_size=5) == [] for c in claimers)
        report_jobs(claimers[n], f"w{n}", completed_job_ids=[j["id"]])
        done.append(j["payload"]["i"])
        assert len(done) == step + 1
        claimers = claimers[1:] + claimers[:1]
    # One add_jobs call gives the jobs one run_at: their order is not defined (no id tie-break).
    assert sorted(done) == [0, 1, 2, 3, 4]


def test_claim_many_claimers_claim_each_job_once_and_queues_serially(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    specs = [{"identifier": "job1", "queue_name": f"q{i % 4}", "payload": {"i": i}}
             for i in range(80)]
    specs += [{"identifier": "job1", "payload": {"i": 80 + i}} for i in range(80)]
    add_jobs(db, specs)
    claimed: list[int] = []
    running_queues: set[str] = set()
    violations: list[str] = []
    lock = threading.Lock()

    def claimer(n: int) -> None:
        conn = connect()
        idle = 0
        while idle < 3:
            batch = get_jobs(conn, f"w{n}", ["job1"], batch_size=7)
            if not batch:
                idle += 1
                continue
            idle = 0
            with lock:
                for j in batch:
                    claimed.append(j["id"])
                    if j["queue_name"] is not None:
                        if j["queue_name"] in running_queues:
                            violations.append(f"{j['queue_name']} ran twice at once")
                        running_queues.add(j["queue_name"])
                # Released before reporting: the queue row stays locked until then.
                for j in batch:
                    running_queues.discard(j["queue_name"])
            report_jobs(conn, f"w{n}", completed_job_ids=[j["id"] for j in batch])

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(claimer, n) for n in range(4)]
        for f in futures:
            f.result(timeout=60)
    assert violations == []
    assert len(claimed) == len(set(claimed)) == 160
    assert scalar(db, "select count(*) from graphile_worker._private_jobs") == 0
