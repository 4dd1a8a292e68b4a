"""Snooze (issue 17, item 4): a handler raises Snooze(seconds) to run again later without using
an attempt; RetryLater uses one."""

from __future__ import annotations

import pytest
from helpers import one, scalar, wait_until

from gw_runner import Snooze


def test_a_snoozed_job_runs_again_without_using_an_attempt(db, start_runner):
    """max_attempts 1 and three snoozes: a snooze that used the attempt would fail the job for
    good at the first one."""
    db.execute("select graphile_worker.set_retention(null, '1 day')")
    job_id = scalar(db, "select id from graphile_worker.add_job('snoozer', '{\"times\": 3}',"
                        " max_attempts => 1)")
    runner = start_runner("results.py", "--poll-interval", "0.2", "--log-level", "info")
    wait_until(lambda: scalar(db, "select count(*) from graphile_worker._private_jobs") == 0,
               60, "the job to complete after its snoozes")
    done = one(db, "select outcome, attempts, result, errors, last_error"
                   " from graphile_worker.finished_jobs where id = %s", (job_id,))
    assert done == {"outcome": "completed", "attempts": 1,
                    "result": {"calls": 4, "attempts": 1}, "errors": [], "last_error": None}
    runner.wait_for_log("snoozed: runs again at")
    assert "failed" not in runner.log, runner.log
    assert runner.terminate() == 0, runner.log


def test_a_long_snooze_leaves_the_job_scheduled_and_its_last_error_alone(db, start_runner):
    job_id = scalar(db, "select id from graphile_worker.add_job('snoozer',"
                        " '{\"times\": 1, \"delay\": 3600}')")
    db.execute("update graphile_worker._private_jobs set last_error = 'an earlier failure'")
    runner = start_runner("results.py", "--poll-interval", "0.2")
    row = wait_until(lambda: db.execute(
        "select attempts, last_error, run_at - now() > interval '50 minutes', locked_by"
        " from graphile_worker._private_jobs where id = %s and locked_by is null"
        " and run_at > now()", (job_id,)).fetchone(), 60, "the job to be snoozed")
    assert row == (0, "an earlier failure", True, None)
    assert runner.terminate() == 0, runner.log


@pytest.mark.parametrize("delay", [-1, float("nan"), float("inf"), 315_360_001])
def test_snooze_refuses_a_delay_report_jobs_would_refuse(delay):
    with pytest.raises(ValueError, match="Snooze: "):
        Snooze(delay)
