"""The finished-jobs store (docs/history.md): retention, what report_jobs and the admin
functions record, results and their cap, the errors of every attempt, job_status through a
job's whole life, pruning, and the watches that make a finish notify."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from helpers import add_job, call, call_scalar, get_jobs, job, report_jobs, rows, scalar, snapshot

CAP = 65536


def _status(db: psycopg.Connection, job_id: int | None, **kwargs: Any) -> dict[str, Any]:
    [row] = call(db, "job_status", job_id, **kwargs)
    return row


def _finished(db: psycopg.Connection) -> list[dict[str, Any]]:
    return rows(db, "select * from graphile_worker.finished_jobs order by id")


def _keep(db: psycopg.Connection, task: str | None, keep: str) -> None:
    db.execute("select graphile_worker.set_retention(%s, %s::interval)", (task, keep))


def _claim(db: psycopg.Connection, task: str = "t", worker: str = "w1", **kw: Any) -> int:
    claimed = get_jobs(db, worker, [task], **kw)
    assert len(claimed) == 1, claimed
    return int(claimed[0]["id"])


def _due(db: psycopg.Connection, job_id: int) -> None:
    db.execute(
        "update graphile_worker._private_jobs set run_at = now() - interval '1 second'"
        " where id = %s", (job_id,))


# -- off by default -------------------------------------------------------------------------------

def test_nothing_is_recorded_without_a_retention(db: psycopg.Connection) -> None:
    row = add_job(db, "t")
    assert row
    job_id = _claim(db)
    out = report_jobs(db, "w1", completed_job_ids=[job_id], results=[{"x": 1}])
    assert out[job_id]["outcome"] == "completed"
    assert _finished(db) == []
    assert _status(db, job_id)["state"] == "unknown"
    assert scalar(db, "select count(*) from graphile_worker._private_attempt_errors") == 0


# -- a job's whole life ---------------------------------------------------------------------------

def test_states_from_waiting_to_completed(db: psycopg.Connection) -> None:
    _keep(db, None, "1 day")
    waiting = add_job(db, "t", payload={"n": 1})
    scheduled = add_job(db, "t", run_at="2999-01-01T00:00:00Z")
    assert waiting and scheduled
    assert _status(db, waiting["id"])["state"] == "waiting"
    assert _status(db, scheduled["id"])["state"] == "scheduled"
    assert _status(db, scheduled["id"])["run_at"].year == 2999

    _claim(db)
    running = _status(db, waiting["id"])
    assert (running["state"], running["attempts"]) == ("running", 1)

    report_jobs(db, "w1", failures=[{"id": waiting["id"], "message": "first"}])
    retrying = _status(db, waiting["id"])
    assert retrying["state"] == "retrying"
    assert retrying["last_error"] == "first"
    [entry] = retrying["errors"]
    assert (entry["attempt"], entry["error"], entry["worker_id"]) == (1, "first", "w1")
    assert entry["started_at"] and entry["failed_at"]

    _due(db, waiting["id"])
    _claim(db)
    report_jobs(db, "w1", completed_job_ids=[waiting["id"]], results=[{"sent": True}])
    done = _status(db, waiting["id"])
    assert done["state"] == "completed"
    assert done["result"] == {"sent": True}
    assert done["attempts"] == 2
    assert [e["error"] for e in done["errors"]] == ["first"]
    assert done["finished_at"] is not None and done["task_identifier"] == "t"
    [stored] = _finished(db)
    assert stored["outcome"] == "completed" and stored["payload"] == {"n": 1}
    assert stored["worker_id"] == "w1"
    assert stored["first_started_at"] == datetime.fromisoformat(entry["started_at"])
    assert stored["run_time"] is not None
    # the attempt errors moved into the finished row
    assert scalar(db, "select count(*) from graphile_worker._private_attempt_errors") == 0


def test_failed_for_good_is_recorded_and_stays_in_the_queue(db: psycopg.Connection) -> None:
    _keep(db, None, "1 day")
    row = add_job(db, "t", max_attempts=2)
    assert row
    for n in (1, 2):
        _due(db, row["id"])
        _claim(db)
        out = report_jobs(db, "w1", failures=[{"id": row["id"], "message": f"boom {n}"}])
    assert out[row["id"]]["outcome"] == "permanently_failed"
    status = _status(db, row["id"])
    assert status["state"] == "failed"
    assert status["last_error"] == "boom 2"
    assert [e["attempt"] for e in status["errors"]] == [1, 2]
    assert status["finished_at"] is not None
    [stored] = _finished(db)
    assert stored["outcome"] == "failed" and stored["last_error"] == "boom 2"
    assert job(db, row["id"])["attempts"] == 2  # graphile-worker keeps failed jobs

    # deleted by the cleanup: the record remains
    call(db, "delete_permanently_failed_jobs", None)
    assert _status(db, row["id"])["state"] == "failed"


def test_a_permanent_failure_and_an_admin_retry_replace_the_record(db: psycopg.Connection) -> None:
    _keep(db, None, "1 day")
    row = add_job(db, "t", max_attempts=1)
    assert row
    _claim(db)
    report_jobs(db, "w1", failures=[{"id": row["id"], "message": "no"}])
    assert _finished(db)[0]["outcome"] == "failed"
    call(db, "reschedule_jobs", [row["id"]], attempts=0,
         run_at=scalar(db, "select now() - interval '1 second'"))
    assert _status(db, row["id"])["state"] == "waiting"
    _claim(db)
    report_jobs(db, "w1", completed_job_ids=[row["id"]])
    [stored] = _finished(db)
    assert stored["outcome"] == "completed"
    assert [e["error"] for e in stored["errors"]] == ["no"]


def test_cancelled_by_remove_job(db: psycopg.Connection) -> None:
    _keep(db, None, "1 day")
    row = add_job(db, "t", job_key="k1", payload={"p": 1})
    assert row
    call(db, "remove_job", "k1")
    status = _status(db, row["id"])
    assert status["state"] == "cancelled"
    by_key = call(db, "job_status_by_key", "k1")[0]
    assert by_key["id"] == row["id"] and by_key["state"] == "cancelled"


def test_admin_complete_and_fail_are_recorded(db: psycopg.Connection) -> None:
    _keep(db, None, "1 day")
    a = add_job(db, "t")
    b = add_job(db, "t")
    assert a and b
    done = call(db, "complete_jobs", [a["id"]])
    assert [r["id"] for r in done] == [a["id"]]
    failed = call(db, "permanently_fail_jobs", [b["id"]], "stop")
    assert [r["last_error"] for r in failed] == ["stop"]
    outcomes = {r["id"]: (r["outcome"], r["worker_id"]) for r in _finished(db)}
    assert outcomes == {a["id"]: ("completed", None), b["id"]: ("failed", None)}


def test_unknown_ids_and_keys(db: psycopg.Connection) -> None:
    assert _status(db, 123456)["state"] == "unknown"
    assert _status(db, None)["state"] == "unknown"
    [row] = call(db, "job_status_by_key", "nope")
    assert row["id"] is None and row["state"] == "unknown"


def test_status_by_key_prefers_the_job_in_the_queue(db: psycopg.Connection) -> None:
    _keep(db, None, "1 day")
    first = add_job(db, "t", job_key="k")
    assert first
    _claim(db)
    report_jobs(db, "w1", completed_job_ids=[first["id"]])
    second = add_job(db, "t", job_key="k")
    assert second
    [row] = call(db, "job_status_by_key", "k")
    assert (row["id"], row["state"]) == (second["id"], "waiting")


# -- results ---------------------------------------------------------------------------------------

def test_results_none_values_and_the_size_cap(db: psycopg.Connection) -> None:
    _keep(db, None, "1 day")
    ids = [add_job(db, "t")["id"] for _ in range(5)]  # type: ignore[index]
    claimed = get_jobs(db, "w1", ["t"], batch_size=5)
    assert len(claimed) == 5
    big = "x" * (CAP + 10)
    results = [None, [1, "two"], "text", big, 3.5]
    out = report_jobs(db, "w1", completed_job_ids=ids, results=results)
    assert {r["outcome"] for r in out.values()} == {"completed"}
    stored = {r["id"]: r for r in _finished(db)}
    assert stored[ids[0]]["result"] is None and stored[ids[0]]["result_note"] is None
    assert stored[ids[1]]["result"] == [1, "two"]
    assert stored[ids[2]]["result"] == "text"
    assert stored[ids[3]]["result"] is None
    assert "over the cap of 65536 bytes" in stored[ids[3]]["result_note"]
    assert stored[ids[4]]["result"] == 3.5
    assert scalar(db, "select graphile_worker._private_result_cap()") == CAP


def test_a_result_jsonb_cannot_hold_is_dropped_not_an_error(db: psycopg.Connection) -> None:
    _keep(db, None, "1 day")
    row = add_job(db, "t")
    assert row
    _claim(db)
    out = rows(db, "select * from graphile_worker.report_jobs('w1', %s::bigint[], null,"
               " results => %s::json)", ([row["id"]], '["a\\u0000b"]'))
    assert out[0]["outcome"] == "completed"
    [stored] = _finished(db)
    assert stored["result"] is None and "cannot be stored as jsonb" in stored["result_note"]


@pytest.mark.parametrize("results", ['{"a": 1}', "[1, 2]", "[]"])
def test_results_must_align_with_the_completed_ids(db: psycopg.Connection, results: str) -> None:
    _keep(db, None, "1 day")
    row = add_job(db, "t")
    assert row
    _claim(db)
    before = snapshot(db)
    with pytest.raises(psycopg.Error) as err:
        db.execute("select * from graphile_worker.report_jobs('w1', %s::bigint[], null,"
                   " results => %s::json)", ([row["id"]], results))
    assert err.value.sqlstate == "GWA03"
    assert err.value.diag.message_detail and err.value.diag.message_hint
    assert snapshot(db) == before


# -- errors of every attempt -----------------------------------------------------------------------

def test_the_error_list_keeps_the_newest_25(db: psycopg.Connection) -> None:
    _keep(db, "t", "1 hour")
    row = add_job(db, "t", max_attempts=30)
    assert row
    for n in range(1, 28):
        _due(db, row["id"])
        _claim(db)
        report_jobs(db, "w1", failures=[{"id": row["id"], "message": f"e{n}"}])
    errors = _status(db, row["id"])["errors"]
    assert len(errors) == 25
    assert [e["attempt"] for e in errors] == list(range(3, 28))
    assert errors[-1]["error"] == "e27"


def test_a_lost_worker_attempt_is_recorded(db: psycopg.Connection) -> None:
    _keep(db, None, "1 day")
    row = add_job(db, "t", max_attempts=1)
    assert row
    db.execute("select graphile_worker.register_worker('lost', interval '1 second')")
    _claim(db, worker="lost")
    swept = call(db, "recover_stale_workers", now=scalar(db, "select now() + interval '1 hour'"))
    assert swept[0]["jobs_recovered"] == 1
    status = _status(db, row["id"])
    assert status["state"] == "failed"
    assert "was lost" in status["errors"][0]["error"]
    [stored] = _finished(db)
    assert (stored["outcome"], stored["worker_id"]) == ("failed", "lost")


def test_only_the_holder_records_an_outcome(db: psycopg.Connection) -> None:
    """A worker whose job was swept and taken by another reports it as lost: one record, the
    other worker's."""
    _keep(db, None, "1 day")
    row = add_job(db, "t")
    assert row
    _claim(db, worker="a")
    call(db, "reset_locked", older_than=timedelta(0))
    _claim(db, worker="b")
    out_b = report_jobs(db, "b", completed_job_ids=[row["id"]], results=["b's"])
    out_a = report_jobs(db, "a", completed_job_ids=[row["id"]], results=["a's"])
    assert (out_b[row["id"]]["outcome"], out_a[row["id"]]["outcome"]) == ("completed", "lost")
    [stored] = _finished(db)
    assert (stored["worker_id"], stored["result"], stored["attempts"]) == ("b", "b's", 2)


