"""return_jobs: give back claimed jobs that never started (upstream's returnJobs)."""

from __future__ import annotations

import psycopg
from helpers import add_job, call_scalar, get_jobs, job, job_queues, jobs


def test_return_jobs_refunds_attempt_and_unlocks_job_and_queue(db: psycopg.Connection) -> None:
    a = add_job(db, "job1", queue_name="q")
    b = add_job(db, "job1")
    assert a is not None and b is not None
    claimed = get_jobs(db, "w1", ["job1"], batch_size=5)
    assert len(claimed) == 2
    assert call_scalar(db, "return_jobs", "w1", [a["id"], b["id"]]) == 2
    for row in jobs(db):
        assert row["attempts"] == 0
        assert row["locked_at"] is None and row["locked_by"] is None
    [queue] = job_queues(db)
    assert queue["locked_at"] is None and queue["locked_by"] is None
    assert len(get_jobs(db, "w2", ["job1"], batch_size=5)) == 2


def test_return_jobs_keeps_earlier_attempts(db: psycopg.Connection) -> None:
    row = add_job(db, "job1")
    assert row is not None
    db.execute("update graphile_worker._private_jobs set attempts = 3 where id = %s", [row["id"]])
    get_jobs(db, "w1", ["job1"])
    assert job(db, row["id"])["attempts"] == 4
    call_scalar(db, "return_jobs", "w1", [row["id"]])
    assert job(db, row["id"])["attempts"] == 3


def test_return_jobs_only_touches_jobs_locked_by_that_worker(db: psycopg.Connection) -> None:
    theirs = add_job(db, "job1", queue_name="q")
    unlocked = add_job(db, "other")
    assert theirs is not None and unlocked is not None
    get_jobs(db, "w2", ["job1"])
    before = jobs(db)
    queues_before = job_queues(db)
    assert call_scalar(db, "return_jobs", "w1", [theirs["id"], unlocked["id"], 99999]) == 0
    assert jobs(db) == before
    assert job_queues(db) == queues_before
    assert call_scalar(db, "return_jobs", "w1", []) == 0


def test_return_unheld_jobs_gives_back_all_but_the_held_ones(db: psycopg.Connection) -> None:
    """A runner that lost a claim's result gives back what it does not hold: attempts refunded,
    jobs and queues unlocked; held jobs and other workers' jobs stay as they are."""
    held = add_job(db, "job1", queue_name="q_held")
    lost_q = add_job(db, "job1", queue_name="q_lost")
    lost = add_job(db, "job1")
    theirs = add_job(db, "job2", queue_name="q_theirs")
    assert held and lost_q and lost and theirs
    assert len(get_jobs(db, "w1", ["job1"], batch_size=5)) == 3
    assert len(get_jobs(db, "w2", ["job2"])) == 1
    assert call_scalar(db, "return_unheld_jobs", "w1", [held["id"]]) == 2
    rows = {r["id"]: r for r in jobs(db)}
    for job_id in (lost_q["id"], lost["id"]):
        assert (rows[job_id]["attempts"], rows[job_id]["locked_by"]) == (0, None)
    assert (rows[held["id"]]["attempts"], rows[held["id"]]["locked_by"]) == (1, "w1")
    assert (rows[theirs["id"]]["attempts"], rows[theirs["id"]]["locked_by"]) == (1, "w2")
    queues = {q["queue_name"]: q["locked_by"] for q in job_queues(db)}
    assert queues == {"q_held": "w1", "q_lost": None, "q_theirs": "w2"}
    # nothing else to give back; an empty list gives back everything
    assert call_scalar(db, "return_unheld_jobs", "w1", [held["id"]]) == 0
    assert call_scalar(db, "return_unheld_jobs", "w1", []) == 1
    assert {q["queue_name"]: q["locked_by"] for q in job_queues(db)}["q_held"] is None
