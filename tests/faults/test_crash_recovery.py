"""Crash recovery with real runner processes and real signals: a runner killed with SIGKILL,
a job that kills every runner that takes it, a runner paused (SIGSTOP) past its threshold.

The runners use short thresholds (FAST_RECOVERY: heartbeat 0.5 s, lost after 3 s, sweep
every 0.5 s); deadlines are several times threshold + sweep grace + sweep interval."""

from __future__ import annotations

import json
import signal
import time

import psycopg
import pytest
from helpers import FAST_RECOVERY, rows, scalar, wait_until

pytestmark = pytest.mark.usefixtures("calls")


def add_jobs(db: psycopg.Connection, task: str, payload: dict, n: int, **options: object) -> list[int]:
    args = "".join(f", {k} => %({k})s" for k in options)
    sql = f"select id from graphile_worker.add_job(%(task)s, %(payload)s::json{args})"
    return [int(scalar(db, sql, {"task": task, "payload": json.dumps(payload), **options}))
            for _ in range(n)]


def test_jobs_of_a_killed_runner_are_recovered_by_another_runner(db, runners):
    ids = add_jobs(db, "long_first_try", {"first": 120, "later": 0.01}, 3)
    a = runners.start("-j", "3", *FAST_RECOVERY)
    wait_until(lambda: scalar(db, "select count(*) from calls where note = 'start'") == 3, 30,
               "the three jobs to start")
    a_id = scalar(db, "select distinct worker_id from calls")
    assert scalar(db, "select count(*) from graphile_worker._private_workers"
                      " where worker_id = %s", (a_id,)) == 1
    a.send(signal.SIGKILL)
    assert a.wait(10) == -signal.SIGKILL

    b = runners.start("-j", "3", *FAST_RECOVERY, "--recovery-delay", "600")
    wait_until(lambda: scalar(db, "select count(*) from graphile_worker._private_jobs"
                                  " where locked_by is null") == 3, 40,
               "the jobs of the killed runner to be released")
    jobs = rows(db, "select id, attempts, last_error, locked_by, run_at > now() + interval"
                    " '590 seconds' as delayed from graphile_worker.jobs order by id")
    assert [j["id"] for j in jobs] == ids
    for job in jobs:
        assert job["attempts"] == 1  # the crashed attempt counts
        assert job["last_error"].startswith(f"worker {a_id} was lost (last heartbeat at ")
        assert job["delayed"]  # --recovery-delay 600
    assert scalar(db, "select count(*) from graphile_worker._private_workers"
                      " where worker_id = %s", (a_id,)) == 0
    b.wait_for_log(f"recovered 3 job(s) of lost worker {a_id}", 10)

    # made runnable again, they run once more, as attempt 2, on the second runner
    db.execute("select graphile_worker.reschedule_jobs(%s::bigint[], run_at => now())", (ids,))
    wait_until(lambda: scalar(db, "select count(*) from graphile_worker._private_jobs") == 0, 30,
               "the recovered jobs to complete")
    second = rows(db, "select job_id, attempt, pid from calls where note = 'end' order by job_id")
    assert second == [{"job_id": i, "attempt": 2, "pid": b.pid} for i in ids]
    b.send(signal.SIGTERM)
    assert b.wait(30) == 0, b.log
    assert scalar(db, "select count(*) from graphile_worker._private_workers") == 0  # deregistered


def test_a_job_that_kills_every_runner_fails_permanently_after_max_attempts(db, runners):
    (job_id,) = add_jobs(db, "crash_runner", {}, 1, max_attempts=3)
    crashed = []
    options = (*FAST_RECOVERY, "--log-level", "debug")  # debug: each empty claim is logged
    current = runners.start(*options)
    deadline = time.monotonic() + 120
    while True:
        job = rows(db, "select attempts, locked_by, last_error from graphile_worker.jobs"
                       " where id = %s", (job_id,))[0]
        if job["attempts"] == 3 and job["locked_by"] is None:
            break
        assert time.monotonic() < deadline, (job, crashed)
        if not current.alive():
            assert current.proc.returncode == -signal.SIGKILL, current.log
            crashed.append(current.pid)
            assert len(crashed) <= 3, "the job was run after its attempts were used up"
            current = runners.start(*options)
        time.sleep(0.1)
    assert len(crashed) == 3
    assert job["last_error"].startswith("worker gw-")
    assert "was lost" in job["last_error"]
    # the job is permanently failed: the survivor (which released it) never runs it again,
    # although it looked for work twice since (and runs the job if it claims it: it dies)
    idle = current.log.count("idle: nothing runnable")
    current.wait_for_log("idle: nothing runnable", 30, count=idle + 2)
    assert current.alive(), current.log
    assert scalar(db, "select count(*) from calls where job_id = %s", (job_id,)) == 3
    assert scalar(db, "select attempts from graphile_worker.jobs where id = %s", (job_id,)) == 3
    current.send(signal.SIGTERM)
    assert current.wait(30) == 0, current.log