# -- retention -------------------------------------------------------------------------------------

def test_per_task_retention_overrides_the_default(db: psycopg.Connection) -> None:
    _keep(db, None, "1 day")
    _keep(db, "quiet", "0")
    _keep(db, "audit", "30 days")
    ids = {}
    for task in ("quiet", "audit", "other"):
        ids[task] = add_job(db, task)["id"]  # type: ignore[index]
        _claim(db, task=task)
        report_jobs(db, "w1", completed_job_ids=[ids[task]])
    stored = {r["task_identifier"]: r for r in _finished(db)}
    assert set(stored) == {"audit", "other"}
    assert stored["audit"]["expires_at"] - stored["audit"]["finished_at"] == timedelta(days=30)
    assert stored["other"]["expires_at"] - stored["other"]["finished_at"] == timedelta(days=1)
    settings = call(db, "retention_settings")
    assert [(s["task_identifier"], s["keep"]) for s in settings] == [
        (None, timedelta(days=1)), ("audit", timedelta(days=30)), ("quiet", timedelta(0))]

    # a new retention re-dates what is stored
    _keep(db, "audit", "2 days")
    audit = next(r for r in _finished(db) if r["task_identifier"] == "audit")
    assert audit["expires_at"] - audit["finished_at"] == timedelta(days=2)
    assert call_scalar(db, "clear_retention", "audit") is True
    assert call_scalar(db, "clear_retention", "audit") is False
    audit = next(r for r in _finished(db) if r["task_identifier"] == "audit")
    assert audit["expires_at"] - audit["finished_at"] == timedelta(days=1)
    assert call_scalar(db, "clear_retention", None) is True
    other = next(r for r in _finished(db) if r["task_identifier"] == "other")
    assert other["expires_at"] == other["finished_at"]  # pruned at the next prune


