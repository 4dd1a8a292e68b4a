"""add_jobs: the same key cases through the batch function (upstream's workerUtils.addJobs)."""

from __future__ import annotations

from datetime import timedelta

import psycopg
from helpers import scalar
from jobs_helpers import add_jobs, get_jobs, job, jobs, seq_last_values


def test_add_jobs_inserts_one_row_per_spec(db: psycopg.Connection) -> None:
    specs = [
        {"identifier": "job3", "payload": {"a": 1}},
        {"identifier": "job3", "payload": {"a": 2}, "queue_name": "q"},
        {"identifier": "job4", "payload": {"a": 3}, "priority": 3},
        {"identifier": "job4", "payload": {"a": 4}, "max_attempts": 2},
        {"identifier": "job5", "payload": {"a": 5}, "flags": ["x", "y"]},
        {"identifier": "job5", "payload": {"a": 6}, "job_key": "k6"},
    ]
    returned = add_jobs(db, specs)
    assert len(returned) == 6
    stored = jobs(db)
    assert sorted(r["id"] for r in returned) == [s["id"] for s in stored]
    by_a = {s["payload"]["a"]: s for s in stored}
    assert by_a[1]["task_identifier"] == "job3" and by_a[1]["queue_name"] is None
    assert by_a[2]["queue_name"] == "q"
    assert by_a[3]["priority"] == 3
    assert by_a[4]["max_attempts"] == 2
    assert by_a[5]["flags"] == {"x": True, "y": True}
    assert by_a[6]["key"] == "k6"
    for s in stored:
        assert s["attempts"] == 0 and s["revision"] == 0


def test_add_jobs_same_key_four_times_leaves_one_job_revision_3(db: psycopg.Connection) -> None:
    for i in range(1, 5):
        add_jobs(db, [{"identifier": "job3", "payload": {"a": i}, "job_key": "UNIQUE"}])
    [stored] = jobs(db)
    assert stored["payload"] == {"a": 4}
    assert stored["revision"] == 3


def test_add_jobs_preserve_run_at_comes_from_second_argument(db: psycopg.Connection) -> None:
    base = scalar(db, "select date_trunc('second', now()) + interval '1 day'")
    run_at = [base + timedelta(minutes=i) for i in range(4)]
    spec = {"identifier": "job3", "job_key": "UNIQUE"}

    [first] = add_jobs(db, [{**spec, "payload": {"a": 1}, "run_at": run_at[1]}])
    assert (first["revision"], first["run_at"]) == (0, run_at[1])

    [second] = add_jobs(db, [{**spec, "payload": {"a": 2}, "run_at": run_at[2]}], True)
    assert second["id"] == first["id"]
    assert (second["revision"], second["run_at"], second["payload"]) == (1, run_at[1], {"a": 2})

    [third] = add_jobs(db, [{**spec, "payload": {"a": 3}, "run_at": run_at[3]}], False)
    assert third["id"] == first["id"]
    assert (third["revision"], third["run_at"], third["payload"]) == (2, run_at[3], {"a": 3})


def test_add_jobs_keyed_job_while_running_creates_new_job(db: psycopg.Connection) -> None:
    [first] = add_jobs(db, [{"identifier": "job3", "job_key": "k", "payload": {"n": 1}}])
    get_jobs(db, "w1", ["job3"])
    [second] = add_jobs(db, [{"identifier": "job3", "job_key": "k", "payload": {"n": 2}}])
    assert second["id"] != first["id"]
    running = job(db, first["id"])
    assert running["key"] is None and running["attempts"] == running["max_attempts"]
    assert second["key"] == "k"


def test_add_jobs_mixes_keyed_and_unkeyed_specs(db: psycopg.Connection) -> None:
    add_jobs(db, [{"identifier": "job3", "job_key": "k", "payload": [1]}])
    returned = add_jobs(
        db,
        [
            {"identifier": "job3", "payload": {"plain": 1}},
            {"identifier": "job3", "job_key": "k", "payload": [2]},
            {"identifier": "job3", "payload": {"plain": 2}},
        ],
    )
    assert len(returned) == 3
    stored = jobs(db)
    assert len(stored) == 3
    keyed = [s for s in stored if s["key"] == "k"]
    assert [k["payload"] for k in keyed] == [[1, 2]]
    assert keyed[0]["revision"] == 1


def test_add_jobs_array_payloads_with_same_key_are_concatenated(db: psycopg.Connection) -> None:
    for i in (1, 2, 3):
        add_jobs(db, [{"identifier": "job3", "payload": [{"a": i}], "job_key": "mykey"}])
    [stored] = jobs(db)
    assert stored["payload"] == [{"a": 1}, {"a": 2}, {"a": 3}]


def test_add_jobs_empty_or_null_array_returns_nothing(db: psycopg.Connection) -> None:
    assert add_jobs(db, []) == []
    empty = db.execute(
        "select count(*) from graphile_worker.add_jobs('{}'::graphile_worker.job_spec[])"
    ).fetchone()
    null = db.execute("select count(*) from graphile_worker.add_jobs(null)").fetchone()
    assert empty == (0,) and null == (0,)
    assert jobs(db) == []


def test_add_jobs_existing_tasks_and_queues_burn_no_identity_value(
    db: psycopg.Connection,
) -> None:
    specs = [
        {"identifier": "a", "queue_name": "q1"},
        {"identifier": "b", "queue_name": "q2", "job_key": "k"},
        {"identifier": "a"},
    ]
    add_jobs(db, specs)
    before = seq_last_values(db)
    add_jobs(db, specs)
    add_jobs(db, specs, True)
    after = seq_last_values(db)
    assert after["tasks_id_seq"] == before["tasks_id_seq"]
    assert after["job_queues_id_seq"] == before["job_queues_id_seq"]
