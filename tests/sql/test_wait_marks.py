"""Enqueuers notify jobs:insert only while a runner waits (issue 15, item 1): wait_for_jobs marks
a runner waiting; add_job and add_jobs take the mark off and notify; while every runner is busy
(marked, not waiting) they do not notify; without any recent mark (Node workers, older runners)
or with graphile_worker.notify_inserts = 'always' they notify every time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from helpers import add_job, add_jobs, rows, scalar

SENTINEL = "sentinel"


def _listen(connect: Callable[..., psycopg.Connection]) -> psycopg.Connection:
    listener = connect()
    listener.execute('listen "jobs:insert"')
    return listener


def _notified(db: psycopg.Connection, listener: psycopg.Connection) -> int:
    """How many jobs:insert notifications the listener got before a sentinel sent now
    (notifications arrive in commit order)."""
    db.execute("select pg_notify('jobs:insert', %s)", [SENTINEL])
    count = 0
    for n in listener.notifies(timeout=5):
        if n.payload == SENTINEL:
            return count
        count += 1
    raise AssertionError("sentinel not received")


def _marks(db: psycopg.Connection) -> list[dict[str, Any]]:
    return rows(db, "select worker_id, waiting from graphile_worker._private_wait_marks order by 1")


def _wait(db: psycopg.Connection, worker_id: str, *, waiting: bool = True) -> Any:
    return scalar(db, "select graphile_worker.wait_for_jobs(%s, array['job1'], null, %s)",
                  (worker_id, waiting))


def test_without_marks_every_enqueue_notifies(db: psycopg.Connection, connect: Any) -> None:
    listener = _listen(connect)
    add_job(db, "job1")
    add_jobs(db, [{"identifier": "job1"}, {"identifier": "job1"}])
    assert _notified(db, listener) == 2


def test_a_waiting_runner_is_woken_once_then_enqueuers_stay_quiet(
    db: psycopg.Connection, connect: Any
) -> None:
    listener = _listen(connect)
    assert _wait(db, "w1") is None  # marked; no job is due later
    assert _marks(db) == [{"worker_id": "w1", "waiting": True}]
    add_job(db, "job1")
    assert _marks(db) == [{"worker_id": "w1", "waiting": False}]
    assert _notified(db, listener) == 1
    # the runner is busy now (its mark says so): nobody notifies
    for _ in range(5):
        add_job(db, "job1")
    add_jobs(db, [{"identifier": "job1"}] * 3)
    assert _notified(db, listener) == 0
    assert scalar(db, "select count(*) from graphile_worker._private_jobs") == 9
    # it waits again: the next enqueue (add_jobs this time) wakes it
    _wait(db, "w1")
    add_jobs(db, [{"identifier": "job1"}])
    add_job(db, "job1")
    assert _notified(db, listener) == 1
    # and again: add_job of a task that exists (its own path, 0.1.8) wakes it, once
    _wait(db, "w1")
    add_job(db, "job1")
    assert _marks(db) == [{"worker_id": "w1", "waiting": False}]
    add_job(db, "job1")
    assert _notified(db, listener) == 1


def test_one_notification_wakes_every_waiting_runner(db: psycopg.Connection, connect: Any) -> None:
    listener = _listen(connect)
    _wait(db, "w1")
    _wait(db, "w2")
    add_job(db, "job1")
    assert _notified(db, listener) == 1
    assert _marks(db) == [{"worker_id": "w1", "waiting": False},
                          {"worker_id": "w2", "waiting": False}]


def test_marks_older_than_ten_minutes_count_for_nothing(
    db: psycopg.Connection, connect: Any
) -> None:
    """A runner that crashed (or was busy for 10 minutes) leaves a mark that says "busy":
    enqueuers then notify again, as for a fleet of Node workers."""
    listener = _listen(connect)
    _wait(db, "w1")
    add_job(db, "job1")  # w1 busy now
    db.execute("update graphile_worker._private_wait_marks"
               " set marked_at = now() - interval '11 minutes'")
    add_job(db, "job1")
    add_job(db, "job1")
    assert _notified(db, listener) == 3


def test_notify_inserts_always_notifies_despite_busy_runners(
    db: psycopg.Connection, connect: Any
) -> None:
    """For a fleet with Node workers, which wait for jobs:insert (docs/scaling.md)."""
    listener = _listen(connect)
    _wait(db, "w1")
    add_job(db, "job1")  # w1 busy now
    db.execute("set graphile_worker.notify_inserts = 'always'")
    add_job(db, "job1")
    add_jobs(db, [{"identifier": "job1"}])
    db.execute("reset graphile_worker.notify_inserts")
    add_job(db, "job1")
    assert _notified(db, listener) == 3


def test_a_rolled_back_enqueue_leaves_the_runner_waiting(
    db: psycopg.Connection, connect: Any
) -> None:
    listener = _listen(connect)
    _wait(db, "w1")
    with connect(autocommit=False) as other:
        other.execute("select graphile_worker.add_job('job1')")
        other.rollback()
    assert _marks(db) == [{"worker_id": "w1", "waiting": True}]
    add_job(db, "job1")
    assert _notified(db, listener) == 1


def test_an_enqueue_skips_a_mark_another_enqueue_is_taking(
    db: psycopg.Connection, connect: Any
) -> None:
    """Two enqueuers at once: the second does not wait for the first's row lock on the mark
    (it would queue every producer behind one); the first notifies at its commit."""
    add_job(db, "job1")  # the task exists: the two enqueues below create nothing
    listener = _listen(connect)
    _wait(db, "w1")
    first = connect(autocommit=False)
    first.execute("select graphile_worker.add_job('job1')")  # takes the mark, not committed
    second = connect()
    second.execute("set lock_timeout = '5s'")
    second.execute("select graphile_worker.add_job('job1')")  # does not wait
    assert _notified(db, listener) == 0  # the first has not committed
    first.commit()
    assert _notified(db, listener) == 1


def test_wait_for_jobs_returns_the_next_due_time_and_removes_its_mark_on_request(
    db: psycopg.Connection,
) -> None:
    add_job(db, "job1", run_at="2100-01-01 00:00+00")
    add_job(db, "other", run_at="2090-01-01 00:00+00")
    due = _wait(db, "w1")
    assert due.isoformat() == "2100-01-01T00:00:00+00:00"
    assert _wait(db, "w1", waiting=False) is None
    assert _marks(db) == []


@pytest.mark.parametrize(("worker_id", "sqlstate"), [(None, "GWA01"), ("", "GWA01"),
                                                     ("x" * 129, "GWA02")])
def test_wait_for_jobs_refuses_a_bad_worker_id(
    db: psycopg.Connection, worker_id: Any, sqlstate: str
) -> None:
    with pytest.raises(psycopg.Error) as exc:
        _wait(db, worker_id)
    assert exc.value.sqlstate == sqlstate
    assert _marks(db) == []
