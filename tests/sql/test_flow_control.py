"""Flow control (0.1.8): pause and resume tasks and named queues, fleet-wide limits per task
(max_running, rate_limit per rate_period) enforced inside get_jobs, flow_controls(), the
notifications on graphile_worker:control, cancel_jobs and cancel_jobs_by_key with every way a
cancelled running job can end, and the GWF01 checks. Time moves through get_jobs's `now`
(this connection is a superuser, so admin-level)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from helpers import (
    add_job,
    call,
    call_scalar,
    get_jobs,
    job,
    job_queues,
    jobs,
    report_jobs,
    rows,
    scalar,
    snapshot,
)

CONTROL = "graphile_worker:control"
SENTINEL = "sentinel"
MICROSECOND = timedelta(microseconds=1)


# --- helpers ------------------------------------------------------------------------------------


def _t0(db: psycopg.Connection) -> datetime:
    """A whole second an hour ahead: every job added with the default run_at is due then, and a
    rate slot of a one-minute period (one second) starts there."""
    value = scalar(db, "select date_trunc('second', now()) + interval '1 hour'")
    assert isinstance(value, datetime)
    return value


def _add(db: psycopg.Connection, task: str, n: int = 1, **kwargs: Any) -> list[int]:
    ids = []
    for _ in range(n):
        row = add_job(db, task, **kwargs)
        assert row is not None
        ids.append(int(row["id"]))
    return ids


def _claim(db: psycopg.Connection, tasks: list[str], batch: int = 10, worker: str = "w",
           now: datetime | None = None) -> list[int]:
    kwargs: dict[str, Any] = {"batch_size": batch}
    if now is not None:
        kwargs["now"] = now
    return [int(r["id"]) for r in get_jobs(db, worker, tasks, **kwargs)]


def _limits(db: psycopg.Connection, task: str, max_running: int | None = None,
            rate_limit: int | None = None, rate_period: str | None = None) -> None:
    db.execute("select graphile_worker.set_task_limits(%s, %s, %s, %s::interval)",
               (task, max_running, rate_limit, rate_period))


def _controls(db: psycopg.Connection) -> list[dict[str, Any]]:
    return rows(db, "select * from graphile_worker.flow_controls()")


def _cancel(db: psycopg.Connection, ids: list[int]) -> list[tuple[int, bool, str]]:
    return [(r["job_id"], r["cancelled"], r["state"]) for r in call(db, "cancel_jobs", ids)]


def _status(db: psycopg.Connection, job_id: int) -> str:
    [row] = call(db, "job_status", job_id)
    return str(row["state"])


def _finished(db: psycopg.Connection) -> dict[int, dict[str, Any]]:
    return {r["id"]: r for r in rows(db, "select * from graphile_worker.finished_jobs")}


def _keep_history(db: psycopg.Connection) -> None:
    db.execute("select graphile_worker.set_retention(null, '1 day')")


def _cancel_requests(db: psycopg.Connection) -> list[int]:
    return [r[0] for r in db.execute(
        "select job_id from graphile_worker._private_cancel_requests order by 1").fetchall()]


def _listen(connect: Callable[..., psycopg.Connection]) -> psycopg.Connection:
    listener = connect()
    listener.execute(f'listen "{CONTROL}"')
    return listener


def _messages(sender: psycopg.Connection, listener: psycopg.Connection) -> list[Any]:
    """Every control message the listener got, up to a sentinel that `sender` sends now
    (notifications arrive in commit order: nothing committed before it can come later)."""
    sender.execute("select pg_notify(%s, %s)", (CONTROL, SENTINEL))
    got: list[Any] = []
    for n in listener.notifies(timeout=5):
        assert n.channel == CONTROL
        if n.payload == SENTINEL:
            return got
        got.append(json.loads(n.payload))
    raise AssertionError(f"sentinel not received; got {got}")


# --- pause and resume ---------------------------------------------------------------------------


def test_pause_tasks_holds_their_jobs_with_and_without_queues_and_not_other_tasks(
    db: psycopg.Connection,
) -> None:
    a_plain = _add(db, "a")
    a_queued = _add(db, "a", queue_name="qa")
    b_plain = _add(db, "b")
    b_queued = _add(db, "b", queue_name="qb")
    before = {j["id"]: j for j in jobs(db)}

    assert call_scalar(db, "pause_tasks", ["a"]) == ["a"]
    assert sorted(_claim(db, ["a", "b"])) == b_plain + b_queued
    assert _claim(db, ["a"]) == []
    for job_id in a_plain + a_queued:
        assert job(db, job_id)["attempts"] == 0
        assert job(db, job_id)["locked_at"] is None
        assert job(db, job_id)["run_at"] == before[job_id]["run_at"]
    # the queue of the held job is not locked either
    assert [q["locked_by"] for q in job_queues(db)] == [None, "w"]

    assert call_scalar(db, "resume_tasks", ["a"]) == ["a"]
    assert sorted(_claim(db, ["a", "b"])) == a_plain + a_queued


def test_paused_task_keeps_its_order_and_takes_jobs_while_paused(db: psycopg.Connection) -> None:
    base = scalar(db, "select now() - interval '1 hour'")
    specs = [(0, 30), (-1, 50), (0, 10), (5, 0), (0, 30), (-1, 40)]
    ids = [_add(db, "a", priority=p, run_at=base + timedelta(minutes=m))[0] for p, m in specs[:3]]
    assert call_scalar(db, "pause_tasks", ["a"]) == ["a"]
    # enqueueing works while paused
    ids += [_add(db, "a", priority=p, run_at=base + timedelta(minutes=m))[0] for p, m in specs[3:]]
    assert _claim(db, ["a"]) == []
    assert call_scalar(db, "resume_tasks", ["a"]) == ["a"]

    expected = [i for *_, i in sorted((p, m, i) for (p, m), i in zip(specs, ids, strict=True))]
    claimed = []
    for _ in ids:
        [one] = _claim(db, ["a"], batch=1)
        claimed.append(one)
        report_jobs(db, "w", completed_job_ids=[one])
    assert claimed == expected


def test_pause_tasks_returns_the_names_whose_state_changed(db: psycopg.Connection) -> None:
    assert call_scalar(db, "pause_tasks", ["b", "a"]) == ["a", "b"]
    assert call_scalar(db, "pause_tasks", ["b", "c", "c"]) == ["c"]
    assert call_scalar(db, "pause_tasks", ["a"]) == []
    assert call_scalar(db, "resume_tasks", ["a", "never_paused"]) == ["a"]
    assert call_scalar(db, "resume_tasks", ["a"]) == []
    assert call_scalar(db, "pause_queues", ["q2", "q1", "q1"]) == ["q1", "q2"]
    assert call_scalar(db, "pause_queues", ["q1", "q3"]) == ["q3"]
    assert call_scalar(db, "resume_queues", ["q1", "q9"]) == ["q1"]
    assert call_scalar(db, "resume_queues", ["q1"]) == []
    assert [(c["kind"], c["name"], c["paused"]) for c in _controls(db)] == [
        ("task", "b", True), ("task", "c", True), ("queue", "q2", True), ("queue", "q3", True)]


def test_pausing_a_task_no_job_used_yet_holds_its_first_jobs(db: psycopg.Connection) -> None:
    assert call_scalar(db, "pause_tasks", ["fresh"]) == ["fresh"]
    assert scalar(db, "select count(*) from graphile_worker._private_tasks") == 0
    ids = _add(db, "fresh", 2) + _add(db, "fresh", queue_name="fq")
    assert _claim(db, ["fresh"]) == []
    assert call_scalar(db, "resume_tasks", ["fresh"]) == ["fresh"]
    assert sorted(_claim(db, ["fresh"])) == ids


def test_pause_queues_holds_only_the_jobs_of_those_queues(db: psycopg.Connection) -> None:
    # q2 is paused before its queue exists
    assert call_scalar(db, "pause_queues", ["q1", "q2"]) == ["q1", "q2"]
    q1 = _add(db, "a", 2, queue_name="q1")
    q2 = _add(db, "b", queue_name="q2")
    q3 = _add(db, "a", queue_name="q3")
    plain = _add(db, "a")
    assert sorted(_claim(db, ["a", "b"])) == q3 + plain
    for job_id in q1 + q2:
        assert job(db, job_id)["attempts"] == 0
    assert {q["queue_name"]: q["locked_by"] for q in job_queues(db)} == {
        "q1": None, "q2": None, "q3": "w"}

    assert call_scalar(db, "resume_queues", ["q1"]) == ["q1"]
    # one job per named queue and claim: the first of q1, in order
    assert _claim(db, ["a", "b"]) == q1[:1]
    assert _controls(db)[0]["name"] == "q2"


def test_next_job_due_at_ignores_paused_tasks(db: psycopg.Connection) -> None:
    now = scalar(db, "select now()")
    _add(db, "a", run_at=now + timedelta(hours=1))
    _add(db, "b", run_at=now + timedelta(hours=2))
    assert call_scalar(db, "next_job_due_at", ["a", "b"]) == now + timedelta(hours=1)
    call_scalar(db, "pause_tasks", ["a"])
    assert call_scalar(db, "next_job_due_at", ["a", "b"]) == now + timedelta(hours=2)
    assert call_scalar(db, "next_job_due_at", ["a"]) is None
    assert call_scalar(db, "wait_for_jobs", "w", ["a"]) is None
    call_scalar(db, "resume_tasks", ["a"])
    assert call_scalar(db, "next_job_due_at", ["a", "b"]) == now + timedelta(hours=1)


def test_flow_control_changes_notify_runners_at_commit(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    listener = _listen(connect)
    other = connect()
    with db.transaction():
        call_scalar(db, "pause_tasks", ["b", "a"])
        # another session's notification, committed while the pause is not: nothing before it
        assert _messages(other, listener) == []
    assert _messages(db, listener) == [{"op": "pause_tasks", "names": ["a", "b"]}]

    with db.transaction(force_rollback=True):
        call_scalar(db, "resume_tasks", ["a"])
    assert _messages(db, listener) == []

    call_scalar(db, "resume_tasks", ["a", "x"])
    call_scalar(db, "resume_tasks", ["a"])  # nothing changed: nothing sent
    call_scalar(db, "pause_queues", ["q"])
    call_scalar(db, "pause_queues", ["q"])
    call_scalar(db, "resume_queues", ["q", "r"])
    call_scalar(db, "resume_queues", ["q"])
    _limits(db, "t", max_running=2)
    assert _messages(db, listener) == [
        {"op": "resume_tasks", "names": ["a"]},
        {"op": "pause_queues", "names": ["q"]},
        {"op": "resume_queues", "names": ["q"]},
        {"op": "limits", "names": ["t"]},
    ]

    running, waiting = _add(db, "c", 2)
    assert _claim(db, ["c"], batch=1) == [running]
    _cancel(db, [waiting])  # a waiting job is just deleted: no runner to tell
    _cancel(db, [running])
    assert _messages(db, listener) == [{"op": "cancel", "ids": [running]}]


def test_resume_removes_a_row_that_only_held_the_pause(db: psycopg.Connection) -> None:
    call_scalar(db, "pause_tasks", ["a", "b", "c"])
    _limits(db, "b", max_running=2)
    call_scalar(db, "resume_tasks", ["a", "b"])
    assert [(c["name"], c["paused"], c["max_running"]) for c in _controls(db)] == [
        ("b", False, 2), ("c", True, None)]
    assert scalar(db, "select count(*) from graphile_worker._private_task_controls") == 2

    # removing the limits of a paused task keeps the pause; of a running one, the row
    _limits(db, "c", max_running=1)
    _limits(db, "c")
    _limits(db, "b")
    assert [(c["name"], c["paused"], c["max_running"]) for c in _controls(db)] == [
        ("c", True, None)]
    call_scalar(db, "resume_tasks", ["c"])
    assert _controls(db) == []


# --- limits -------------------------------------------------------------------------------------


def test_max_running_caps_a_claim_and_the_claims_after_it(db: psycopg.Connection) -> None:
    ids = _add(db, "a", 5)
    before = {j["id"]: j for j in jobs(db)}
    _limits(db, "a", max_running=2)
    assert _claim(db, ["a"], batch=100) == ids[:2]
    assert _claim(db, ["a"], batch=100, worker="w2") == []
    for job_id in ids[2:]:
        after = job(db, job_id)
        assert (after["attempts"], after["locked_at"]) == (0, None)
        assert after["run_at"] == before[job_id]["run_at"]
    report_jobs(db, "w", completed_job_ids=ids[:1])
    assert _claim(db, ["a"], batch=100, worker="w2") == ids[2:3]
    assert _claim(db, ["a"], batch=100, worker="w2") == []


def _release_by_report_completed(db: psycopg.Connection, job_id: int) -> None:
    assert report_jobs(db, "w", completed_job_ids=[job_id])[job_id]["outcome"] == "completed"


def _release_by_report_failed(db: psycopg.Connection, job_id: int) -> None:
    out = report_jobs(db, "w", failures=[{"id": job_id, "message": "x", "retry_delay": 0}])
    assert out[job_id]["outcome"] == "failed"


def _release_by_return_jobs(db: psycopg.Connection, job_id: int) -> None:
    assert call_scalar(db, "return_jobs", "w", [job_id]) == 1


def _release_by_reset_locked(db: psycopg.Connection, job_id: int) -> None:
    assert scalar(db, "select graphile_worker.reset_locked(interval '0',"
                      " now() + interval '1 second')") == 1


def _release_by_recover_stale_workers(db: psycopg.Connection, job_id: int) -> None:
    [swept] = rows(db, "select * from graphile_worker.recover_stale_workers("
                       "now => now() + interval '2 minutes')")
    assert (swept["worker_id"], swept["jobs_recovered"]) == ("w", 1)


def _release_by_force_unlock_workers(db: psycopg.Connection, job_id: int) -> None:
    call(db, "force_unlock_workers", ["w"])


RELEASES = [
    _release_by_report_completed,
    _release_by_report_failed,
    _release_by_return_jobs,
    _release_by_reset_locked,
    _release_by_recover_stale_workers,
    _release_by_force_unlock_workers,
]


@pytest.mark.parametrize("release", RELEASES, ids=lambda f: f.__name__.removeprefix("_release_by_"))
def test_max_running_slot_is_freed_by_every_way_a_job_is_released(
    db: psycopg.Connection, release: Callable[[psycopg.Connection, int], None]
) -> None:
    db.execute("select graphile_worker.register_worker('w', interval '1 minute')")
    ids = _add(db, "a", 3)
    _limits(db, "a", max_running=1)
    later = _t0(db)
    [first] = _claim(db, ["a"])
    assert _claim(db, ["a"], worker="w2", now=later) == []
    release(db, first)
    assert {j["locked_by"] for j in jobs(db)} == {None}
    [second] = _claim(db, ["a"], worker="w2", now=later)
    assert second in ids
    assert _claim(db, ["a"], worker="w3", now=later) == []


def test_max_running_counts_the_jobs_running_when_it_is_set(db: psycopg.Connection) -> None:
    ids = _add(db, "a", 6)
    assert _claim(db, ["a"], batch=2) == ids[:2]
    _limits(db, "a", max_running=3)
    assert [c["running"] for c in _controls(db)] == [2]
    assert _claim(db, ["a"], worker="w2") == ids[2:3]
    assert [c["running"] for c in _controls(db)] == [3]
    report_jobs(db, "w", completed_job_ids=ids[:2])
    assert _claim(db, ["a"], worker="w2") == ids[3:5]


def test_max_running_counts_named_queue_jobs(db: psycopg.Connection) -> None:
    queued = [_add(db, "a", queue_name=f"q{i}")[0] for i in range(3)]
    plain = _add(db, "a", 2)
    _limits(db, "a", max_running=2)
    assert _claim(db, ["a"]) == queued[:2]
    assert _claim(db, ["a"], worker="w2") == []
    report_jobs(db, "w", completed_job_ids=queued[:1])
    assert _claim(db, ["a"], worker="w2") == queued[2:3]
    assert _claim(db, ["a"], worker="w3") == []
    assert all(job(db, i)["attempts"] == 0 for i in plain)


def test_rate_limit_counts_named_queue_jobs(db: psycopg.Connection) -> None:
    queued = [_add(db, "a", queue_name=f"q{i}")[0] for i in range(3)]
    plain = _add(db, "a")
    _limits(db, "a", rate_limit=2, rate_period="1 minute")
    t0 = _t0(db)
    assert _claim(db, ["a"], now=t0) == queued[:2]
    report_jobs(db, "w", completed_job_ids=queued[:2], now=t0)
    assert _claim(db, ["a"], now=t0 + timedelta(seconds=30)) == []
    assert _claim(db, ["a"], now=t0 + timedelta(seconds=62)) == [queued[2], *plain]


def test_limits_of_one_task_do_not_limit_other_tasks_in_the_same_claim(
    db: psycopg.Connection,
) -> None:
    a = _add(db, "a", 3) + _add(db, "a", queue_name="qa")
    b = _add(db, "b", 3) + _add(db, "b", queue_name="qb")
    _limits(db, "a", max_running=1)
    _limits(db, "c", rate_limit=1, rate_period="1 hour")  # a limited task with no jobs
    # a's jobs come first; once it has its one, b's fill the batch
    assert _claim(db, ["a", "b", "c"], batch=3) == [a[0], b[0], b[1]]
    assert sorted(_claim(db, ["a", "b", "c"])) == b[2:]


def test_rate_limit_caps_starts_within_a_period_then_allows_more(db: psycopg.Connection) -> None:
    ids = _add(db, "a", 10)
    _limits(db, "a", rate_limit=3, rate_period="1 minute")
    t0 = _t0(db)
    assert _claim(db, ["a"], batch=2, now=t0) == ids[:2]
    assert _claim(db, ["a"], now=t0 + timedelta(seconds=10)) == ids[2:3]
    # finishing jobs does not give starts back
    report_jobs(db, "w", completed_job_ids=ids[:3], now=t0 + timedelta(seconds=11))
    assert _claim(db, ["a"], now=t0 + timedelta(seconds=30)) == []
    assert _claim(db, ["a"], now=t0 + timedelta(seconds=59)) == []
    for job_id in ids[3:]:
        assert (job(db, job_id)["attempts"], job(db, job_id)["locked_at"]) == (0, None)
    # a period (and the slot it was counted in) after the first two starts, they no longer count
    assert _claim(db, ["a"], now=t0 + timedelta(seconds=62)) == ids[3:5]
    assert _claim(db, ["a"], now=t0 + timedelta(seconds=65)) == []
    assert _claim(db, ["a"], now=t0 + timedelta(seconds=72)) == ids[5:6]


def test_rate_limit_and_max_running_together_take_the_smaller_allowance(
    db: psycopg.Connection,
) -> None:
    ids = _add(db, "a", 10)
    _limits(db, "a", max_running=2, rate_limit=3, rate_period="1 minute")
    t0 = _t0(db)
    assert _claim(db, ["a"], now=t0) == ids[:2]
    report_jobs(db, "w", completed_job_ids=ids[:2], now=t0)
    assert _claim(db, ["a"], now=t0 + timedelta(seconds=1)) == ids[2:3]
    report_jobs(db, "w", completed_job_ids=ids[2:3], now=t0)
    assert _claim(db, ["a"], now=t0 + timedelta(seconds=2)) == []


def test_rate_limited_claims_keep_the_order_of_waiting_jobs(db: psycopg.Connection) -> None:
    base = scalar(db, "select now() - interval '1 hour'")
    specs = [(0, 30), (-1, 50), (0, 10), (5, 0), (0, 30), (-1, 40)]
    ids = [_add(db, "a", priority=p, run_at=base + timedelta(minutes=m))[0] for p, m in specs]
    expected = [i for *_, i in sorted((p, m, i) for (p, m), i in zip(specs, ids, strict=True))]
    _limits(db, "a", rate_limit=2, rate_period="1 minute")
    t0 = _t0(db)
    claimed = []
    for k in range(3):
        got = _claim(db, ["a"], now=t0 + timedelta(seconds=62 * k))
        assert len(got) == 2
        claimed += got
    assert claimed == expected


def test_next_job_due_at_is_when_the_rate_window_frees_a_start(db: psycopg.Connection) -> None:
    ids = _add(db, "a", 3)
    _limits(db, "a", rate_limit=1, rate_period="1 minute")
    t0 = _t0(db)
    assert call_scalar(db, "next_job_due_at", ["a"], now=t0) is None
    assert _claim(db, ["a"], now=t0) == ids[:1]
    due = call_scalar(db, "next_job_due_at", ["a"], now=t0 + timedelta(seconds=1))
    assert t0 + timedelta(seconds=60) <= due <= t0 + timedelta(seconds=61)
    assert _claim(db, ["a"], now=due - MICROSECOND) == []
    assert _claim(db, ["a"], now=due) == ids[1:2]
    # an earlier job of another task still comes first; a paused task's window is ignored
    _add(db, "b", run_at=t0 + timedelta(seconds=70))
    at = t0 + timedelta(seconds=65)
    due2 = call_scalar(db, "next_job_due_at", ["a", "b"], now=at)
    assert due2 == t0 + timedelta(seconds=70)
    call_scalar(db, "pause_tasks", ["b"])
    assert call_scalar(db, "next_job_due_at", ["a", "b"], now=at) > due2
    call_scalar(db, "pause_tasks", ["a"])
    assert call_scalar(db, "next_job_due_at", ["a", "b"], now=at) is None


@pytest.mark.parametrize(("claimed_at_ms", "frees_at_us"), [
    (20, 1_033_334),  # slot 60 * t0 + 1 ends at t0 + 2/60 s: between two microseconds
    (40, 1_050_000),  # slot 60 * t0 + 2 ends at t0 + 3/60 s = t0 + 50 ms exactly
])
def test_next_job_due_at_of_a_sub_second_rate_slot_admits_a_claim(
    db: psycopg.Connection, claimed_at_ms: int, frees_at_us: int
) -> None:
    """A one-second period counts starts in slots of 1/60 s. The time next_job_due_at returns
    must be one at which get_jobs claims again: the first microsecond at or after the end of
    the window of the slot counted."""
    ids = _add(db, "a", 3)
    _limits(db, "a", rate_limit=1, rate_period="1 second")
    t0 = _t0(db)
    assert _claim(db, ["a"], now=t0 + timedelta(milliseconds=claimed_at_ms)) == ids[:1]
    due = call_scalar(db, "next_job_due_at", ["a"], now=t0 + timedelta(milliseconds=500))
    assert t0 + timedelta(seconds=1) < due <= t0 + timedelta(microseconds=frees_at_us)
    assert _claim(db, ["a"], now=due) == ids[1:2], (
        f"next_job_due_at said {due}, but get_jobs claims nothing then")


def test_flow_controls_shows_running_jobs_and_recent_starts(db: psycopg.Connection) -> None:
    ids = _add(db, "a", 4)
    _limits(db, "a", max_running=2, rate_limit=5, rate_period="1 hour")
    _limits(db, "r", rate_limit=1, rate_period="10 seconds")
    assert _claim(db, ["a"]) == ids[:2]
    report_jobs(db, "w", completed_job_ids=ids[:1])
    [a, r] = _controls(db)
    assert (a["kind"], a["name"], a["paused"]) == ("task", "a", False)
    assert (a["max_running"], a["running"]) == (2, 1)
    assert (a["rate_limit"], a["rate_period"], a["starts"]) == (5, timedelta(hours=1), 2)
    assert (r["name"], r["max_running"], r["running"], r["starts"]) == ("r", None, None, 0)
    assert _claim(db, ["a"]) == ids[2:3]
    assert [(c["running"], c["starts"]) for c in _controls(db)] == [(2, 3), (None, 0)]


def test_set_task_limits_with_nulls_removes_the_limits(db: psycopg.Connection) -> None:
    ids = _add(db, "a", 4)
    _limits(db, "a", max_running=1, rate_limit=1, rate_period="1 day")
    assert _claim(db, ["a"]) == ids[:1]
    assert _claim(db, ["a"]) == []
    _limits(db, "a")
    assert _controls(db) == []
    assert _claim(db, ["a"]) == ids[1:]


def test_set_task_limits_keeps_the_starts_counted_when_the_period_stays(
    db: psycopg.Connection,
) -> None:
    ids = _add(db, "a", 6)
    _limits(db, "a", rate_limit=2, rate_period="1 minute")
    t0 = _t0(db)
    assert _claim(db, ["a"], now=t0) == ids[:2]
    _limits(db, "a", max_running=10, rate_limit=3, rate_period="1 minute")
    assert _claim(db, ["a"], now=t0 + timedelta(seconds=5)) == ids[2:3]
    # a new period starts counting afresh
    _limits(db, "a", rate_limit=1, rate_period="2 minutes")
    assert _claim(db, ["a"], now=t0 + timedelta(seconds=6)) == ids[3:4]
    assert _claim(db, ["a"], now=t0 + timedelta(seconds=7)) == []


# --- cancel -------------------------------------------------------------------------------------


def test_cancel_jobs_deletes_waiting_and_scheduled_jobs_and_records_them(
    db: psycopg.Connection,
) -> None:
    _keep_history(db)
    [waiting] = _add(db, "a", payload={"n": 1})
    [scheduled] = _add(db, "a", run_at=scalar(db, "select now() + interval '1 hour'"))
    [queued] = _add(db, "a", queue_name="q")
    [kept] = _add(db, "a")
    assert _cancel(db, [scheduled, waiting, queued]) == [
        (scheduled, True, "scheduled"), (waiting, True, "waiting"), (queued, True, "waiting")]
    assert [j["id"] for j in jobs(db)] == [kept]
    finished = _finished(db)
    assert sorted(finished) == [waiting, scheduled, queued]
    assert {f["outcome"] for f in finished.values()} == {"cancelled"}
    assert finished[waiting]["payload"] == {"n": 1}
    assert finished[queued]["queue_name"] == "q"
    for job_id in (waiting, scheduled, queued):
        assert _status(db, job_id) == "cancelled"
    assert _cancel_requests(db) == []
    assert _claim(db, ["a"]) == [kept]


def test_cancel_jobs_without_a_retention_deletes_and_records_nothing(
    db: psycopg.Connection,
) -> None:
    [waiting] = _add(db, "a")
    assert _cancel(db, [waiting]) == [(waiting, True, "waiting")]
    assert jobs(db) == []
    assert _finished(db) == {}
    assert _status(db, waiting) == "unknown"


def test_cancel_jobs_marks_a_running_job_which_is_never_claimed_again(
    db: psycopg.Connection,
) -> None:
    _keep_history(db)
    [running] = _add(db, "a", max_attempts=5)
    assert _claim(db, ["a"]) == [running]
    assert _cancel(db, [running]) == [(running, True, "running")]
    stored = job(db, running)
    assert stored["locked_by"] == "w"
    assert (stored["attempts"], stored["max_attempts"]) == (5, 5)
    assert _status(db, running) == "running"
    assert _cancel_requests(db) == [running]
    assert _cancel(db, [running]) == [(running, False, "cancelling")]
    # whatever happens to its lock, it never runs again
    db.execute("update graphile_worker._private_jobs set locked_at = null, locked_by = null"
               " where id = %s", (running,))
    assert _claim(db, ["a"], now=_t0(db) + timedelta(days=30)) == []


@pytest.mark.parametrize("outcome", ["completed", "failed", "failed_permanently", "snoozed"])
def test_report_of_a_cancelled_job_ends_it_as_cancelled(
    db: psycopg.Connection, outcome: str
) -> None:
    _keep_history(db)
    [running] = _add(db, "a")
    assert _claim(db, ["a"]) == [running]
    _cancel(db, [running])
    failure: dict[str, Any] = {"id": running, "message": "boom"}
    if outcome == "failed_permanently":
        failure["permanent"] = True
    if outcome == "snoozed":
        failure.update(snooze=True, retry_delay=5)
    if outcome == "completed":
        out = report_jobs(db, "w", completed_job_ids=[running], results=[{"r": 1}])
    else:
        out = report_jobs(db, "w", failures=[failure])
    assert out == {running: {"job_id": running, "outcome": "cancelled", "attempts": None,
                             "max_attempts": None, "run_at": None}}
    assert jobs(db) == []
    assert _status(db, running) == "cancelled"
    stored = _finished(db)[running]
    assert (stored["outcome"], stored["worker_id"], stored["result"]) == ("cancelled", "w", None)
    assert _cancel_requests(db) == []


def test_report_of_a_cancelled_job_by_another_worker_is_lost(db: psycopg.Connection) -> None:
    [running] = _add(db, "a")
    _claim(db, ["a"])
    _cancel(db, [running])
    assert report_jobs(db, "other", completed_job_ids=[running])[running]["outcome"] == "lost"
    assert job(db, running)["locked_by"] == "w"
    assert _cancel_requests(db) == [running]


def test_return_jobs_of_a_cancelled_job_ends_it_as_cancelled(db: psycopg.Connection) -> None:
    _keep_history(db)
    [running, other] = _add(db, "a", 2)
    assert _claim(db, ["a"]) == [running, other]
    _cancel(db, [running])
    assert call_scalar(db, "return_jobs", "w", [running, other]) == 2
    assert [(j["id"], j["attempts"], j["locked_by"]) for j in jobs(db)] == [(other, 0, None)]
    assert _status(db, running) == "cancelled"
    assert _cancel_requests(db) == []


def _sweep_reset_locked(db: psycopg.Connection) -> None:
    assert scalar(db, "select graphile_worker.reset_locked(interval '0',"
                      " now() + interval '1 second')") == 2


def _sweep_recover_stale_workers(db: psycopg.Connection) -> None:
    [swept] = rows(db, "select * from graphile_worker.recover_stale_workers("
                       "now => now() + interval '2 minutes')")
    assert swept["worker_id"] == "w"


def _sweep_force_unlock_workers(db: psycopg.Connection) -> None:
    call(db, "force_unlock_workers", ["w"])


@pytest.mark.parametrize(
    "sweep", [_sweep_reset_locked, _sweep_recover_stale_workers, _sweep_force_unlock_workers],
    ids=lambda f: f.__name__.removeprefix("_sweep_"))
def test_a_sweep_of_a_cancelled_job_ends_it_as_cancelled(
    db: psycopg.Connection, sweep: Callable[[psycopg.Connection], None]
) -> None:
    _keep_history(db)
    db.execute("select graphile_worker.register_worker('w', interval '1 minute')")
    [cancelled] = _add(db, "a", queue_name="q")
    [other] = _add(db, "a")
    assert sorted(_claim(db, ["a"])) == [cancelled, other]
    _cancel(db, [cancelled])
    sweep(db)
    assert [(j["id"], j["locked_by"]) for j in jobs(db)] == [(other, None)]
    assert _status(db, cancelled) == "cancelled"
    assert _finished(db)[cancelled]["outcome"] == "cancelled"
    assert _cancel_requests(db) == []
    assert [q["locked_by"] for q in job_queues(db)] == [None]


def test_cancel_jobs_leaves_failed_and_unknown_ids_alone_in_the_order_given(
    db: psycopg.Connection,
) -> None:
    [failed] = _add(db, "a", max_attempts=1)
    _claim(db, ["a"])
    report_jobs(db, "w", failures=[{"id": failed, "message": "for good"}])
    [waiting] = _add(db, "a")
    missing = waiting + 1000
    assert _cancel(db, [missing, failed, waiting, missing]) == [
        (missing, False, "unknown"), (failed, False, "failed"), (waiting, True, "waiting"),
        (missing, False, "unknown")]
    assert [j["id"] for j in jobs(db)] == [failed]
    assert job(db, failed)["last_error"] == "for good"


def test_cancel_jobs_cancels_retrying_jobs_and_a_stale_locked_one(
    db: psycopg.Connection,
) -> None:
    """A retrying job is reported retrying, as job_status says, due or not, and cancelled; a
    job whose lock is older than _private_lock_expiry() is not running: it is
    cancelled at once, and a stale job being cancelled stays cancelling."""
    _keep_history(db)
    due, later, stale, stale_cancelling = _add(db, "a", 4, max_attempts=5)
    assert _claim(db, ["a"]) == [due, later, stale, stale_cancelling]
    report_jobs(db, "w", failures=[{"id": due, "message": "x", "retry_delay": 0},
                                   {"id": later, "message": "x", "retry_delay": 3600}])
    _cancel(db, [stale_cancelling])
    db.execute("update graphile_worker._private_jobs set locked_at = now()"
               " - graphile_worker._private_lock_expiry() - interval '1 minute'"
               " where id = any(%s)", [[stale, stale_cancelling]])
    assert _cancel(db, [later, stale_cancelling, due, stale]) == [
        (later, True, "retrying"), (stale_cancelling, False, "cancelling"),
        (due, True, "retrying"), (stale, True, "retrying")]
    assert [j["id"] for j in jobs(db)] == [stale_cancelling]
    assert {i: f["outcome"] for i, f in _finished(db).items()} == {
        due: "cancelled", later: "cancelled", stale: "cancelled"}
    assert _cancel_requests(db) == [stale_cancelling]


def test_report_jobs_keeps_the_results_of_the_jobs_not_cancelled(db: psycopg.Connection) -> None:
    _keep_history(db)
    a, b, c, d = _add(db, "a", 4)
    assert _claim(db, ["a"]) == [a, b, c, d]
    _cancel(db, [b])
    out = report_jobs(db, "w", completed_job_ids=[a, b, c], results=[{"r": "a"}, {"r": "b"}, None],
                      failures=[{"id": d, "message": "again"}])
    assert {i: r["outcome"] for i, r in out.items()} == {
        a: "completed", b: "cancelled", c: "completed", d: "failed"}
    finished = _finished(db)
    assert (finished[a]["outcome"], finished[a]["result"]) == ("completed", {"r": "a"})
    assert (finished[b]["outcome"], finished[b]["result"]) == ("cancelled", None)
    assert (finished[c]["outcome"], finished[c]["result"]) == ("completed", None)
    assert [(j["id"], j["last_error"]) for j in jobs(db)] == [(d, "again")]


def test_reported_cancelled_queue_job_unlocks_its_queue(db: psycopg.Connection) -> None:
    first, second = _add(db, "a", 2, queue_name="q")
    assert _claim(db, ["a"]) == [first]
    _cancel(db, [first])
    assert _claim(db, ["a"], worker="w2") == []
    assert report_jobs(db, "w", completed_job_ids=[first])[first]["outcome"] == "cancelled"
    assert [q["locked_by"] for q in job_queues(db)] == [None]
    assert _claim(db, ["a"], worker="w2") == [second]


def test_cancel_jobs_by_key_cancels_the_jobs_holding_the_keys(db: psycopg.Connection) -> None:
    [running] = _add(db, "a", job_key="k2")
    assert _claim(db, ["a"]) == [running]
    [waiting] = _add(db, "a", job_key="k1")
    got = call(db, "cancel_jobs_by_key", ["k1", "nokey", "k2"])
    assert [(r["job_key"], r["job_id"], r["cancelled"], r["state"]) for r in got] == [
        ("k1", waiting, True, "waiting"), ("nokey", None, False, "unknown"),
        ("k2", running, True, "running")]
    assert [j["id"] for j in jobs(db)] == [running]
    assert _cancel_requests(db) == [running]
    got = call(db, "cancel_jobs_by_key", ["k1", "k3"])
    assert [(r["job_key"], r["job_id"], r["cancelled"], r["state"]) for r in got] == [
        ("k1", None, False, "unknown"), ("k3", None, False, "unknown")]


# --- bad input ----------------------------------------------------------------------------------

NAME_129 = "n" * 129

BAD = [
    ("pause_tasks-empty", "select graphile_worker.pause_tasks(array[]::text[])"),
    ("pause_tasks-null", "select graphile_worker.pause_tasks(null)"),
    ("pause_tasks-null-name", "select graphile_worker.pause_tasks(array['ok', null])"),
    ("pause_tasks-empty-name", "select graphile_worker.pause_tasks(array['ok', ''])"),
    ("pause_tasks-long-name", f"select graphile_worker.pause_tasks(array['{NAME_129}'])"),
    ("resume_tasks-empty", "select graphile_worker.resume_tasks(array[]::text[])"),
    ("resume_tasks-null-name", "select graphile_worker.resume_tasks(array['held', null])"),
    ("pause_queues-null", "select graphile_worker.pause_queues(null)"),
    ("pause_queues-long-name", f"select graphile_worker.pause_queues(array['{NAME_129}'])"),
    ("resume_queues-empty-name", "select graphile_worker.resume_queues(array['hq', ''])"),
    ("limits-null-task", "select graphile_worker.set_task_limits(null, 1, null, null)"),
    ("limits-empty-task", "select graphile_worker.set_task_limits('', 1, null, null)"),
    ("limits-long-task", f"select graphile_worker.set_task_limits('{NAME_129}', 1, null, null)"),
    ("limits-max-running-0", "select graphile_worker.set_task_limits('lim', 0, null, null)"),
    ("limits-max-running-negative",
     "select graphile_worker.set_task_limits('lim', -3, null, null)"),
    ("limits-rate-without-period", "select graphile_worker.set_task_limits('lim', null, 5, null)"),
    ("limits-period-without-rate",
     "select graphile_worker.set_task_limits('lim', null, null, '1 minute')"),
    ("limits-rate-0", "select graphile_worker.set_task_limits('lim', null, 0, '1 minute')"),
    ("limits-period-0", "select graphile_worker.set_task_limits('lim', null, 5, '0')"),
    ("limits-period-negative", "select graphile_worker.set_task_limits('lim', null, 5, '-1 minute')"),
    ("limits-period-over-7-days",
     "select graphile_worker.set_task_limits('lim', null, 5, '7 days 1 second')"),
    ("cancel-empty", "select * from graphile_worker.cancel_jobs(array[]::bigint[])"),
    ("cancel-null", "select * from graphile_worker.cancel_jobs(null)"),
    ("cancel-null-id", "select * from graphile_worker.cancel_jobs(array[{job}, null])"),
    ("cancel-by-key-empty", "select * from graphile_worker.cancel_jobs_by_key(array[]::text[])"),
    ("cancel-by-key-null", "select * from graphile_worker.cancel_jobs_by_key(null)"),
    ("cancel-by-key-null-key",
     "select * from graphile_worker.cancel_jobs_by_key(array['k', null])"),
    ("cancel-10001-ids",
     "select * from graphile_worker.cancel_jobs(array(select generate_series(1, 10001)::bigint))"),
    ("cancel-by-key-10001-keys", "select * from graphile_worker.cancel_jobs_by_key("
     "array(select 'k' || g from generate_series(0, 10000) as g))"),
]


@pytest.mark.parametrize(("case", "sql"), BAD, ids=[c for c, _ in BAD])
def test_bad_input_is_gwf01_with_detail_and_hint_and_changes_nothing(
    db: psycopg.Connection, case: str, sql: str
) -> None:
    [job_id] = _add(db, "lim", job_key="k")
    _claim(db, ["lim"])
    _limits(db, "lim", max_running=2, rate_limit=3, rate_period="1 hour")
    call_scalar(db, "pause_tasks", ["held"])
    call_scalar(db, "pause_queues", ["hq"])
    before = snapshot(db)
    with pytest.raises(psycopg.Error) as exc:
        db.execute(sql.replace("{job}", str(job_id)))
    assert exc.value.sqlstate == "GWF01", (case, exc.value)
    assert exc.value.diag.message_detail, case
    assert exc.value.diag.message_hint, case
    assert snapshot(db) == before


@pytest.mark.parametrize(("sql", "message"), [
    ("select graphile_worker.pause_tasks(array[]::text[])",
     "pause_tasks: pass at least one task, not an empty array"),
    ("select graphile_worker.pause_queues(array['q', null])",
     "pause_queues: a queue name must be 1 to 128 characters, not null"),
    ("select graphile_worker.set_task_limits('t', 0, null, null)",
     "set_task_limits: max_running must be 1 or more, not 0"),
    ("select graphile_worker.set_task_limits('t', null, 5, null)",
     "set_task_limits: rate_limit and rate_period go together"),
    ("select graphile_worker.set_task_limits('t', null, 5, '8 days')",
     "set_task_limits: rate_period must be from 1 second to 7 days, not 8 days"),
    ("select * from graphile_worker.cancel_jobs(array[null]::bigint[])",
     "cancel_jobs: pass at least one job id, and no null"),
    ("select * from graphile_worker.cancel_jobs(array(select generate_series(1, 10001)::bigint))",
     "cancel_jobs: at most 10000 job ids per call, not 10001"),
    ("select * from graphile_worker.cancel_jobs_by_key("
     "array(select 'k' || g from generate_series(1, 10002) as g))",
     "cancel_jobs_by_key: at most 10000 job keys per call, not 10002"),
], ids=["empty-array", "null-name", "max-running-0", "rate-without-period", "period-8-days",
        "null-id", "10001-ids", "10002-keys"])
def test_bad_input_messages_name_the_function_and_the_fault(
    db: psycopg.Connection, sql: str, message: str
) -> None:
    with pytest.raises(psycopg.Error) as exc:
        db.execute(sql)
    assert exc.value.diag.message_primary == message


def test_cancel_jobs_takes_10000_ids_and_cancel_jobs_by_key_10000_keys(
    db: psycopg.Connection,
) -> None:
    [waiting] = _add(db, "a", job_key="k1")
    ids = scalar(db, "select array(select generate_series(1, 10000)::bigint)")
    out = _cancel(db, ids)
    assert len(out) == 10000 and [r for r in out if r[1]] == [(waiting, True, "waiting")]
    [keyed] = _add(db, "a", job_key="k1")
    got = call(db, "cancel_jobs_by_key", [f"k{n}" for n in range(1, 10001)])
    assert len(got) == 10000 and [(r["job_id"], r["state"]) for r in got if r["cancelled"]] == [
        (keyed, "waiting")]


def test_names_of_128_characters_and_limits_at_the_bounds_are_accepted(
    db: psycopg.Connection,
) -> None:
    name = "n" * 128
    assert call_scalar(db, "pause_tasks", [name]) == [name]
    assert call_scalar(db, "pause_queues", [name]) == [name]
    _limits(db, name, max_running=1, rate_limit=1, rate_period="1 second")
    _limits(db, name, max_running=1, rate_limit=1, rate_period="7 days")
    [control] = [c for c in _controls(db) if c["kind"] == "task"]
    assert (control["max_running"], control["rate_period"]) == (1, timedelta(days=7))