@pytest.mark.parametrize(
    ("task", "keep", "fragment"),
    [
        (None, None, "keep must be"),
        ("t", "-1 day", "keep must be"),
        ("", "1 day", "1 to 128 characters"),
        ("x" * 129, "1 day", "1 to 128 characters"),
    ],
)
def test_set_retention_refuses_bad_input(
    db: psycopg.Connection, task: str | None, keep: str | None, fragment: str
) -> None:
    _keep(db, "t", "1 hour")
    before = snapshot(db)
    with pytest.raises(psycopg.Error) as err:
        _keep(db, task, keep)  # type: ignore[arg-type]
    assert err.value.sqlstate == "GWH01"
    assert fragment in str(err.value)
    assert err.value.diag.message_detail and err.value.diag.message_hint
    assert snapshot(db) == before


# -- pruning ---------------------------------------------------------------------------------------

def _finish_many(db: psycopg.Connection, n: int, task: str = "t") -> list[int]:
    db.execute(
        "select graphile_worker.add_jobs(array(select row(%s, '{}', null, null, null, null,"
        " null, null)::graphile_worker.job_spec from generate_series(1, %s)))", (task, n))
    claimed = get_jobs(db, "w1", [task], batch_size=n)
    ids = [int(c["id"]) for c in claimed]
    report_jobs(db, "w1", completed_job_ids=ids)
    return ids


