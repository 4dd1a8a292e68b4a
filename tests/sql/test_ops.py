"""Operations (0.1.8, docs/operations.md): list_jobs, count_jobs and job_detail over every
state, their filters and keyset pagination; retry_jobs, delete_jobs, run_jobs_at with one row
per id; cron_items and run_cron_item; storage_stats; the GWF01 / GWE01 / GWO01 checks, each
changing nothing. The roles (monitor reads, only admin acts) are in
tests/security/test_monitor_role.py. This connection is a superuser."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from helpers import add_job, call, call_scalar, get_jobs, job, report_jobs, rows, scalar, snapshot

STATES = ["waiting", "scheduled", "running", "retrying", "failed", "completed", "cancelled"]


def _add(db: psycopg.Connection, task: str, **kwargs: Any) -> int:
    row = add_job(db, task, **kwargs)
    assert row is not None
    return int(row["id"])


def _claim(db: psycopg.Connection, task: str) -> int:
    claimed = get_jobs(db, "w", [task], batch_size=1)
    assert len(claimed) == 1, claimed
    return int(claimed[0]["id"])


def _every_state(db: psycopg.Connection) -> dict[str, int]:
    """One job in each state, each of its own task t_<state> (failed_gone: failed for good,
    then deleted from the jobs table, so only its record is left), with a retention."""
    call_scalar(db, "set_retention", None, timedelta(days=1))
    ids: dict[str, int] = {}
    ids["completed"] = _add(db, "t_completed", payload={"n": 1})
    _claim(db, "t_completed")
    report_jobs(db, "w", completed_job_ids=[ids["completed"]])
    ids["failed_gone"] = _add(db, "t_failed_gone", max_attempts=1, queue_name="q1")
    _claim(db, "t_failed_gone")
    report_jobs(db, "w", failures=[{"id": ids["failed_gone"], "message": "gone"}])
    db.execute("select graphile_worker.delete_permanently_failed_jobs()")
    ids["cancelled"] = _add(db, "t_cancelled")
    call(db, "cancel_jobs", [ids["cancelled"]])
    ids["failed"] = _add(db, "t_failed", max_attempts=1, job_key="kf")
    _claim(db, "t_failed")
    report_jobs(db, "w", failures=[{"id": ids["failed"], "message": "for good"}])
    ids["retrying"] = _add(db, "t_retrying", max_attempts=5)
    _claim(db, "t_retrying")
    report_jobs(db, "w", failures=[{"id": ids["retrying"], "message": "again"}])
    ids["running"] = _add(db, "t_running")
    _claim(db, "t_running")
    ids["scheduled"] = _add(db, "t_scheduled", run_at=datetime.now().astimezone()
                            + timedelta(hours=1))
    ids["waiting"] = _add(db, "t_waiting", queue_name="q1", job_key="kw", payload={"x": 1})
    return ids


def _list(db: psycopg.Connection, **kwargs: Any) -> list[dict[str, Any]]:
    return call(db, "list_jobs", **kwargs)


def _states(db: psycopg.Connection, **kwargs: Any) -> dict[int, str]:
    return {r["id"]: r["state"] for r in _list(db, **kwargs)}


# --- list_jobs and count_jobs -------------------------------------------------------------------


def test_list_jobs_shows_every_state_from_both_tables_newest_first(db: psycopg.Connection) -> None:
    ids = _every_state(db)
    listed = _list(db)
    assert [r["id"] for r in listed] == sorted(ids.values(), reverse=True)
    by_id = {r["id"]: r for r in listed}
    for state, job_id in ids.items():
        assert by_id[job_id]["state"] == ("failed" if state == "failed_gone" else state)
        assert by_id[job_id]["task_identifier"] == f"t_{state}"
    # a job failed for good is listed once, from the jobs table, with its record's finished_at
    assert by_id[ids["failed"]]["run_at"] is not None
    assert by_id[ids["failed"]]["finished_at"] is not None
    assert by_id[ids["failed"]]["last_error"] == "for good"
    assert by_id[ids["failed_gone"]]["run_at"] is None  # from the store
    assert by_id[ids["failed_gone"]]["queue_name"] == "q1"
    assert by_id[ids["running"]]["locked_by"] == "w"
    assert by_id[ids["waiting"]]["key"] == "kw"
    assert call_scalar(db, "count_jobs") == len(ids)


@pytest.mark.parametrize("state", STATES)
def test_list_jobs_and_count_jobs_filter_on_each_state(db: psycopg.Connection, state: str) -> None:
    ids = _every_state(db)
    want = {ids[state]} | ({ids["failed_gone"]} if state == "failed" else set())
    assert set(_states(db, states=[state])) == want
    assert call_scalar(db, "count_jobs", states=[state]) == len(want)


def test_list_jobs_filters_by_task_queue_key_and_id_range(db: psycopg.Connection) -> None:
    ids = _every_state(db)
    assert set(_states(db, task_identifiers=["t_waiting", "t_completed"])) == {
        ids["waiting"], ids["completed"]}
    assert set(_states(db, queue_names=["q1"])) == {ids["waiting"], ids["failed_gone"]}
    assert set(_states(db, job_key="kf")) == {ids["failed"]}
    lo, hi = ids["cancelled"], ids["retrying"]
    assert set(_states(db, min_id=lo, max_id=hi)) == {i for i in ids.values() if lo <= i <= hi}
    assert set(_states(db, states=["waiting", "completed"], queue_names=["q1"])) == {
        ids["waiting"]}
    assert call_scalar(db, "count_jobs", queue_names=["q1"], states=["failed"]) == 1
    # filters that match nothing: an empty page, a zero count
    assert _list(db, task_identifiers=["nope"]) == []
    assert _list(db, queue_names=["q1"], states=["running"]) == []
    assert call_scalar(db, "count_jobs", job_key="nope") == 0


def test_list_jobs_pages_with_before_id_across_both_tables(db: psycopg.Connection) -> None:
    ids = sorted(_every_state(db).values(), reverse=True)
    for _ in range(5):
        ids.insert(0, _add(db, "t_more"))
    seen: list[int] = []
    before = None
    while True:
        page = [r["id"] for r in _list(db, before_id=before, max_rows=3)]
        if not page:
            break
        assert len(page) <= 3
        seen += page
        before = page[-1]
    assert seen == ids


def test_list_jobs_pages_past_records_of_jobs_still_in_the_jobs_table(
    db: psycopg.Connection
) -> None:
    """Failed jobs retried are back in the jobs table (waiting) and still have their failed
    record; the store's candidates are fetched again below those dropped, so the page is full
    while more rows match."""
    call_scalar(db, "set_retention", None, timedelta(days=1))
    done = []
    for _ in range(3):
        done.append(_add(db, "t"))
        _claim(db, "t")
        report_jobs(db, "w", completed_job_ids=[done[-1]])
    failed = []
    for _ in range(7):
        failed.append(_add(db, "t", max_attempts=1))
        _claim(db, "t")
        report_jobs(db, "w", failures=[{"id": failed[-1], "message": "x"}])
    assert all(r["retried"] for r in call(db, "retry_jobs", failed))
    page = _list(db, states=["completed", "failed"], max_rows=2)
    assert [r["id"] for r in page] == [done[2], done[1]]
    assert [r["id"] for r in _list(db, states=["failed"])] == []
    assert call_scalar(db, "count_jobs", states=["completed", "failed"]) == 3


def test_list_jobs_a_stale_lock_is_not_running(db: psycopg.Connection) -> None:
    job_id = _add(db, "t")
    _claim(db, "t")
    later = scalar(db, "select now() + interval '5 hours'")
    assert _states(db, now=later) == {job_id: "retrying"}  # its claim used an attempt
    assert _states(db) == {job_id: "running"}
    # the filters on tried jobs (jobs_gw_attempted_index, for unlocked ones) find it too
    for states in (["retrying"], ["retrying", "failed"]):
        assert _states(db, now=later, states=states) == {job_id: "retrying"}
        assert call_scalar(db, "count_jobs", now=later, states=states) == 1
        assert _states(db, states=states) == {}
    assert _states(db, now=later, states=["failed"]) == {}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"states": []},
        {"states": ["waiting", None]},
        {"states": ["nope"]},
        {"states": ["cancelling"]},
        {"task_identifiers": []},
        {"task_identifiers": [""]},
        {"queue_names": ["x" * 129]},
        {"job_key": ""},
        {"min_id": 5, "max_id": 4},
        {"max_rows": 0},
        {"max_rows": -1},
        {"max_rows": 10001},
        {"max_rows": None},
        {"now": None},
    ],
)
def test_list_jobs_refuses_bad_filters_with_gwf01(db: psycopg.Connection, kwargs: dict[str, Any]) -> None:
    _add(db, "t")
    with pytest.raises(psycopg.Error) as exc:
        _list(db, **kwargs)
    assert exc.value.sqlstate == "GWF01"
    assert exc.value.diag.message_detail and exc.value.diag.message_hint
    if "max_rows" not in kwargs:
        with pytest.raises(psycopg.Error) as exc:
            call_scalar(db, "count_jobs", **kwargs)
        assert exc.value.sqlstate == "GWF01"


def test_list_jobs_unknown_state_message_names_it(db: psycopg.Connection) -> None:
    with pytest.raises(psycopg.Error) as exc:
        _list(db, states=["wating"])
    assert exc.value.diag.message_primary == "list_jobs: unknown state 'wating'"


def test_list_jobs_takes_filter_text_as_data(db: psycopg.Connection) -> None:
    job_id = _add(db, "t", job_key="k') or true --")
    assert _states(db, job_key="k') or true --") == {job_id: "waiting"}
    assert _list(db, task_identifiers=["t' or 1=1 --"]) == []


# --- job_detail ---------------------------------------------------------------------------------


def test_job_detail_gives_status_payload_and_lock(db: psycopg.Connection) -> None:
    ids = _every_state(db)
    running = call(db, "job_detail", ids["running"])
    assert len(running) == 1
    assert running[0]["state"] == "running" and running[0]["locked_by"] == "w"
    waiting = call(db, "job_detail", ids["waiting"])[0]
    assert waiting["payload"] == {"x": 1} and waiting["key"] == "kw"
    assert waiting["queue_name"] == "q1" and waiting["priority"] == 0
    gone = call(db, "job_detail", ids["failed_gone"])[0]
    assert gone["state"] == "failed" and gone["worker_id"] == "w"
    assert [e["error"] for e in gone["errors"]] == ["gone"]
    assert gone["first_started_at"] is not None and gone["expires_at"] is not None
    done = call(db, "job_detail", ids["completed"])[0]
    assert done["payload"] == {"n": 1} and done["state"] == "completed"
    retrying = call(db, "job_detail", ids["retrying"])[0]
    assert retrying["first_started_at"] is not None
    assert [e["error"] for e in retrying["errors"]] == ["again"]


def test_job_detail_of_an_unknown_id_is_no_row(db: psycopg.Connection) -> None:
    assert call(db, "job_detail", 424242) == []
    assert call(db, "job_detail", None) == []


# --- retry_jobs ---------------------------------------------------------------------------------


def test_retry_jobs_runs_failed_and_retrying_jobs_now_with_all_attempts(
    db: psycopg.Connection
) -> None:
    ids = _every_state(db)
    order = [ids[s] for s in ("failed", "retrying", "waiting", "scheduled", "running",
                              "completed", "cancelled")] + [999999]
    db.execute("listen \"jobs:insert\"")
    out = call(db, "retry_jobs", order)
    assert [(r["job_id"], r["retried"], r["state"]) for r in out] == [
        (ids["failed"], True, "failed"), (ids["retrying"], True, "retrying"),
        (ids["waiting"], False, "waiting"), (ids["scheduled"], False, "scheduled"),
        (ids["running"], False, "running"), (ids["completed"], False, "completed"),
        (ids["cancelled"], False, "cancelled"), (999999, False, "unknown")]
    assert all(r["new_job_id"] is None for r in out)
    for key in ("failed", "retrying"):
        row = job(db, ids[key])
        assert row["attempts"] == 0 and row["locked_at"] is None
        assert row["run_at"] <= scalar(db, "select now()")
        assert row["last_error"] is not None  # kept
    assert any(n.channel == "jobs:insert" for n in db.notifies(timeout=15, stop_after=1))
    # the retried job is claimed and completes; its record says so
    claimed = get_jobs(db, "w2", ["t_failed"], batch_size=1)
    assert [c["id"] for c in claimed] == [ids["failed"]]
    report_jobs(db, "w2", completed_job_ids=[ids["failed"]])
    assert call(db, "job_status", ids["failed"])[0]["state"] == "completed"


def test_retry_jobs_enqueues_a_failed_job_only_in_the_store_again(db: psycopg.Connection) -> None:
    ids = _every_state(db)
    out = call(db, "retry_jobs", [ids["failed_gone"]])
    assert len(out) == 1 and out[0]["retried"] and out[0]["state"] == "failed"
    new_id = out[0]["new_job_id"]
    assert new_id is not None and new_id > ids["waiting"]
    new = call(db, "job_detail", new_id)[0]
    assert (new["task_identifier"], new["queue_name"], new["state"], new["max_attempts"]) == (
        "t_failed_gone", "q1", "waiting", 1)


def test_retry_jobs_keeps_the_key_only_when_free(db: psycopg.Connection) -> None:
    call_scalar(db, "set_retention", None, timedelta(days=1))
    old = _add(db, "t", max_attempts=1, job_key="k")
    _claim(db, "t")
    report_jobs(db, "w", failures=[{"id": old, "message": "x"}])
    db.execute("select graphile_worker.delete_permanently_failed_jobs()")
    holder = _add(db, "t", job_key="k")
    new_id = call(db, "retry_jobs", [old])[0]["new_job_id"]
    assert job(db, new_id)["key"] is None and job(db, holder)["key"] == "k"
    call(db, "delete_jobs", [holder, new_id])
    again = call(db, "retry_jobs", [old])[0]["new_job_id"]
    assert job(db, again)["key"] == "k"


@pytest.mark.parametrize("function", ["retry_jobs", "delete_jobs"])
@pytest.mark.parametrize("job_ids", [None, [], [1, None], list(range(1, 10002))])
def test_actions_refuse_bad_id_arrays_with_gwf01_changing_nothing(
    db: psycopg.Connection, function: str, job_ids: list[int] | None
) -> None:
    _every_state(db)
    before = snapshot(db)
    with pytest.raises(psycopg.Error) as exc:
        call(db, function, job_ids)
    assert exc.value.sqlstate == "GWF01"
    assert snapshot(db) == before


# --- delete_jobs --------------------------------------------------------------------------------


def test_delete_jobs_deletes_what_is_not_running_and_records_nothing(
    db: psycopg.Connection
) -> None:
    ids = _every_state(db)
    order = [ids[s] for s in ("waiting", "scheduled", "retrying", "failed", "running",
                              "completed", "cancelled", "failed_gone")] + [999999]
    records = scalar(db, "select count(*) from graphile_worker._private_finished_jobs")
    out = call(db, "delete_jobs", order)
    assert [(r["job_id"], r["deleted"], r["state"]) for r in out] == [
        (ids["waiting"], True, "waiting"), (ids["scheduled"], True, "scheduled"),
        (ids["retrying"], True, "retrying"), (ids["failed"], True, "failed"),
        (ids["running"], False, "running"), (ids["completed"], False, "completed"),
        (ids["cancelled"], False, "cancelled"), (ids["failed_gone"], False, "failed"),
        (999999, False, "unknown")]
    left = {r["id"] for r in rows(db, "select id from graphile_worker._private_jobs")}
    assert left == {ids["running"]}
    assert scalar(db, "select count(*) from graphile_worker._private_finished_jobs") == records
    assert scalar(db, "select count(*) from graphile_worker._private_attempt_errors "
                      "where job_id = %s", [ids["retrying"]]) == 0
    assert call(db, "job_status", ids["waiting"])[0]["state"] == "unknown"
    assert call(db, "job_status", ids["failed"])[0]["state"] == "failed"  # its record stays


def _stale(db: psycopg.Connection, job_id: int) -> None:
    """Age the job's lock past _private_lock_expiry(): its runner is presumed gone."""
    db.execute("update graphile_worker._private_jobs set locked_at = now()"
               " - graphile_worker._private_lock_expiry() - interval '1 minute' where id = %s",
               [job_id])


