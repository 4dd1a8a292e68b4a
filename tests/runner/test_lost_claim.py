"""A claim whose result is lost with its connection (get_jobs committed, the rows never
arrived): the runner retries the claim on a new connection, then gives back every job locked
by its worker id that it does not hold (return_unheld_jobs), so those jobs run at once
instead of staying locked until reset_locked's 4-hour rule."""

from __future__ import annotations

import pytest
from helpers import scalar

pytestmark = pytest.mark.usefixtures("runs_table")


def test_jobs_of_a_lost_claim_result_are_given_back_and_run(db, start_runner, waiter):
    runner = start_runner("record.py", "--log-level", "debug", "--poll-interval", "60")
    waiter(lambda: "listening on jobs:insert" in runner.log
           and runner.log.rfind("idle:") > runner.log.find("listening"), 30,
           "the runner to be idle and listening")
    worker_id = scalar(db, "select worker_id from graphile_worker._private_workers")
    idle_lines = runner.log.count("idle:")

    # The lost claim: three jobs locked by the runner's worker id in the transaction that adds
    # them, so the runner, woken by their NOTIFY, finds nothing to claim.
    with db.transaction():
        lost = [r[0] for r in db.execute(
            "select id from graphile_worker.add_jobs(array(select row('rec_async', '{}'::json,"
            " null, null, null, null, null, null)::graphile_worker.job_spec"
            " from generate_series(1, 3)))").fetchall()]
        claimed = db.execute(
            "select id from graphile_worker.get_jobs(%s, array['rec_async'], 10)", (worker_id,)
        ).fetchall()
        assert sorted(r[0] for r in claimed) == sorted(lost)
    waiter(lambda: runner.log.count("idle:") > idle_lines, 30, "the runner to claim nothing")
    assert scalar(db, "select count(*) from runs") == 0

    # The connection drops: the next claim fails on it and is retried on a new one.
    assert scalar(
        db, "select count(pg_terminate_backend(pid)) from pg_stat_activity"
            " where datname = current_database() and application_name = 'gw_runner claim'"
    ) == 1
    fresh = scalar(db, "select id from graphile_worker.add_job('rec_async', '{}')")

    waiter(lambda: scalar(db, "select count(*) from runs") == 4, 30,
           "the new job and the three lost ones to run")
    assert sorted(r[0] for r in db.execute("select job_id from runs").fetchall()) == sorted(
        [*lost, fresh])
    assert "a claim's result was lost with its connection: returned the 3 job(s)" in runner.log
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 0
    assert runner.proc.poll() is None
