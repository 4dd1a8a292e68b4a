"""Flow control with the real runner (docs/runner.md, "Flow control"): the runner LISTENs on
graphile_worker:control and acts on pauses, resumes, limits and cancels at once.

The margins only separate outcomes: what should take well under a second gets 10-15 s, and
the poll interval is 60 s wherever a prompt start must be the notification's doing."""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest
from helpers import rows, scalar, wait_until

from gw_runner import (
    CancelResult,
    add_job,
    cancel_jobs,
    job_status,
    pause_queues,
    pause_tasks,
    resume_queues,
    resume_tasks,
    set_task_limits,
)

pytestmark = pytest.mark.usefixtures("runs_table")

#: Far above what a notification takes (milliseconds), far below the 60 s poll interval.
PROMPT = 15.0
NO_POLL = ("--poll-interval", "60")


def wait_listening(db: psycopg.Connection, runners: int = 1) -> None:
    """Wait until `runners` runners LISTEN on graphile_worker:control (their LISTEN
    connection's last statement)."""
    wait_until(lambda: scalar(
        db, "select count(*) from pg_stat_activity where datname = current_database()"
            " and application_name = 'gw_runner listen' and state = 'idle'"
            " and query = 'LISTEN \"graphile_worker:control\"'") >= runners,
        30, "the runner to listen on graphile_worker:control")


def enqueue(db: psycopg.Connection, task: str, n: int = 1, payload: Any = None,
            **options: Any) -> list[int]:
    return [add_job(db, task, payload or {}, **options).id for _ in range(n)]


def notes(db: psycopg.Connection, job_id: int) -> list[str | None]:
    return [r["note"] for r in rows(
        db, "select note from runs where job_id = %s order by started_at", (job_id,))]


def ran(db: psycopg.Connection, ids: list[int]) -> int:
    return int(scalar(db, "select count(distinct job_id) from runs where job_id = any(%s)",
                      (ids,)))


def in_table(db: psycopg.Connection, ids: list[int]) -> list[dict[str, Any]]:
    return rows(db, "select id, attempts, locked_by from graphile_worker._private_jobs"
                    " where id = any(%s) order by id", (ids,))


def locked(db: psycopg.Connection, ids: list[int]) -> int:
    return sum(1 for r in in_table(db, ids) if r["locked_by"] is not None)


def given_back(db: psycopg.Connection, ids: list[int]) -> bool:
    """Every one of `ids` is in the table, unlocked, its attempt refunded."""
    return in_table(db, ids) == [{"id": i, "attempts": 0, "locked_by": None} for i in ids]


def started(db: psycopg.Connection, job_id: int) -> bool:
    return "start" in notes(db, job_id)


def test_a_paused_task_is_not_claimed_and_its_resume_starts_its_jobs_at_once(
    db, start_runner
):
    runner = start_runner("flow.py", "-j", "4", *NO_POLL, "--log-level", "debug")
    wait_listening(db)
    assert pause_tasks(db, ["quick"]) == ["quick"]
    runner.wait_for_log("task(s) quick paused")
    paused = enqueue(db, "quick", 5)
    others = enqueue(db, "other", 5)
    # the claims that took the other task's jobs left the paused task's alone
    wait_until(lambda: ran(db, others) == 5, PROMPT, "the other task's jobs to run")
    wait_until(lambda: not in_table(db, others), PROMPT, "the other jobs to complete")
    mark = len(runner.log)
    assert ran(db, paused) == 0
    assert given_back(db, paused)

    # Resume while the runner sleeps for long: idle, it claims again after 0.05 s, 0.1 s,
    # 0.2 s... (a commit it may have missed), so wait for a sleep of 12.8 s to begin. Only
    # the resume's notification can start the jobs within 10 s of it.
    def sleeping_long() -> bool:
        found = re.findall(r"next claim in (\d+\.\d+) s", runner.alive_log()[mark:])
        return any(float(s) >= 12 for s in found)

    wait_until(sleeping_long, 60, "the runner to sleep 12.8 s")
    assert ran(db, paused) == 0
    assert resume_tasks(db, ["quick"]) == ["quick"]
    wait_until(lambda: ran(db, paused) == 5, 10, "the resumed task's jobs to run")
    wait_until(lambda: not in_table(db, paused), PROMPT, "the resumed jobs to complete")
    assert runner.terminate() == 0, runner.log


def test_pausing_a_task_gives_back_its_jobs_claimed_and_not_started(db, start_runner):
    """Concurrency 1, a slow job running: the paused task's jobs wait in the local queue and
    go back to the table (unlocked, attempt refunded) at once; the running job goes on."""
    slow = enqueue(db, "slow", payload={"seconds": 60})[0]
    queued = enqueue(db, "quick", 5)
    runner = start_runner("flow.py", "-j", "1", *NO_POLL, "--shutdown-timeout", "1")
    wait_listening(db)
    wait_until(lambda: started(db, slow), 30, "the slow job to start")
    wait_until(lambda: locked(db, queued) == 5, 30, "the quick jobs to be claimed")

    assert pause_tasks(db, ["quick"]) == ["quick"]
    wait_until(lambda: given_back(db, queued), PROMPT, "the paused task's jobs to be given back")
    runner.wait_for_log("returned 5 unstarted job(s) to the queue (paused)")
    assert locked(db, [slow]) == 1 and notes(db, slow) == ["start"]  # it runs on
    assert ran(db, queued) == 0
    assert runner.terminate() == 0, runner.log