def _locked_cases(db: psycopg.Connection) -> dict[str, int]:
    """Three claimed jobs (max_attempts 5): cancelling (cancelled while its lock is live),
    cancelling_stale (cancelled, then its lock went stale) and stale (its lock went stale, no
    cancel: its claim used an attempt, so it is retrying)."""
    ids = {name: _add(db, "t_lock", max_attempts=5)
           for name in ("cancelling", "cancelling_stale", "stale")}
    assert sorted(c["id"] for c in get_jobs(db, "w", ["t_lock"], batch_size=3)) == sorted(
        ids.values())
    call(db, "cancel_jobs", [ids["cancelling"], ids["cancelling_stale"]])
    _stale(db, ids["cancelling_stale"])
    _stale(db, ids["stale"])
    return ids


@pytest.mark.parametrize(("function", "expected"), [
    # a cancel request comes first: a running job being cancelled is reported cancelling
    ("retry_jobs", [("cancelling", False, "cancelling"), ("cancelling_stale", False, "cancelling"),
                    ("stale", True, "retrying")]),
    ("run_jobs_at", [("cancelling", False, "cancelling"),
                     ("cancelling_stale", False, "cancelling"), ("stale", True, "retrying")]),
    # a live lock comes first: only what is not running is deleted
    ("delete_jobs", [("cancelling", False, "running"), ("cancelling_stale", True, "cancelling"),
                     ("stale", True, "retrying")]),
])
def test_actions_report_cancelling_and_stale_locked_jobs(
    db: psycopg.Connection, function: str, expected: list[tuple[str, bool, str]]
) -> None:
    ids = _locked_cases(db)
    later = scalar(db, "select date_trunc('second', now()) + interval '2 days'")
    args: list[Any] = [[ids[name] for name, _, _ in expected]]
    if function == "run_jobs_at":
        args.append(later)
    out = call(db, function, *args)
    acted = {"retry_jobs": "retried", "run_jobs_at": "rescheduled", "delete_jobs": "deleted"}
    assert [(r["job_id"], r[acted[function]], r["state"]) for r in out] == [
        (ids[name], done, state) for name, done, state in expected]
    left = {r["id"]: r for r in rows(db, "select * from graphile_worker._private_jobs")}
    requests = [r["job_id"] for r in rows(
        db, "select job_id from graphile_worker._private_cancel_requests order by 1")]
    if function == "delete_jobs":
        assert set(left) == {ids["cancelling"]} and requests == [ids["cancelling"]]
        return
    assert set(left) == set(ids.values())
    assert requests == sorted([ids["cancelling"], ids["cancelling_stale"]])
    stale = left[ids["stale"]]
    assert stale["locked_at"] is None and stale["locked_by"] is None  # the stale lock went
    assert stale["attempts"] == (0 if function == "retry_jobs" else 1)
    if function == "run_jobs_at":
        assert stale["run_at"] == later
    for name in ("cancelling", "cancelling_stale"):
        assert left[ids[name]]["locked_by"] == "w" and left[ids[name]]["attempts"] == 5


