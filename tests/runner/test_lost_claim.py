"""A claim whose result is lost with its connection (get_jobs committed, the rows never
arrived): the runner retries the claim on a new connection, then gives back every job locked
by its worker id that it does not hold (return_unheld_jobs), so those jobs run at once
instead of staying locked until reset_locked's 4-hour rule."""

from __future__ import annotations

import uuid

import pytest
from helpers import scalar, wait_until

pytestmark = pytest.mark.usefixtures("runs_table")


def lose_a_claim(db, runner) -> tuple[list[int], int]:
    """Lock three jobs under the idle runner's worker id in the transaction that adds them (as
    a claim whose result never arrived), drop the runner's claim connection, then add a job:
    the claim for it fails on the dead connection and is retried on a new one. Returns the
    ids of the three jobs and of the new one."""
    wait_until(lambda: "listening on jobs:insert" in runner.log
               and runner.log.rfind("idle:") > runner.log.find("listening"), 30,
               "the runner to be idle and listening")
    worker_id = scalar(db, "select worker_id from graphile_worker._private_workers")
    idle_lines = runner.log.count("idle:")
    with db.transaction():
        lost = [r[0] for r in db.execute(
            "select id from graphile_worker.add_jobs(array(select row('rec_async', '{}'::json,"
            " null, null, null, null, null, null)::graphile_worker.job_spec"
            " from generate_series(1, 3)))").fetchall()]
        claimed = db.execute(
            "select id from graphile_worker.get_jobs(%s, array['rec_async'], 10)", (worker_id,)
        ).fetchall()
        assert sorted(r[0] for r in claimed) == sorted(lost)
    wait_until(lambda: runner.log.count("idle:") > idle_lines, 30, "the runner to claim nothing")
    assert scalar(db, "select count(*) from runs") == 0
    assert scalar(
        db, "select count(pg_terminate_backend(pid)) from pg_stat_activity"
            " where datname = current_database() and application_name = 'gw_runner claim'"
    ) == 1
    fresh = int(scalar(db, "select id from graphile_worker.add_job('rec_async', '{}')"))
    return lost, fresh


def test_jobs_of_a_lost_claim_result_are_given_back_and_run(db, start_runner):
    runner = start_runner("record.py", "--log-level", "debug", "--poll-interval", "60")
    lost, fresh = lose_a_claim(db, runner)
    wait_until(lambda: scalar(db, "select count(*) from runs") == 4, 30,
               "the new job and the three lost ones to run")
    assert sorted(r[0] for r in db.execute("select job_id from runs").fetchall()) == sorted(
        [*lost, fresh])
    assert "a claim's result was lost with its connection: returned the 3 job(s)" in runner.log
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 0
    assert runner.proc.poll() is None


def test_a_role_without_return_unheld_jobs_is_warned_and_runs_on(db, start_runner):
    """A runner role granted before 0.1.2 lacks the function until grant_role is called again:
    the runner says so and carries on; the lost jobs wait for reset_locked, as before."""
    role = f"gw_old_runner_{uuid.uuid4().hex[:8]}"
    db.execute(f'create role "{role}" login')
    try:
        db.execute("select graphile_worker.grant_role(%s, 'runner')", (role,))
        db.execute("revoke execute on function graphile_worker.return_unheld_jobs("
                   f'text, bigint[], timestamptz) from "{role}"')
        info = db.info
        dsn = f"host={info.host} port={info.port} dbname={info.dbname} user={role}"
        runner = start_runner("record.py", "--log-level", "debug", "--poll-interval", "60",
                              connection=dsn)
        lost, fresh = lose_a_claim(db, runner)
        wait_until(lambda: scalar(db, "select count(*) from runs") == 1, 30, "the new job to run")
        wait_until(lambda: "cannot call graphile_worker.return_unheld_jobs" in runner.log, 30,
                   "the warning")
        assert scalar(db, "select job_id from runs") == fresh
        assert scalar(db, "select count(*) from graphile_worker.jobs where id = any(%s)"
                          " and locked_by is not null", (lost,)) == 3
        assert runner.proc.poll() is None
        runner.stop()
    finally:
        db.execute(f'drop owned by "{role}"')
        db.execute(f'drop role "{role}"')
