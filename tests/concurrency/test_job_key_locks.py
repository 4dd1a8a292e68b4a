"""Job keys are serialised per key, and only per key (issue 19, finding 1).

Up to 0.1.2 keys hashed into 1,024 advisory-lock buckets: a producer that kept its transaction
open after a keyed add_job blocked every other key of its bucket (an unrelated tenant's) for as
long as it liked. Now each key is locked through its own row: callers of other keys never
wait, callers of the same key still do (the guarantee of upstream #580).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from helpers import (
    add_job,
    add_jobs,
    backend_pid,
    call,
    get_jobs,
    job,
    jobs,
    scalar,
    wait_until_waiting,
)

# hashtext(key) & 1023 was the bucket of a key up to 0.1.2.
SAME_OLD_BUCKET = """
    select k from (
      select 'tenantB:order-' || g as k from generate_series(1, 200000) as g
    ) as c
    where hashtext(c.k) & 1023 = hashtext(%s) & 1023
    limit %s
"""


def _colliding_keys(db: psycopg.Connection, key: str, n: int) -> list[str]:
    found = [r[0] for r in db.execute(SAME_OLD_BUCKET, (key, n)).fetchall()]
    assert len(found) == n and key not in found
    buckets = {scalar(db, "select hashtext(%s) & 1023", (k,)) for k in [key, *found]}
    assert len(buckets) == 1  # the keys really shared a bucket
    return found


def _timed_connection(connect: Callable[..., psycopg.Connection]) -> psycopg.Connection:
    conn = connect()
    conn.execute("set statement_timeout = '10s'")  # a regression fails instead of hanging
    return conn


def test_open_keyed_enqueue_does_not_block_other_keys_of_its_old_bucket(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    other, batch_key, removable = _colliding_keys(db, "tenantA:order-1", 3)
    add_job(db, "job1", job_key=removable)
    first = connect()
    first.execute("begin")
    assert add_job(first, "job1", payload={"v": 1}, job_key="tenantA:order-1") is not None

    second = _timed_connection(connect)
    started = time.monotonic()
    row = add_job(second, "job1", payload={"v": 2}, job_key=other)
    [batch_row] = add_jobs(second, [{"identifier": "job1", "job_key": batch_key}])
    removed = call(second, "remove_job", removable)
    unkeyed = add_job(second, "job2", queue_name="new_queue")  # new task and queue: the guard
    elapsed = time.monotonic() - started

    assert row is not None and row["key"] == other
    assert batch_row["key"] == batch_key
    assert removed[0]["key"] == removable
    assert unkeyed is not None
    assert elapsed < 5, f"calls on other keys waited {elapsed:.1f}s for an open transaction"
    first.execute("commit")
    assert sorted(j["key"] or "" for j in jobs(db)) == sorted(
        ["", "tenantA:order-1", other, batch_key])


@pytest.mark.parametrize("mode", ["replace", "preserve_run_at", "unsafe_dedupe"])
def test_open_keyed_enqueue_still_blocks_the_same_key_until_commit(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection], mode: str
) -> None:
    first = connect()
    first.execute("begin")
    created = add_job(first, "job1", payload=[1], job_key="k")
    assert created is not None

    second = _timed_connection(connect)
    second_pid = backend_pid(second)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(add_job, second, "job1", payload=[2], job_key="k", job_key_mode=mode)
        wait_until_waiting(db, second_pid, "Lock")
        time.sleep(0.2)
        assert not pending.done()
        first.execute("commit")
        row = pending.result(timeout=10)
    assert row is not None and row["id"] == created["id"]
    [stored] = jobs(db)
    assert stored["revision"] == 1  # the second call saw the first one's job: nothing lost
    assert stored["payload"] == ([1] if mode == "unsafe_dedupe" else [1, 2])


def test_remove_job_waits_for_open_enqueue_of_its_key_then_removes_the_new_job(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    # The key's job is running; an open add_job moves the key to a new job. remove_job waits
    # for it, finds the old row without the key, looks again and removes the new job.
    old = add_job(db, "job1", job_key="k")
    assert old is not None
    [claimed] = get_jobs(db, "w1", ["job1"])
    assert claimed["id"] == old["id"]
    enqueuer = connect()
    enqueuer.execute("begin")
    new = add_job(enqueuer, "job1", payload={"v": 2}, job_key="k")
    assert new is not None and new["id"] != old["id"]

    remover = _timed_connection(connect)
    remover_pid = backend_pid(remover)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(call, remover, "remove_job", "k")
        wait_until_waiting(db, remover_pid, "Lock")
        enqueuer.execute("commit")
        [removed] = pending.result(timeout=10)
    assert removed["id"] == new["id"]
    assert [j["id"] for j in jobs(db)] == [old["id"]]
    assert job(db, old["id"])["key"] is None


def test_add_jobs_with_shared_keys_in_any_order_never_deadlock(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    keys = [f"k{i}" for i in range(6)]
    conns = [_timed_connection(connect) for _ in range(6)]
    start = threading.Barrier(len(conns))
    errors: list[BaseException] = []

    def enqueue(n: int) -> None:
        rng = random.Random(n)
        start.wait(timeout=10)
        for _ in range(40):
            chosen = rng.sample(keys, 4)
            try:
                with conns[n].transaction():
                    rows = add_jobs(conns[n], [{"identifier": "job1", "job_key": k, "payload": [n]}
                                               for k in chosen])
                    assert [r["key"] for r in rows] == chosen  # one row per spec, in spec order
            except Exception as e:  # collected and asserted below
                errors.append(e)
                return

    with ThreadPoolExecutor(max_workers=len(conns)) as pool:
        for f in [pool.submit(enqueue, n) for n in range(len(conns))]:
            f.result(timeout=120)
    assert errors == []
    assert sorted(j["key"] for j in jobs(db)) == keys
