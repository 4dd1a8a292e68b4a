"""NOTIFY on channel jobs:insert: payload {"r":<number>,"count":n} (reference section 3)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import psycopg
from helpers import add_job, add_jobs, call, get_jobs, report_jobs

SENTINEL = "sentinel"


def _listen(connect: Callable[..., psycopg.Connection]) -> psycopg.Connection:
    listener = connect()
    listener.execute('listen "jobs:insert"')
    return listener


def _received(db: psycopg.Connection, listener: psycopg.Connection) -> list[dict[str, Any]]:
    """Every payload the listener got, up to a sentinel notification sent after the action
    (notifications arrive in commit order, so nothing sent before it can come later)."""
    db.execute("select pg_notify('jobs:insert', %s)", [SENTINEL])
    payloads = []
    for n in listener.notifies(timeout=5):
        assert n.channel == "jobs:insert"
        if n.payload == SENTINEL:
            return payloads
        payloads.append(json.loads(n.payload))
    raise AssertionError(f"sentinel not received; got {payloads}")


def _assert_shape(payload: dict[str, Any], count: int) -> None:
    assert sorted(payload) == ["count", "r"]
    assert isinstance(payload["r"], float) and 0 <= payload["r"] < 1
    assert payload["count"] == count


def test_notify_add_job_sends_count_1(db: psycopg.Connection, connect: Any) -> None:
    listener = _listen(connect)
    add_job(db, "job1")
    add_job(db, "job1", job_key="k")
    add_job(db, "job1", job_key="k2", job_key_mode="unsafe_dedupe")
    got = _received(db, listener)
    assert len(got) == 3
    for p in got:
        _assert_shape(p, 1)
    # r is random, so two notifications in one transaction are not folded into one.
    assert len({p["r"] for p in got}) == 3


def test_notify_add_jobs_sends_count_of_specs(db: psycopg.Connection, connect: Any) -> None:
    listener = _listen(connect)
    add_jobs(db, [{"identifier": "job1"}, {"identifier": "job2"}, {"identifier": "job1"}])
    [payload] = _received(db, listener)
    _assert_shape(payload, 3)


def test_notify_unsafe_dedupe_duplicate_sends_nothing(db: psycopg.Connection, connect: Any) -> None:
    add_job(db, "job1", job_key="k", job_key_mode="unsafe_dedupe")
    listener = _listen(connect)
    add_job(db, "job1", job_key="k", job_key_mode="unsafe_dedupe")
    assert _received(db, listener) == []


def test_notify_remove_job_sends_count_minus_1(db: psycopg.Connection, connect: Any) -> None:
    add_job(db, "job1", job_key="k")
    listener = _listen(connect)
    call(db, "remove_job", "k")
    [payload] = _received(db, listener)
    _assert_shape(payload, -1)


def test_notify_sent_at_commit_only(db: psycopg.Connection, connect: Any) -> None:
    listener = _listen(connect)
    with db.transaction(force_rollback=True):
        add_job(db, "job1")
    assert _received(db, listener) == []


def test_notify_not_sent_by_other_functions(db: psycopg.Connection, connect: Any) -> None:
    a = add_job(db, "job1")
    b = add_job(db, "job1")
    c = add_job(db, "job1", job_key="k")
    assert a is not None and b is not None and c is not None
    listener = _listen(connect)
    get_jobs(db, "w", ["job1"], batch_size=2)
    report_jobs(db, "w", completed_job_ids=[a["id"]], failures=[{"id": b["id"], "message": "x"}])
    call(db, "reschedule_jobs", [b["id"]], priority=1)
    call(db, "permanently_fail_jobs", [b["id"]])
    call(db, "complete_jobs", [b["id"]])
    call(db, "remove_job", "no-such-key")
    assert _received(db, listener) == []
