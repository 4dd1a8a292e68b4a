"""SIGTERM/SIGINT: stop claiming, return unstarted jobs, let running jobs finish within the
shutdown timeout, fail the rest; a second signal is forceful."""

from __future__ import annotations

import signal
import time

import pytest
from helpers import rows, scalar, wait_until

pytestmark = pytest.mark.usefixtures("runs_table")

SHUTDOWN_MESSAGE = "shut down (the job ran past the 4 s shutdown timeout) before the job finished"


def add(db, identifier: str, payload: str, priority: int = 0) -> int:
    return int(scalar(
        db, "select id from graphile_worker.add_job(%s, %s::json, priority => %s)",
        (identifier, payload, priority),
    ))


def test_sigterm_finishes_fails_and_returns_jobs(db, start_runner):
    # run first (priority -1): a job that still works 1.5 s after the abort signal, a long
    # async job, a long sync job and a job that returns at the abort signal; then 6 jobs that
    # stay claimed in the local queue (all four slots stay busy until the signal)
    short = add(db, "wait_abort", '{"seconds": 120, "then": 1.5}', -1)
    long_async = add(db, "sleepy", '{"seconds": 120}', -1)
    long_sync = add(db, "sleepy_sync", '{"seconds": 120}', -1)
    aborted = add(db, "wait_abort", '{"seconds": 120}', -1)
    unstarted = [add(db, "rec_async", "{}") for _ in range(6)]
    runner = start_runner("record.py", "-j", "4", "--shutdown-timeout", "4")
    wait_until(lambda: scalar(db, "select count(*) from runs where note = 'start'") == 4, 30,
               "the four first jobs to start")
    claimed = scalar(db, "select count(*) from graphile_worker.jobs where id = any(%s)"
                         " and locked_by is not null and attempts = 1", (unstarted,))
    assert claimed == 6  # in the local queue, attempt counted
    sent = time.monotonic()
    runner.signal(signal.SIGTERM)
    assert runner.wait(60) == 0, runner.log
    assert time.monotonic() - sent < 30

    notes = {(r["job_id"], r["note"]) for r in rows(db, "select job_id, note from runs")}
    assert (short, "end") in notes  # finished within the grace period...
    jobs = {r["id"]: r for r in rows(
        db, "select id, attempts, last_error, locked_by, run_at from graphile_worker.jobs")}
    assert short not in jobs  # ...and was completed
    assert (aborted, "aborted: the worker is shutting down") in notes
    assert aborted not in jobs  # it returned when the abort signal was set: completed
    for job_id in (long_async, long_sync):
        assert jobs[job_id]["attempts"] == 1
        assert jobs[job_id]["locked_by"] is None
        assert SHUTDOWN_MESSAGE in jobs[job_id]["last_error"], jobs[job_id]["last_error"]
    for job_id in unstarted:
        assert jobs[job_id]["attempts"] == 0, jobs[job_id]  # refunded
        assert jobs[job_id]["locked_by"] is None
        assert jobs[job_id]["last_error"] is None
    assert "returned 6 unstarted job(s) to the queue (shutdown)" in runner.log
    assert scalar(db, "select count(*) from runs where job_id = any(%s)", (unstarted,)) == 0


def test_second_signal_fails_running_jobs_at_once(db, start_runner):
    job_id = add(db, "sleepy", '{"seconds": 120}')
    runner = start_runner("record.py", "--shutdown-timeout", "100", "--heartbeat-interval", "0.2")
    wait_until(lambda: scalar(db, "select count(*) from runs"), 30, "the job to start")
    runner.signal(signal.SIGINT)
    runner.wait_for_log("shutting down: no more claims; waiting up to 100 s for 1 running job(s)")
    # the runner has gone on working (two heartbeats) since the shutdown began...
    for _ in range(2):
        beat = scalar(db, "select now()")
        wait_until(lambda since=beat: scalar(db, "select last_heartbeat_at > %s from"
                                                 " graphile_worker._private_workers", (since,)),
                   30, "a heartbeat during the shutdown")
    # ...and still waits for the job, which it neither failed nor gave up
    assert runner.alive(), runner.log
    assert rows(db, "select attempts, last_error, locked_by is not null as locked"
                    " from graphile_worker.jobs where id = %s", (job_id,)) == [
        {"attempts": 1, "last_error": None, "locked": True}]
    sent = time.monotonic()
    runner.signal(signal.SIGINT)
    runner.wait(30)
    assert time.monotonic() - sent < 20  # not the 100 s grace period
    job = rows(db, "select attempts, last_error, locked_by from graphile_worker.jobs"
                   " where id = %s", (job_id,))[0]
    assert job["attempts"] == 1 and job["locked_by"] is None
    assert "was stopped forcefully before the job finished" in job["last_error"]


def test_idle_runner_exits_0_on_sigterm(db, start_runner):
    runner = start_runner("record.py", "--log-level", "debug")
    runner.wait_for_log("starting:")
    runner.wait_for_log("idle: nothing runnable")  # it claimed, found nothing and waits
    runner.signal(signal.SIGTERM)
    assert runner.wait(30) == 0, runner.log
    assert "stopped" in runner.log


def test_sigterm_during_a_fast_drain_leaves_no_job_locked(db, start_runner):
    """No-op jobs drain faster than they are claimed, so claims are sent ahead (the next one
    before the previous one's rows are read). A SIGTERM mid-drain must account for every
    claimed job: run and reported, or given back with its attempt refunded."""
    db.execute(
        "select graphile_worker.add_jobs(array(select row('noop', '{}'::json, null, null, null,"
        " null, null, null)::graphile_worker.job_spec from generate_series(1, 60000)))"
    )
    runner = start_runner("noop.py", "-j", "10", "--batch-size", "500", "--log-level", "debug")
    wait_until(lambda: scalar(db, "select count(*) from graphile_worker.jobs") < 45000, 60,
               "the drain to be under way")
    runner.signal(signal.SIGTERM)
    assert runner.wait(60) == 0, runner.log
    assert "claims are behind: claiming" in runner.log  # the path under test was taken
    left = rows(db, "select count(*) as n, count(*) filter (where locked_by is not null) as"
                    " locked, count(*) filter (where attempts > 0) as tried"
                    " from graphile_worker.jobs")[0]
    assert left["n"] > 0, "the drain finished before the signal: nothing was tested"
    assert (left["locked"], left["tried"]) == (0, 0), left
    assert scalar(db, "select count(*) from graphile_worker._private_workers") == 0
