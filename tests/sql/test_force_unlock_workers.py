"""force_unlock_workers (workerUtils.forceUnlockWorkers)."""

from __future__ import annotations

import psycopg
from helpers import add_job, call, job_queues, jobs

QUEUES = [None, "test", "test2", "test3"]
LOCKERS = {None: None, "test": "pool-1", "test2": "pool-2", "test3": "pool-3"}


def test_force_unlock_workers_unlocks_exactly_their_jobs_and_queues(
    db: psycopg.Connection,
) -> None:
    for i in range(10):
        queue = QUEUES[i % 4]
        row = add_job(db, "job1", payload={"i": i}, queue_name=queue)
        assert row is not None
        # Every third unqueued job is locked by pool-2 as well; queued jobs by their queue's pool.
        locker = LOCKERS[queue] if queue else ("pool-2" if i % 3 == 0 else None)
        if locker:
            db.execute(
                "update graphile_worker._private_jobs "
                "set locked_by = %s, locked_at = now(), attempts = 1 where id = %s",
                [locker, row["id"]],
            )
    db.execute(
        "update graphile_worker._private_job_queues q set locked_by = j.locked_by, "
        "locked_at = j.locked_at from graphile_worker._private_jobs j "
        "where j.job_queue_id = q.id and j.locked_by is not null"
    )
    before = {j["id"]: j for j in jobs(db)}
    assert {j["locked_by"] for j in before.values()} == {None, "pool-1", "pool-2", "pool-3"}

    assert call(db, "force_unlock_workers", ["pool-2", "pool-3"]) == [
        {"force_unlock_workers": None}
    ]

    for after in jobs(db):
        prev = before[after["id"]]
        if prev["locked_by"] in ("pool-2", "pool-3"):
            assert after["locked_by"] is None and after["locked_at"] is None
            assert after["attempts"] == prev["attempts"] == 1
        else:
            assert after == prev
    locked = [(q["queue_name"], q["locked_by"]) for q in job_queues(db) if q["locked_at"]]
    assert locked == [("test", "pool-1")]
