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


def enqueue_and_time_its_start(db) -> float:
    """Enqueue a job; seconds from its creation to its start (within 20 s, or the test fails)."""
    job_id, created = db.execute(
        "select id, created_at from graphile_worker.add_job('rec_async', '{}')"
    ).fetchone()
    wait_until(lambda: scalar(db, "select count(*) from runs where job_id = %s", (job_id,)), 20,
               "the job to start")
    started = scalar(db, "select started_at from runs where job_id = %s", (job_id,))
    return (started - created).total_seconds()


def test_listen_wakes_an_idle_runner_at_once(db, start_runner):
    runner = idle_runner(start_runner, "--poll-interval", "60")
    assert enqueue_and_time_its_start(db) < 15  # the 60 s poll did not find it
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


def _mark(db):
    return db.execute(
        "select worker_id, waiting from graphile_worker._private_wait_marks"
    ).fetchall()


def test_an_idle_runner_waits_marked_and_the_next_enqueue_wakes_it(db, start_runner):
    """Enqueuers notify only while a runner waits (wait_for_jobs); the one that wakes it takes
    the mark off, and the runner marks itself again once it is idle again."""
    runner = idle_runner(start_runner, "--poll-interval", "60")
    wait_until(lambda: [w for _, w in _mark(db)] == [True], 30, "the runner to mark itself")
    for _ in range(2):
        assert enqueue_and_time_its_start(db) < 15  # the 60 s poll did not find it
        wait_until(lambda: [w for _, w in _mark(db)] == [True], 30,
                   "the runner to mark itself again")
    assert runner.proc.poll() is None


def test_a_job_committed_after_the_runner_marked_itself_is_found_without_a_notification(
    db, start_runner, connect
):
    """An enqueue that saw no waiting runner (here: its transaction took the mark itself, as a
    concurrent enqueue would) does not notify, and commits after the runner marked itself: the
    runner's rechecks after marking (50 ms, doubling up to the poll interval) find the job,
    not the 60 s poll."""
    runner = idle_runner(start_runner, "--poll-interval", "60")
    wait_until(lambda: [w for _, w in _mark(db)] == [True], 30, "the runner to mark itself")
    listener = connect()
    listener.execute('listen "jobs:insert"')
    producer = connect(autocommit=False)
    producer.execute("update graphile_worker._private_wait_marks set waiting = false")
    job_id = scalar(producer, "select id from graphile_worker.add_job('rec_async', '{}')")
    producer.commit()
    committed = scalar(db, "select clock_timestamp()")
    db.execute("select pg_notify('jobs:insert', 'sentinel')")
    assert [n.payload for n in listener.notifies(timeout=5, stop_after=1)] == ["sentinel"]
    wait_until(lambda: scalar(db, "select count(*) from runs where job_id = %s", (job_id,)), 30,
               "the job to start")
    started = scalar(db, "select started_at from runs where job_id = %s", (job_id,))
    assert (started - committed).total_seconds() < 15  # the 60 s poll did not find it
    assert runner.proc.poll() is None


def test_a_notification_while_the_runner_marks_itself_makes_it_mark_itself_again(
    db, start_runner, connect
):
    """A producer can take a mark off, and notify, as soon as the mark commits, before the
    runner has read wait_for_jobs' reply. The runner must not then count itself marked: it
    would never mark itself again, and enqueuers, which notify only while a runner waits,
    would leave it to its rechecks and polls. Here a lock holds the mark back until a
    notification has reached the runner; once the mark is written the runner marks itself
    again (a second mark, after the release)."""
    holder = connect(autocommit=False)
    holder.execute("lock table graphile_worker._private_wait_marks in exclusive mode")
    runner = start_runner("record.py", "--log-level", "debug", "--poll-interval", "60")
    wait_until(
        lambda: scalar(db, "select count(*) from pg_stat_activity where wait_event_type = 'Lock'"
                           " and query like '%%wait_for_jobs%%'"),
        30, "the runner's mark to wait for the lock",
    )
    wait_until(lambda: "listening on jobs:insert" in runner.log, 30, "the runner to listen")
    db.execute("""select pg_notify('jobs:insert', '{"r":0.5,"count":1,"during":"mark"}')""")
    wait_until(lambda: '"during":"mark"' in runner.log, 30, "the notification to arrive")
    holder.commit()
    released = scalar(db, "select clock_timestamp()")
    wait_until(
        lambda: scalar(db, "select count(*) from graphile_worker._private_wait_marks"
                           " where waiting and marked_at > %s", (released,)),
        15, "the runner to mark itself again",  # not at the 60 s poll, nor ever without it
    )
    assert runner.proc.poll() is None


def test_against_an_extension_without_wait_for_jobs_the_runner_asks_next_job_due_at(
    db, start_runner
):
    """An extension before 0.1.5 (here: wait_for_jobs dropped): the runner says so once, then
    sleeps until the due time as before; enqueuers notify every job (no marks)."""
    db.execute("alter extension graphile_worker drop function"
               " graphile_worker.wait_for_jobs(text, text[], text[], boolean)")
    db.execute("drop function graphile_worker.wait_for_jobs(text, text[], text[], boolean)")
    runner = idle_runner(start_runner, "--poll-interval", "60")
    wait_until(lambda: "cannot call graphile_worker.wait_for_jobs" in runner.log, 30,
               "the runner to fall back")
    assert enqueue_and_time_its_start(db) < 15
    assert runner.log.count("cannot call graphile_worker.wait_for_jobs") == 1
    assert runner.proc.poll() is None