# --- run_jobs_at --------------------------------------------------------------------------------


def test_run_jobs_at_moves_waiting_scheduled_and_retrying_jobs(db: psycopg.Connection) -> None:
    ids = _every_state(db)
    later = scalar(db, "select date_trunc('second', now()) + interval '2 days'")
    order = [ids[s] for s in ("waiting", "scheduled", "retrying", "failed", "running",
                              "completed")] + [999999]
    out = call(db, "run_jobs_at", order, later)
    assert [(r["job_id"], r["rescheduled"], r["state"]) for r in out] == [
        (ids["waiting"], True, "waiting"), (ids["scheduled"], True, "scheduled"),
        (ids["retrying"], True, "retrying"), (ids["failed"], False, "failed"),
        (ids["running"], False, "running"), (ids["completed"], False, "completed"),
        (999999, False, "unknown")]
    for key in ("waiting", "scheduled", "retrying"):
        assert job(db, ids[key])["run_at"] == later
    assert job(db, ids["retrying"])["attempts"] == 1  # kept
    assert job(db, ids["failed"])["run_at"] != later


@pytest.mark.parametrize(
    ("run_at", "sqlstate"), [(None, "GWF01"), ("infinity", "GWE01"), ("-infinity", "GWE01")]
)
def test_run_jobs_at_refuses_a_bad_time_changing_nothing(
    db: psycopg.Connection, run_at: str | None, sqlstate: str
) -> None:
    job_id = _add(db, "t")
    before = snapshot(db)
    with pytest.raises(psycopg.Error) as exc:
        db.execute("select * from graphile_worker.run_jobs_at(%s, %s::timestamptz)",
                   [[job_id], run_at])
    assert exc.value.sqlstate == sqlstate
    assert snapshot(db) == before