def test_a_give_back_the_database_refuses_is_made_again_and_the_jobs_are_not_stranded(
    db, start_runner
):
    """The first return of the paused task's jobs fails (a trigger refuses it): the runner,
    still running, gives them back with return_unheld_jobs instead of leaving them locked by
    a live worker (freed only by the 4-hour rule). The running job goes on."""
    db.execute("create sequence refusals")
    db.execute("""
        create function refuse_first_return() returns trigger language plpgsql as $$
        begin
          if nextval('public.refusals') = 1 then  -- (the functions pin search_path)
            raise exception 'the first give-back is refused (test)';
          end if;
          return new;
        end $$""")
    db.execute("""
        create trigger refuse_first_return before update on graphile_worker._private_jobs
        for each row when (old.locked_by is not null and new.locked_by is null)
        execute function refuse_first_return()""")
    slow = enqueue(db, "slow", payload={"seconds": 60})[0]
    queued = enqueue(db, "quick", 5)
    runner = start_runner("flow.py", "-j", "1", *NO_POLL, "--shutdown-timeout", "1")
    wait_listening(db)
    wait_until(lambda: started(db, slow), 30, "the slow job to start")
    wait_until(lambda: locked(db, queued) == 5, 30, "the quick jobs to be claimed")

    assert pause_tasks(db, ["quick"]) == ["quick"]
    runner.wait_for_log("could not return 5 claimed job(s) (paused)")
    wait_until(lambda: given_back(db, queued), PROMPT, "the refused jobs to be given back")
    runner.wait_for_log("returned the 5 job(s) it had locked to the queue")
    assert scalar(db, "select last_value from refusals") >= 2  # refused once, then made
    assert locked(db, [slow]) == 1 and notes(db, slow) == ["start"]  # it runs on
    assert ran(db, queued) == 0
    assert runner.terminate() == 0, runner.log


def test_pausing_queues_gives_back_their_jobs_and_other_queues_run_on(db, start_runner):
    """Named queues: their claimed, unstarted jobs go back at once, a job of another queue
    still runs, and the resume lets theirs run."""
    slow = enqueue(db, "slow", payload={"seconds": 60})[0]
    paused = [enqueue(db, "quick", queue_name=f"q{i}")[0] for i in (1, 2, 3)]
    free = enqueue(db, "other", queue_name="q4")
    runner = start_runner("flow.py", "-j", "1", *NO_POLL)
    wait_listening(db)
    wait_until(lambda: started(db, slow), 30, "the slow job to start")
    wait_until(lambda: locked(db, paused + free) == 4, 30, "the queued jobs to be claimed")

    assert pause_queues(db, ["q1", "q2", "q3"]) == ["q1", "q2", "q3"]
    wait_until(lambda: given_back(db, paused), PROMPT, "the paused queues' jobs to be given back")
    runner.wait_for_log("returned 3 unstarted job(s) to the queue (paused)")
    assert scalar(db, "select count(*) from graphile_worker._private_job_queues"
                      " where queue_name in ('q1', 'q2', 'q3') and locked_by is not null") == 0

    # the slow job ends (cancelled): the slot takes the job of q4, not those of q1..q3
    assert cancel_jobs(db, [slow]) == [CancelResult(slow, True, "running")]
    wait_until(lambda: ran(db, free) == 1, PROMPT, "the job of the queue not paused to run")
    wait_until(lambda: not in_table(db, [*free, slow]), PROMPT, "those jobs to end")
    assert ran(db, paused) == 0 and given_back(db, paused)

    assert resume_queues(db, ["q1", "q2", "q3"]) == ["q1", "q2", "q3"]
    wait_until(lambda: ran(db, paused) == 3, PROMPT, "the resumed queues' jobs to run")
    assert runner.terminate() == 0, runner.log


@pytest.mark.parametrize("swallow", [False, True], ids=["raises", "swallows"])
def test_cancelling_a_running_async_job_cancels_its_handler_and_ends_it_cancelled(
    db, start_runner, swallow
):
    """The handler gets CancelledError at once; whether it raises it again or swallows it and
    returns, the job ends as cancelled, is not retried, and the slot (the only one) goes
    on."""
    db.execute("select graphile_worker.set_retention(null, '1 day')")
    runner = start_runner("flow.py", "-j", "1", *NO_POLL)
    wait_listening(db)
    job_id = enqueue(db, "cancellable", payload={"swallow": swallow})[0]
    wait_until(lambda: started(db, job_id), 30, "the job to start")

    assert cancel_jobs(db, [job_id]) == [CancelResult(job_id, True, "running")]
    wait_until(lambda: len(notes(db, job_id)) == 2, PROMPT, "the handler to be cancelled")
    assert notes(db, job_id) == ["start", "CancelledError cancelled=True reason=cancelled"]
    wait_until(lambda: not in_table(db, [job_id]), PROMPT, "the job to end")
    assert job_status(db, job_id).state == "cancelled"
    runner.wait_for_log(f"job {job_id} (cancellable) cancelled (cancel_jobs)")

    after = enqueue(db, "quick")
    wait_until(lambda: ran(db, after) == 1, PROMPT, "the next job to run in the same slot")
    assert notes(db, job_id) == ["start", "CancelledError cancelled=True reason=cancelled"]
    assert scalar(db, "select count(*) from graphile_worker.finished_jobs where id = %s"
                      " and outcome = 'cancelled'", (job_id,)) == 1
    assert "internal error" not in runner.log and "CRITICAL" not in runner.log, runner.log
    assert runner.terminate() == 0, runner.log


