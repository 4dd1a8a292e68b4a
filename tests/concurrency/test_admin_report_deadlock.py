"""An admin action on several running jobs against a runner's report of the same jobs.

cancel_jobs, retry_jobs, delete_jobs and run_jobs_at lock the rows of the jobs they are given in
id order; report_jobs locks the rows of its batch in its own order (the completed ones, then the
failed ones). Up to 0.1.7 an admin call that took job A, then waited for job B held by a report
that in turn waited for A, failed with a deadlock (40P01). Now the admin call's locking is
retried (_private_lock_job_states): its locks are rolled back, the report goes on, and the call
waits for the report and succeeds.

The interleaving is made certain with real row locks, no sleeps: a third connection holds job A,
the admin call queues for A, the report takes B and queues for A behind it; once the report is
seen holding B and waiting, A is released and the cycle is bound to form. The admin connection's
deadlock_timeout is short and the report's long, so the admin call is the one the server picks
to fail (the report's side, a runner retrying its report, is the runner's business). The
server's deadlock count shows the cycle did form, once: the call's second try waits for the
report instead of taking back the row the report was woken to take.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from helpers import (
    WAIT_SECONDS,
    add_job,
    backend_pid,
    call,
    get_jobs,
    jobs,
    report_jobs,
    rows,
    scalar,
    wait_until_waiting,
)

# the job failed in the report, the job completed in it (deleted; no history kept)
EXPECTED = {
    "cancel_jobs": ("cancelled", [(True, "retrying"), (False, "unknown")]),
    "retry_jobs": ("retried", [(True, "retrying"), (False, "unknown")]),
    "delete_jobs": ("deleted", [(True, "retrying"), (False, "unknown")]),
    "run_jobs_at": ("rescheduled", [(True, "retrying"), (False, "unknown")]),
}


def _deadlocks(db: psycopg.Connection, detector: psycopg.Connection) -> int:
    """The deadlocks the server detected in this database, once the detecting session has
    flushed its statistics (forced, as it goes idle)."""
    detector.execute("select pg_stat_force_next_flush()")
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        count = int(scalar(db, "select deadlocks from pg_stat_database"
                               " where datname = current_database()"))
        if count or time.monotonic() > deadline:
            return count
        time.sleep(0.01)


@pytest.mark.parametrize("function", list(EXPECTED))
def test_admin_action_does_not_fail_with_a_deadlock_against_a_report(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection], function: str
) -> None:
    first = add_job(db, "t")
    second = add_job(db, "t")
    assert first is not None and second is not None
    a, b = int(first["id"]), int(second["id"])
    assert sorted(c["id"] for c in get_jobs(db, "w", ["t"], batch_size=2)) == [a, b]

    holder = connect()
    holder.execute("begin")
    holder.execute("select id from graphile_worker._private_jobs where id = %s for update", [a])

    admin = connect()
    admin.execute("set deadlock_timeout = '20ms'")
    admin.execute("set statement_timeout = '30s'")  # a regression fails instead of hanging
    reporter = connect()
    reporter.execute("set deadlock_timeout = '60s'")
    reporter.execute("set statement_timeout = '30s'")
    admin_pid, reporter_pid = backend_pid(admin), backend_pid(reporter)

    args: list[Any] = [[a, b]]
    if function == "run_jobs_at":
        args.append(scalar(db, "select now() + interval '1 day'"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        acting = pool.submit(call, admin, function, *args)
        wait_until_waiting(db, admin_pid)  # for A, holding nothing yet
        reporting = pool.submit(report_jobs, reporter, "w", completed_job_ids=[b],
                                failures=[{"id": a, "message": "boom"}])
        wait_until_waiting(db, reporter_pid)  # for A
        # the report holds B: the admin call will need it once it has A
        assert rows(db, "select id from graphile_worker._private_jobs where id = %s"
                        " for update skip locked", [b]) == []
        holder.execute("commit")
        reported = reporting.result(timeout=15)
        out = acting.result(timeout=15)

    assert {i: r["outcome"] for i, r in reported.items()} == {a: "failed", b: "completed"}
    column, expected = EXPECTED[function]
    assert [(r["job_id"], r[column], r["state"]) for r in out] == [
        (job_id, done, state) for job_id, (done, state) in zip([a, b], expected, strict=True)]
    # the cycle formed once, and the call's second try did not run into the report again
    assert _deadlocks(db, admin) == 1
    left = [j["id"] for j in jobs(db)]
    assert left == ([] if function in ("cancel_jobs", "delete_jobs") else [a])