# --- cron ---------------------------------------------------------------------------------------

CRONTAB = (
    "*/5 * * * * send_report ?id=report&max=3&queue=reports&priority=2 {\"to\": \"ops\"}\n"
    "0 4 * * * nightly ?fill=1d&tz=Europe/Paris\n"
)


def test_cron_items_show_registered_items_with_their_next_run(db: psycopg.Connection) -> None:
    now = scalar(db, "select timestamptz '2026-01-10 10:02:30+00'")
    db.execute("select graphile_worker.register_crontab(%s)", [CRONTAB])
    db.execute("insert into graphile_worker._private_known_crontabs values "
               "('node_only', now(), null)")
    items = {r["identifier"]: r for r in call(db, "cron_items", now=now)}
    assert set(items) == {"report", "nightly", "node_only"}
    report = items["report"]
    assert (report["task_identifier"], report["schedule"]) == ("send_report", "*/5 * * * *")
    assert report["options"] == {"max": 3, "queue": "reports", "priority": 2, "tz": "UTC"}
    assert report["payload"] == {"to": "ops"}
    assert report["next_run"] == scalar(db, "select timestamptz '2026-01-10 10:05:00+00'")
    assert items["nightly"]["options"]["fill"] == "1d"
    assert items["nightly"]["next_run"] == scalar(
        db, "select timestamptz '2026-01-11 03:00:00+00'")
    assert items["node_only"]["task_identifier"] is None
    assert items["node_only"]["next_run"] is None