def test_cancelling_a_running_sync_job_sets_ctx_cancelled_and_ends_it_cancelled(
    db, start_runner
):
    db.execute("select graphile_worker.set_retention(null, '1 day')")
    runner = start_runner("flow.py", "-j", "1", *NO_POLL)
    wait_listening(db)
    job_id = enqueue(db, "cancellable_sync")[0]
    wait_until(lambda: started(db, job_id), 30, "the job to start")

    assert cancel_jobs(db, [job_id]) == [CancelResult(job_id, True, "running")]
    wait_until(lambda: len(notes(db, job_id)) == 2, PROMPT, "the handler to see the cancel")
    assert notes(db, job_id) == ["start", "stopped cancelled=True reason=cancelled"]
    wait_until(lambda: not in_table(db, [job_id]), PROMPT, "the job to end")
    assert job_status(db, job_id).state == "cancelled"
    runner.wait_for_log(f"job {job_id} (cancellable_sync) cancelled (cancel_jobs)")
    after = enqueue(db, "quick")
    wait_until(lambda: ran(db, after) == 1, PROMPT, "the next job to run")
    assert runner.terminate() == 0, runner.log


def test_cancelling_a_job_waiting_in_the_local_queue_ends_it_without_running_it(
    db, start_runner
):
    db.execute("select graphile_worker.set_retention(null, '1 day')")
    slow = enqueue(db, "slow", payload={"seconds": 60})[0]
    job_id = enqueue(db, "cancellable")[0]
    runner = start_runner("flow.py", "-j", "1", *NO_POLL, "--shutdown-timeout", "1")
    wait_listening(db)
    wait_until(lambda: started(db, slow), 30, "the slow job to start")
    wait_until(lambda: locked(db, [job_id]) == 1, 30, "the job to be claimed")

    # claimed, so the database sees it running: the runner gives it back, the database ends it
    assert cancel_jobs(db, [job_id]) == [CancelResult(job_id, True, "running")]
    wait_until(lambda: not in_table(db, [job_id]), PROMPT, "the job to end")
    assert job_status(db, job_id).state == "cancelled"
    runner.wait_for_log("gave back 1 cancelled job(s) not started yet")
    assert notes(db, job_id) == []
    assert notes(db, slow) == ["start"]  # still running
    assert runner.terminate() == 0, runner.log


def test_max_running_holds_across_two_runners(db, start_runner):
    """max_running 2, two runners of concurrency 5, 20 jobs of 0.3 s: never more than two run
    at once (a job's recorded start and end lie within its claim and report), and all run."""
    set_task_limits(db, "slow", max_running=2)
    jobs = enqueue(db, "slow", 20, payload={"seconds": 0.3})
    first = start_runner("flow.py", "-j", "5")
    second = start_runner("flow.py", "-j", "5")
    wait_until(lambda: scalar(db, "select count(*) from runs where note = 'end'") == 20, 90,
               "all 20 jobs to run")
    wait_until(lambda: not in_table(db, jobs), PROMPT, "all 20 jobs to complete")
    overlap = scalar(db, """
        with spans as (
          select job_id, min(started_at) filter (where note = 'start') as s,
                 max(started_at) filter (where note = 'end') as e
          from runs group by job_id
        )
        select max((select count(*) from spans o where o.s <= x.s and o.e > x.s))
        from spans x""")
    assert overlap == 2
    assert scalar(db, "select count(*) from runs where note = 'start'") == 20  # once each
    assert first.terminate() == 0, first.log
    assert second.terminate() == 0, second.log


def test_a_handlers_own_cancelled_error_fails_its_job_and_the_slot_goes_on(db, start_runner):
    """Not a cancel and not a shutdown: the attempt fails like any error (and is retried), and
    the only slot runs the next job."""
    job_id = enqueue(db, "raises_cancelled", max_attempts=2)[0]
    runner = start_runner("flow.py", "-j", "1", *NO_POLL)
    row = wait_until(lambda: db.execute(
        "select attempts, last_error from graphile_worker._private_jobs where id = %s"
        " and last_error is not null", (job_id,)).fetchone(), 30, "the attempt to fail")
    assert row == (1, "CancelledError: the handler's own")
    after = enqueue(db, "quick")
    wait_until(lambda: ran(db, after) == 1, PROMPT, "the next job to run in the same slot")
    assert runner.terminate() == 0, runner.log
