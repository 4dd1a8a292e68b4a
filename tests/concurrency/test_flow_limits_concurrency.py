"""Flow control under concurrency, with real connections: claims of a task with max_running or
rate_limit from many connections at once never exceed the limit together (get_jobs locks the
task's control row, so such claims run one at a time); a pause committed while a limited
claim waits for that lock holds for it; and a cancel that races the runner's report or return
of the job ends it cancelled, never to run again."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from helpers import add_jobs, backend_pid, get_jobs, report_jobs, scalar, wait_until_waiting

CLAIMERS = 8


def _locked(db: psycopg.Connection, task: str) -> int:
    return int(scalar(
        db, "select count(*) from graphile_worker._private_jobs j"
        " join graphile_worker._private_tasks t on t.id = j.task_id"
        " where t.identifier = %s and j.locked_at is not null", (task,)))


def _locked_by(conn: psycopg.Connection, worker: str) -> int:
    return int(scalar(conn, "select count(*) from graphile_worker._private_jobs"
                            " where locked_by = %s", (worker,)))


def _claim_together(conns: list[psycopg.Connection], tasks: list[str], batch: int,
                    now: datetime | None = None) -> list[list[dict[str, Any]]]:
    """Every connection calls get_jobs at the same moment (released by a barrier)."""
    barrier = threading.Barrier(len(conns))

    def claim(n: int) -> list[dict[str, Any]]:
        barrier.wait(timeout=30)
        kwargs: dict[str, Any] = {"batch_size": batch}
        if now is not None:
            kwargs["now"] = now
        return get_jobs(conns[n], f"w{n}", tasks, **kwargs)

    with ThreadPoolExecutor(max_workers=len(conns)) as pool:
        futures = [pool.submit(claim, n) for n in range(len(conns))]
        return [f.result(timeout=60) for f in futures]


def _enqueue(db: psycopg.Connection, task: str, n: int, queues: int = 0) -> None:
    add_jobs(db, [{"identifier": task, "payload": {"i": i},
                   "queue_name": f"q{i % queues}" if queues and i % 3 == 0 else None}
                  for i in range(n)])


def test_max_running_holds_when_many_connections_claim_at_once(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    _enqueue(db, "limited", 120, queues=5)
    _enqueue(db, "free", 40)
    db.execute("select graphile_worker.set_task_limits('limited', 3, null, null)")
    conns = [connect() for _ in range(CLAIMERS)]
    for _ in range(15):
        got = _claim_together(conns, ["limited", "free"], batch=5)
        limited = [j for batch in got for j in batch if j["task_identifier"] == "limited"]
        assert len(limited) == 3, [[j["id"] for j in batch] for batch in got]
        assert _locked(db, "limited") == 3
        for n, batch in enumerate(got):
            if batch:
                report_jobs(conns[n], f"w{n}", completed_job_ids=[j["id"] for j in batch])
    assert _locked(db, "limited") == 0
    assert scalar(db, "select count(*) from graphile_worker.jobs"
                      " where task_identifier = 'free'") == 0, "the free task was not held back"


def test_max_running_holds_while_claims_and_reports_interleave(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    total = 150
    _enqueue(db, "limited", total, queues=4)
    db.execute("select graphile_worker.set_task_limits('limited', 3, null, null)")
    lock = threading.Lock()
    held = 0  # claims committed and not yet reported: never more than the server holds
    most = 0
    done: list[int] = []
    stop = threading.Event()
    observed: list[int] = []

    def claimer(conn: psycopg.Connection, n: int) -> None:
        nonlocal held, most
        idle = 0
        while idle < 50 and len(done) < total:
            batch = get_jobs(conn, f"w{n}", ["limited"], batch_size=2)
            if not batch:
                idle += 1
                continue
            idle = 0
            with lock:
                held += len(batch)
                most = max(most, held)
            # the job runs (and is locked by this worker) until it is reported
            assert _locked_by(conn, f"w{n}") == len(batch)
            with lock:
                held -= len(batch)
                done.extend(j["id"] for j in batch)
            report_jobs(conn, f"w{n}", completed_job_ids=[j["id"] for j in batch])

    def observer(conn: psycopg.Connection) -> None:
        while not stop.is_set():
            observed.append(_locked(conn, "limited"))

    conns = [connect() for _ in range(CLAIMERS + 1)]
    with ThreadPoolExecutor(max_workers=CLAIMERS + 1) as pool:
        watch = pool.submit(observer, conns[-1])
        futures = [pool.submit(claimer, conns[n], n) for n in range(CLAIMERS)]
        for f in futures:
            f.result(timeout=120)
        stop.set()
        watch.result(timeout=30)
    assert 1 <= most <= 3
    assert observed and max(observed) <= 3, max(observed)
    assert len(done) == len(set(done)) == total
    assert scalar(db, "select count(*) from graphile_worker._private_jobs") == 0


def test_rate_limit_holds_when_many_connections_claim_at_once(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    _enqueue(db, "limited", 200, queues=3)
    db.execute("select graphile_worker.set_task_limits('limited', null, 4, '1 minute')")
    t0 = scalar(db, "select date_trunc('second', now()) + interval '1 hour'")
    conns = [connect() for _ in range(CLAIMERS)]
    starts: list[tuple[datetime, int]] = []
    for k in range(16):
        at = t0 + timedelta(seconds=13 * k)
        got = _claim_together(conns, ["limited"], batch=3, now=at)
        starts.append((at, sum(len(batch) for batch in got)))
        for n, batch in enumerate(got):
            if batch:
                report_jobs(conns[n], f"w{n}", completed_job_ids=[j["id"] for j in batch],
                            now=at)
    # at most 4 starts in any minute, counted from each round back
    for at, _ in starts:
        in_window = sum(n for t, n in starts if at - timedelta(minutes=1) < t <= at)
        assert in_window <= 4, (at, starts)
    assert starts[0][1] == 4
    # and starts resume once a minute (and the slot counted in) has passed: 16 rounds span
    # 195 s, which hold four windows of 61 s at least
    assert sum(n for _, n in starts) >= 12, starts


def test_a_pause_committed_during_a_limited_claim_holds_for_that_claim(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    """A claim of a limited task reads the pause again under the task's lock: a claim that
    started before the pause committed, and waited for it, takes nothing."""
    db.execute("select graphile_worker.add_job('t') from generate_series(1, 3)")
    db.execute("select graphile_worker.set_task_limits('t', 2, null, null)")
    claimer, admin = connect(), connect()
    claimer_pid = backend_pid(claimer)
    with ThreadPoolExecutor(max_workers=1) as pool:
        admin.execute("begin")
        # the pause holds the task's control row until it commits
        assert scalar(admin, "select graphile_worker.pause_tasks(array['t'])") == ["t"]
        claim = pool.submit(get_jobs, claimer, "w", ["t"], batch_size=5)
        wait_until_waiting(db, claimer_pid)
        admin.execute("commit")
        assert claim.result(timeout=30) == []
    assert _locked(db, "t") == 0


RACING = {
    "return": "select graphile_worker.return_jobs('w', array[%s]::bigint[])::text",
    "complete": "select outcome from graphile_worker.report_jobs('w', array[%s]::bigint[])",
    "fail": "select outcome from graphile_worker.report_jobs('w', null,"
            " json_build_array(json_build_object('id', %s, 'message', 'x')))",
    "snooze": "select outcome from graphile_worker.report_jobs('w', null,"
              " json_build_array(json_build_object('id', %s, 'message', 'x', 'snooze', true,"
              " 'retry_delay', 0)))",
}


@pytest.mark.parametrize(("action", "expected"), [
    ("return", "1"), ("complete", "cancelled"), ("fail", "cancelled"), ("snooze", "cancelled")])
def test_cancel_racing_the_runners_report_or_return_ends_the_job_cancelled(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection], action: str,
    expected: str,
) -> None:
    """An admin cancels a running job while its runner reports or returns it: the runner's
    call waits for the cancel's row lock, and once the cancel commits the job must end as a
    job cancelled while running does (deleted, recorded cancelled, its cancel request gone),
    never be claimed again (a return or a snooze refunds the attempt that cancel_jobs used up)."""
    db.execute("select graphile_worker.set_retention(null, '1 day')")
    [(job_id,)] = db.execute("select id from graphile_worker.add_job('t')").fetchall()
    runner, admin = connect(), connect()
    runner_pid = backend_pid(runner)
    assert [j["id"] for j in get_jobs(runner, "w", ["t"])] == [job_id]
    with ThreadPoolExecutor(max_workers=1) as pool:
        admin.execute("begin")
        [(cancelled,)] = admin.execute(
            "select cancelled from graphile_worker.cancel_jobs(array[%s]::bigint[])",
            (job_id,)).fetchall()
        assert cancelled is True
        finished = pool.submit(scalar, runner, RACING[action], (job_id,))
        wait_until_waiting(db, runner_pid)
        admin.execute("commit")
        outcome = finished.result(timeout=30)
    later = scalar(db, "select now() + interval '1 day'")
    claimed_again = get_jobs(db, "w2", ["t"], now=later)
    state = scalar(db, "select state from graphile_worker.job_status(%s)", (job_id,))
    requests = scalar(db, "select count(*) from graphile_worker._private_cancel_requests")
    assert (outcome, state, requests, claimed_again) == (expected, "cancelled", 0, [])