def test_schedule_crontab_stores_items_and_rewrites_only_changed_ones(
    db: psycopg.Connection
) -> None:
    db.execute("select * from graphile_worker.schedule_crontab(%s)", [CRONTAB])
    first = rows(db, "select identifier, xmin::text as x from graphile_worker._private_cron_specs "
                     "order by 1")
    db.execute("select * from graphile_worker.schedule_crontab(%s)", [CRONTAB])
    assert rows(db, "select identifier, xmin::text as x from graphile_worker._private_cron_specs "
                    "order by 1") == first
    db.execute("select * from graphile_worker.schedule_crontab(%s)",
               [CRONTAB.replace("max=3", "max=4")])
    items = {r["identifier"]: r for r in call(db, "cron_items")}
    assert items["report"]["options"]["max"] == 4


def test_run_cron_item_enqueues_its_job_now_leaving_the_schedule(db: psycopg.Connection) -> None:
    db.execute("select graphile_worker.register_crontab(%s)", [CRONTAB])
    job_id = call_scalar(db, "run_cron_item", "report")
    detail = call(db, "job_detail", job_id)[0]
    assert (detail["task_identifier"], detail["queue_name"], detail["max_attempts"],
            detail["priority"], detail["state"]) == ("send_report", "reports", 3, 2, "waiting")
    assert detail["payload"]["to"] == "ops"
    assert detail["payload"]["_cron"]["manual"] is True
    assert detail["payload"]["_cron"]["backfilled"] is False
    assert scalar(db, "select last_execution from graphile_worker._private_known_crontabs "
                      "where identifier = 'report'") is None