def test_prune_deletes_what_expired_in_bounded_batches(db: psycopg.Connection) -> None:
    _keep(db, None, "1 hour")
    ids = _finish_many(db, 30)
    later = scalar(db, "select now() + interval '2 hours'")
    db.execute("update graphile_worker._private_finished_jobs set expires_at = now() + "
               "interval '3 hours' where id = any(%s)", (ids[:5],))
    assert call_scalar(db, "prune_finished_jobs", 10, now=later) == 10
    assert call_scalar(db, "prune_finished_jobs", 10, now=later) == 10
    assert call_scalar(db, "prune_finished_jobs", 10, now=later) == 5
    assert call_scalar(db, "prune_finished_jobs", 10, now=later) == 0
    assert sorted(r["id"] for r in _finished(db)) == ids[:5]


def test_prune_cleans_up_after_jobs_deleted_by_other_means(db: psycopg.Connection) -> None:
    _keep(db, None, "1 hour")
    row = add_job(db, "t")
    assert row
    _claim(db)
    report_jobs(db, "w1", failures=[{"id": row["id"], "message": "x"}])
    # a Node worker completes it: a plain delete
    db.execute("delete from graphile_worker._private_jobs where id = %s", (row["id"],))
    db.execute("insert into graphile_worker._private_finish_watches values (1, 999999, now())")
    assert scalar(db, "select count(*) from graphile_worker._private_attempt_errors") == 1
    call_scalar(db, "prune_finished_jobs")
    assert scalar(db, "select count(*) from graphile_worker._private_attempt_errors") == 0
    assert scalar(db, "select count(*) from graphile_worker._private_finish_watches") == 0


