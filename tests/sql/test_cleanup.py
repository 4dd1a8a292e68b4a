"""Cleanup functions (workerUtils.cleanup: DELETE_PERMAFAILED_JOBS, GC_JOB_QUEUES,
GC_TASK_IDENTIFIERS). Their interplay with open enqueuing transactions is in
tests/concurrency/test_gc_concurrency.py."""

from __future__ import annotations

import psycopg
from helpers import add_job, call, call_scalar, get_jobs, jobs, make_selection_of_jobs, rows


def test_delete_permanently_failed_jobs_removes_only_those(db: psycopg.Connection) -> None:
    sel = make_selection_of_jobs(db)
    # A job on its last attempt that is running is not deleted.
    running_last = add_job(db, "job3", max_attempts=1)
    assert running_last is not None
    get_jobs(db, "w", ["job3"], batch_size=1, now=running_last["run_at"])
    assert call_scalar(db, "delete_permanently_failed_jobs") == 1
    remaining = {j["id"] for j in jobs(db)}
    assert sel["failed"]["id"] not in remaining
    assert remaining == {
        sel[n]["id"] for n in ("locked", "regular1", "regular2", "untouched")
    } | {running_last["id"]}


def test_delete_permanently_failed_jobs_filters_by_task(db: psycopg.Connection) -> None:
    a = add_job(db, "a")
    b = add_job(db, "b")
    assert a is not None and b is not None
    call(db, "permanently_fail_jobs", [a["id"], b["id"]])
    assert call_scalar(db, "delete_permanently_failed_jobs", ["b", "unknown"]) == 1
    assert [j["task_identifier"] for j in jobs(db)] == ["a"]
    assert call_scalar(db, "delete_permanently_failed_jobs", []) == 0
    assert call_scalar(db, "delete_permanently_failed_jobs", None) == 1
    assert jobs(db) == []


def test_gc_job_queues_keeps_locked_queues_and_queues_with_jobs(db: psycopg.Connection) -> None:
    ids = {}
    for i, queue in enumerate(["test", "test2", "test3"], start=1):
        row = add_job(db, "job3", queue_name=queue)
        assert row is not None
        [claimed] = get_jobs(db, f"pool-{i}", ["job3"])
        ids[queue] = claimed["id"]
    add_job(db, "job3", queue_name="empty")
    call(db, "complete_jobs", [j["id"] for j in jobs(db) if j["queue_name"] == "empty"])
    call(db, "force_unlock_workers", ["pool-3"])
    call(db, "complete_jobs", [ids["test3"]])
    # test: locked with a job; test2: locked with a job; test3 and empty: unused and unlocked.
    # A locked queue without jobs (its job was deleted by hand) is kept too.
    add_job(db, "job3", queue_name="locked-empty")
    [held] = get_jobs(db, "pool-9", ["job3"])
    db.execute("delete from graphile_worker._private_jobs where id = %s", [held["id"]])

    assert call_scalar(db, "gc_job_queues") == 2
    names = [r["queue_name"] for r in rows(
        db, "select queue_name from graphile_worker._private_job_queues order by 1")]
    assert names == ["locked-empty", "test", "test2"]


def test_gc_task_identifiers_deletes_unused_except_kept(db: psycopg.Connection) -> None:
    for i in range(1, 6):
        add_job(db, f"test_job{i}")
    done = [j["id"] for j in jobs(db) if j["task_identifier"] in ("test_job2", "test_job4")]
    call(db, "complete_jobs", done)
    assert call_scalar(db, "gc_task_identifiers", ["test_job4"]) == 1
    names = [r["identifier"] for r in rows(
        db, "select identifier from graphile_worker._private_tasks order by 1")]
    assert names == ["test_job1", "test_job3", "test_job4", "test_job5"]
    assert call_scalar(db, "gc_task_identifiers") == 1
    assert call_scalar(db, "gc_task_identifiers") == 0