@pytest.mark.parametrize(("identifier", "sqlstate"),
                         [("nope", "GWO01"), ("node_only", "GWO01"), (None, "GWF01"),
                          ("", "GWF01")])
def test_run_cron_item_refuses_unknown_items_changing_nothing(
    db: psycopg.Connection, identifier: str | None, sqlstate: str
) -> None:
    db.execute("insert into graphile_worker._private_known_crontabs values "
               "('node_only', now(), null)")
    before = snapshot(db)
    with pytest.raises(psycopg.Error) as exc:
        call_scalar(db, "run_cron_item", identifier)
    assert exc.value.sqlstate == sqlstate
    assert exc.value.diag.message_detail and exc.value.diag.message_hint
    assert snapshot(db) == before


# --- the functions themselves -------------------------------------------------------------------

OPS_FUNCTIONS = [
    "list_jobs", "count_jobs", "job_detail", "retry_jobs", "delete_jobs", "run_jobs_at",
    "cron_items", "run_cron_item", "storage_stats", "_private_check_job_filter",
    "_private_check_job_ids", "_private_job_filter_sql", "_private_store_cron_specs",
    "_private_cron_period_text", "_private_ops_states", "_private_lock_job_states",
]


def test_ops_functions_pass_plpgsql_check_and_pin_search_path(db: psycopg.Connection) -> None:
    db.execute("create extension if not exists plpgsql_check")
    functions = rows(db, "select p.oid::regprocedure::text as signature, p.proname, p.proconfig,"
                         " l.lanname, obj_description(p.oid, 'pg_proc') as comment"
                         " from pg_proc p join pg_language l on l.oid = p.prolang"
                         " where p.pronamespace = 'graphile_worker'::regnamespace"
                         " and p.proname = any(%s)", [OPS_FUNCTIONS])
    assert {f["proname"] for f in functions} == set(OPS_FUNCTIONS)
    problems = []
    for f in functions:
        assert "search_path=pg_catalog, pg_temp" in f["proconfig"], f["signature"]
        assert f["comment"], f["signature"]
        if f["lanname"] == "plpgsql":
            for r in rows(db, "select * from plpgsql_check_function_tb(%s::regprocedure, "
                              "extra_warnings => true, performance_warnings => false)",
                          [f["signature"]]):
                # list_jobs returns its rows with RETURN QUERY EXECUTE, which plpgsql_check
                # cannot follow: it reports every OUT column as maybe unmodified
                if f["proname"] == "list_jobs" and r["message"].endswith("maybe unmodified"):
                    continue
                problems.append((f["signature"], r["lineno"], r["level"], r["message"]))
    assert problems == []


# --- storage_stats ------------------------------------------------------------------------------


def test_storage_stats_lists_every_table_and_index_of_the_extension(db: psycopg.Connection) -> None:
    _add(db, "t", payload={"pad": "x" * 5000})
    db.execute("analyze graphile_worker._private_jobs")
    stats = {r["relation"]: r for r in call(db, "storage_stats")}
    relations = {r["relname"] for r in rows(
        db, "select relname from pg_class where relnamespace = 'graphile_worker'::regnamespace "
            "and relkind in ('r', 'i')")}
    assert set(stats) == relations
    jobs = stats["_private_jobs"]
    assert jobs["kind"] == "table" and jobs["rows_estimate"] == 1 and jobs["total_bytes"] > 0
    assert jobs["dead_tuples"] is not None
    assert stats["jobs_pkey1"]["kind"] == "index"
    assert stats["jobs_pkey1"]["table_name"] == "_private_jobs"
    sizes = [r["total_bytes"] for r in call(db, "storage_stats")]
    assert sizes == sorted(sizes, reverse=True)