def test_one_pruner_at_a_time(db: psycopg.Connection, connect: Callable[..., psycopg.Connection]) -> None:
    _keep(db, None, "1 hour")
    _finish_many(db, 5)
    later = scalar(db, "select now() + interval '2 hours'")
    other = connect(autocommit=False)
    assert other.execute("select graphile_worker.prune_finished_jobs(1, %s)", (later,)).fetchone() == (1,)
    # the first pruner's transaction is open: this one returns at once, having done nothing
    assert call_scalar(db, "prune_finished_jobs", 10, now=later) == 0
    other.commit()
    assert call_scalar(db, "prune_finished_jobs", 10, now=later) == 4


@pytest.mark.parametrize("max_rows", [0, -1, 1000001, None])
def test_prune_refuses_bad_max_rows(db: psycopg.Connection, max_rows: int | None) -> None:
    with pytest.raises(psycopg.Error) as err:
        call_scalar(db, "prune_finished_jobs", max_rows)
    assert err.value.sqlstate == "GWH01"
    assert err.value.diag.message_hint


# -- watches ---------------------------------------------------------------------------------------

def test_a_watched_job_notifies_and_is_kept_without_a_retention(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    watched = add_job(db, "t")
    other = add_job(db, "t")
    assert watched and other
    waiter = connect()
    waiter.execute('listen "graphile_worker:finished"')
    waiter.execute("select graphile_worker.watch_job(%s)", (watched["id"],))
    claimed = get_jobs(db, "w1", ["t"], batch_size=2)
    assert len(claimed) == 2
    report_jobs(db, "w1", completed_job_ids=[watched["id"], other["id"]], results=["r", "s"])
    notes = [json.loads(n.payload) for n in waiter.notifies(timeout=5, stop_after=1)]
    assert notes == [{"id": watched["id"], "outcome": "completed"}]
    [stored] = _finished(db)
    assert stored["id"] == watched["id"] and stored["result"] == "r"
    assert timedelta(minutes=9) < stored["expires_at"] - stored["finished_at"] <= timedelta(minutes=10)
    assert _status(db, other["id"])["state"] == "unknown"
    assert call_scalar(waiter, "unwatch_job", watched["id"]) == 1
    assert scalar(db, "select count(*) from graphile_worker._private_finish_watches") == 0


def test_unwatched_jobs_cost_no_notification(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    _keep(db, None, "1 day")
    listener = connect()
    listener.execute('listen "graphile_worker:finished"')
    row = add_job(db, "t")
    assert row
    _claim(db)
    report_jobs(db, "w1", completed_job_ids=[row["id"]])
    assert list(listener.notifies(timeout=1.0, stop_after=1)) == []
