"""Idle runners start new and scheduled jobs on time: LISTEN/NOTIFY and next_job_due_at.

The poll interval is 60 s in these tests, so a job that starts within 15 s was not found by
a blind poll."""

from __future__ import annotations

import pytest
from helpers import scalar, wait_until

pytestmark = pytest.mark.usefixtures("runs_table")

def idle_runner(start_runner, *args: str, listen: bool = True):
    """A runner that has claimed nothing, gone idle and (with LISTEN) is listening."""
    runner = start_runner("record.py", "--log-level", "debug", *args)

    def ready() -> bool:
        log = runner.log
        if not listen:
            return "idle:" in log
        return "listening on jobs:insert" in log and log.rfind("idle:") > log.find("listening")

    wait_until(ready, 30, "the runner to be idle")
    return runner


def test_listen_wakes_an_idle_runner_at_once(db, start_runner):
    runner = idle_runner(start_runner, "--poll-interval", "60")
    job_id, created = db.execute(
        "select id, created_at from graphile_worker.add_job('rec_async', '{}')"
    ).fetchone()
    wait_until(lambda: scalar(db, "select count(*) from runs where job_id = %s", (job_id,)), 20,
               "the job to start")
    started = scalar(db, "select started_at from runs where job_id = %s", (job_id,))
    assert (started - created).total_seconds() < 15  # the 60 s poll did not find it
    assert runner.proc.poll() is None


def test_no_listen_polling_still_runs_jobs(db, start_runner):
    runner = idle_runner(start_runner, "--no-listen", "--poll-interval", "1",
                         listen=False)
    assert "polling only" in runner.log
    job_id = scalar(db, "select id from graphile_worker.add_job('rec_async', '{}')")
    wait_until(lambda: scalar(db, "select count(*) from runs where job_id = %s", (job_id,)), 15,
               "the job to run by polling")
    wait_until(lambda: scalar(db, "select count(*) from graphile_worker.jobs") == 0, 15,
               "the job to be completed")


def test_scheduled_job_starts_at_its_run_at_not_at_the_next_poll(db, start_runner):
    runner = idle_runner(start_runner, "--poll-interval", "60")
    job_id = scalar(
        db,
        "select id from graphile_worker.add_job('rec_async', '{}',"
        " run_at => now() + interval '2 seconds')",
    )
    run_at = scalar(db, "select run_at from graphile_worker.jobs where id = %s", (job_id,))
    wait_until(lambda: scalar(db, "select count(*) from runs where job_id = %s", (job_id,)), 20,
               "the scheduled job to start")
    started = scalar(db, "select started_at from runs where job_id = %s", (job_id,))
    assert started >= run_at  # not early
    assert (started - run_at).total_seconds() < 15  # well before the 60 s poll
    assert runner.proc.poll() is None