def test_a_paused_runner_deletes_nothing_its_successor_holds_and_registers_again(db, runners):
    long_ids = add_jobs(db, "long_first_try", {"first": 2.5, "later": 8}, 4)
    short_ids = add_jobs(db, "work", {}, 4, priority=1)  # claimed by A, not started
    a = runners.start("-j", "4", *FAST_RECOVERY)
    wait_until(lambda: scalar(db, "select count(*) from calls where note = 'start'") == 4, 30,
               "the four long jobs to start on the first runner")
    assert scalar(db, "select count(*) from graphile_worker._private_jobs"
                      " where locked_by is not null") == 8  # 4 running, 4 in its local queue
    a_id = scalar(db, "select distinct worker_id from calls")
    a.send(signal.SIGSTOP)
    paused_at = time.monotonic()

    b = runners.start("-j", "4", *FAST_RECOVERY)
    wait_until(lambda: scalar(db, "select count(*) from calls where note = 'start' and pid = %s",
                              (b.pid,)) == 4, 40,
               "the second runner to recover and start the long jobs")
    assert time.monotonic() - paused_at >= 3  # the threshold passed while A was paused
    a.send(signal.SIGCONT)

    a.wait_for_log("WORKER DECLARED LOST", 20)
    a.wait_for_log("registered again as " + a_id, 20)
    wait_until(lambda: scalar(db, "select count(*) from graphile_worker._private_jobs") == 0, 60,
               "every job to complete")
    # A finished its (first) attempts of the long jobs before B: the database refused them
    # and kept the jobs for B, which completed them
    assert a.log.count("outcome NOT recorded") == 4, a.log
    assert "outcome NOT recorded" not in b.log, b.log
    ends = rows(db, "select job_id, pid from calls where task = 'long_first_try' and note = 'end'"
                    " order by finished")
    assert [e["pid"] for e in ends] == [a.pid] * 4 + [b.pid] * 4
    assert {e["job_id"] for e in ends} == set(long_ids)
    # the unstarted jobs A had claimed ran once, on B; A gave nothing of B's back
    short = rows(db, "select job_id, pid from calls where task = 'work' order by job_id")
    assert short == [{"job_id": i, "pid": b.pid} for i in short_ids]
    assert "returned 0 unstarted job(s) to the queue (this worker was declared lost)" in a.log
    assert scalar(db, "select count(*) from graphile_worker._private_workers"
                      " where worker_id = %s", (a_id,)) == 1  # registered again
    for runner in (a, b):
        runner.send(signal.SIGTERM)
    for runner in (a, b):
        assert runner.wait(30) == 0, runner.log
    assert scalar(db, "select count(*) from graphile_worker._private_workers") == 0


def test_heartbeats_survive_sql_errors_and_resume(db, runners):
    runner = runners.start("--heartbeat-interval", "0.2", "--stale-after", "30")
    runner.wait_for_log("registered for crash recovery", 30)
    db.execute("alter function graphile_worker.heartbeat(text, timestamptz)"
               " rename to heartbeat_gone")
    try:
        runner.wait_for_log("heartbeat failed", 30, count=3)  # several failed heartbeats
    finally:
        db.execute("alter function graphile_worker.heartbeat_gone(text, timestamptz)"
                   " rename to heartbeat")
    runner.wait_for_log("heartbeat restored after", 15)
    assert runner.alive()
    before = scalar(db, "select last_heartbeat_at from graphile_worker._private_workers")
    wait_until(lambda: scalar(db, "select last_heartbeat_at from"
                                  " graphile_worker._private_workers") > before, 10,
               "the heartbeats to go on")
    runner.send(signal.SIGTERM)
    assert runner.wait(30) == 0, runner.log
