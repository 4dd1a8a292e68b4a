"""Results: a handler's return value goes with its completion (report_jobs' results) and is
stored with the finished job when its task keeps history; a value that is not JSON fails the
attempt, one over the cap completes without being stored (and is logged)."""

from __future__ import annotations

import json

import psycopg
import pytest
from helpers import one, rows, scalar, wait_until

from gw_runner._record import RESULT_CAP_BYTES


def enqueue(db: psycopg.Connection, identifier: str, payload: object = None, **kw: object) -> int:
    args = "".join(f", {k} => %({k})s" for k in kw)
    sql = f"select id from graphile_worker.add_job(%(identifier)s, %(payload)s::json{args})"
    return int(scalar(db, sql, {"identifier": identifier, "payload": json.dumps(payload), **kw}))


def keep_history(db: psycopg.Connection) -> None:
    db.execute("select graphile_worker.set_retention(null, '1 day')")


def finished(db: psycopg.Connection, job_id: int) -> dict[str, object]:
    return one(db, "select outcome, result, result_note from graphile_worker.finished_jobs"
                   " where id = %s", (job_id,))


def run_once(start_runner, *args: str) -> str:
    runner = start_runner("results.py", "--once", *args)
    assert runner.wait(60) == 0, runner.log
    return runner.log


def test_result_cap_matches_the_sql(db):
    assert RESULT_CAP_BYTES == scalar(db, "select graphile_worker._private_result_cap()")


@pytest.mark.parametrize(
    "value",
    [{"sent": 3, "to": ["a@example.com"], "nested": {"ok": True, "none": None}},
     [1, "two", 3.5, None], "done", 42, 0.25, True, "ünïcødé ✓ \U0001f600"],
    ids=["dict", "list", "str", "int", "float", "bool", "non-ascii"],
)
def test_return_value_is_stored_as_the_result(db, start_runner, value):
    keep_history(db)
    job_id = enqueue(db, "give", {"value": value})
    run_once(start_runner)
    assert finished(db, job_id) == {"outcome": "completed", "result": value, "result_note": None}
    status = one(db, "select state, result from graphile_worker.job_status(%s)", (job_id,))
    assert status == {"state": "completed", "result": value}


def test_none_stores_no_result(db, start_runner):
    keep_history(db)
    async_id = enqueue(db, "give", {})
    sync_id = enqueue(db, "give_sync", {})
    run_once(start_runner)
    for job_id in (async_id, sync_id):
        assert finished(db, job_id) == {"outcome": "completed", "result": None,
                                        "result_note": None}


def test_results_stay_with_their_jobs_in_a_report_of_many_outcomes(db, start_runner):
    """Results, no results and failures of one report: each stored result is its own job's."""
    keep_history(db)
    expected: dict[int, object] = {}
    failing = []
    for i in range(60):
        if i % 5 == 0:
            failing.append(enqueue(db, "give", {"fail": True}, max_attempts=1))
        elif i % 3 == 0:
            expected[enqueue(db, "give_sync", {})] = None
        else:
            value = {"i": i, "text": "x" * i}
            expected[enqueue(db, "give" if i % 2 else "give_sync", {"value": value})] = value
    run_once(start_runner, "-j", "8", "--report-delay", "0.5")
    got = {r["id"]: r["result"] for r in rows(
        db, "select id, result from graphile_worker.finished_jobs where outcome = 'completed'")}
    assert got == expected
    assert {r["id"] for r in rows(
        db, "select id from graphile_worker.finished_jobs where outcome = 'failed'"
    )} == set(failing)


def test_batch_job_result_is_the_list_of_entry_results(db, start_runner):
    keep_history(db)
    job_id = enqueue(db, "give_batch", [1, "two", {"n": 3}])
    run_once(start_runner)
    assert finished(db, job_id)["result"] == [{"done": 1}, {"done": "two"}, {"done": {"n": 3}}]


def test_batch_job_with_a_failed_entry_fails_and_stores_no_result(db, start_runner):
    keep_history(db)
    job_id = enqueue(db, "give_batch", [1, {"fail": True, "n": 2}])
    run_once(start_runner)
    job = one(db, "select attempts, last_error, payload from graphile_worker._private_jobs where id = %s",
              (job_id,))
    assert job["attempts"] == 1
    assert job["last_error"].startswith("Batch failures (1 of 2):")
    assert job["payload"] == [{"fail": True, "n": 2}]  # only the failed entry is kept
    assert scalar(db, "select count(*) from graphile_worker.finished_jobs") == 0


def test_value_that_is_not_json_fails_the_attempt_and_the_runner_goes_on(db, start_runner):
    keep_history(db)
    bad = enqueue(db, "give_datetime", {}, max_attempts=3)
    nan = enqueue(db, "give_nan", {}, max_attempts=3)
    good = enqueue(db, "give", {"value": "after"})
    log = run_once(start_runner)
    for job_id, error in [
        (bad, "handler returned a value that cannot be stored as JSON: TypeError: Object of "
              "type datetime is not JSON serializable"),
        (nan, "handler returned a value that cannot be stored as JSON: ValueError: Out of "
              "range float values are not JSON compliant"),
    ]:
        job = one(db, "select attempts, last_error, locked_by, run_at > now() as later"
                      " from graphile_worker.jobs where id = %s", (job_id,))
        assert job == {"attempts": 1, "last_error": error, "locked_by": None, "later": True}
    assert "attempt 1 of 3 failed: handler returned a value that cannot be stored" in log
    assert finished(db, good)["result"] == "after"


def test_result_over_the_cap_completes_the_job_without_storing_it(db, start_runner):
    keep_history(db)
    job_id = enqueue(db, "give_text", {"n": 70_000})
    small = enqueue(db, "give_text", {"n": 10})
    log = run_once(start_runner)
    row = finished(db, job_id)
    assert row["outcome"] == "completed"
    assert row["result"] is None
    assert "70002 bytes" in row["result_note"] and "65536" in row["result_note"]
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 0
    assert (f"job {job_id} (give_text) returned a result of 70002 bytes of JSON, over the cap "
            "of 65536 bytes") in log
    assert finished(db, small)["result"] == "x" * 10


def test_result_at_the_cap_is_stored(db, start_runner):
    keep_history(db)
    job_id = enqueue(db, "give_text", {"n": RESULT_CAP_BYTES - 2})  # plus the quotes
    log = run_once(start_runner)
    assert finished(db, job_id)["result"] == "x" * (RESULT_CAP_BYTES - 2)
    assert "over the cap" not in log


def test_non_ascii_result_counts_as_its_escaped_json(db, start_runner):
    """The runner sends non-ASCII characters as \\u escapes: 6 bytes each against the cap."""
    keep_history(db)
    job_id = enqueue(db, "give_text", {"n": 11_000, "char": "é"})
    log = run_once(start_runner)
    row = finished(db, job_id)
    assert row["result"] is None and "66002 bytes" in row["result_note"]
    assert "returned a result of 66002 bytes of JSON" in log


@pytest.mark.parametrize("code", [0, 0xD800, 0xDC00], ids=["nul", "high", "low"])
def test_result_jsonb_cannot_hold_completes_the_job_with_a_note(db, start_runner, code):
    keep_history(db)
    job_id = enqueue(db, "give_text", {"n": 1, "codes": [code]})
    run_once(start_runner)
    row = finished(db, job_id)
    assert row["outcome"] == "completed" and row["result"] is None
    assert "cannot be stored as jsonb" in row["result_note"]


def test_refused_result_is_dropped_and_the_job_still_completes(db, start_runner):
    """A report the database refuses because of a result: the job is reported again without
    it (it completes), not failed and not retried forever."""
    keep_history(db)
    db.execute(
        "create function refuse_results() returns trigger language plpgsql as $$ begin"
        " if new.result is not null then raise exception 'no results here'; end if;"
        " return new; end $$;"
        " create trigger refuse_results before insert on graphile_worker._private_finished_jobs"
        " for each row execute function refuse_results()"
    )
    with_result = enqueue(db, "give", {"value": {"big": "no"}})
    without = enqueue(db, "give", {})
    log = run_once(start_runner)
    assert finished(db, with_result) == {"outcome": "completed", "result": None,
                                         "result_note": None}
    assert finished(db, without)["outcome"] == "completed"
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 0
    assert (f"the database refuses the outcome of job {with_result} with its result") in log
    assert "completing it without its result" in log


def test_without_retention_nothing_is_recorded_and_jobs_complete(db, start_runner):
    ids = [enqueue(db, "give", {"value": {"n": i}}) for i in range(5)]
    ids.append(enqueue(db, "give_text", {"n": 70_000}))
    run_once(start_runner)
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 0
    assert scalar(db, "select count(*) from graphile_worker.finished_jobs") == 0
    for job_id in ids:
        assert scalar(db, "select state from graphile_worker.job_status(%s)", (job_id,)) == (
            "unknown")


def test_a_runner_on_an_extension_older_than_0_1_7_completes_jobs_without_results(
    db, start_runner
):
    """report_jobs of 0.1.6 takes no results: the runner says so once and completes the jobs
    without their results, instead of failing them."""
    db.execute("drop extension graphile_worker cascade")
    db.execute("create extension graphile_worker version '0.1.6'")
    ids = [enqueue(db, "give", {"value": {"n": n}}) for n in range(3)]
    log = run_once(start_runner)
    assert scalar(db, "select count(*) from graphile_worker._private_jobs") == 0, log
    assert log.count("older than 0.1.7") == 1, log
    assert "refuses" not in log, log
    assert len(ids) == 3


def test_two_runners_and_retries_record_each_outcome_once(db, start_runner):
    """Two runners drain 400 jobs, the odd ones failing once and retried at once: every job is
    recorded once, completed, by the runner that completed it, with its own result, and the
    odd ones with the error of their first attempt."""
    keep_history(db)
    # both runners idle and marked waiting before the jobs come, small batches, and jobs of
    # 20 ms (one runner alone would need 2 s): both take part
    runners = [start_runner("results.py", "-j", "4", "--batch-size", "8", "--poll-interval",
                            "0.2") for _ in range(2)]
    wait_until(lambda: scalar(db, "select count(*) from graphile_worker._private_wait_marks"
                                  " where waiting") == 2, 60, "both runners to wait for jobs")
    db.execute(
        "select graphile_worker.add_jobs(array(select row('flaky',"
        " json_build_object('n', n, 'ms', 20),"
        " null, null, null, null, null, null)::graphile_worker.job_spec"
        " from generate_series(1, 400) as n))")
    wait_until(lambda: scalar(db, "select count(*) from graphile_worker._private_jobs") == 0,
               90, "the two runners to drain the jobs")
    found = rows(db, "select (payload->>'n')::int as n, outcome, attempts, result, errors,"
                     " worker_id from graphile_worker.finished_jobs order by 1")
    assert [r["n"] for r in found] == list(range(1, 401))
    workers = set()
    for r in found:
        odd = r["n"] % 2 == 1
        assert r["outcome"] == "completed"
        assert r["attempts"] == (2 if odd else 1), r
        assert r["result"] == {"n": r["n"], "attempt": r["attempts"]}
        assert [e["error"] for e in r["errors"]] == (
            ["odd jobs fail once"] if odd else []), r
        workers.add(r["worker_id"])
    assert len(workers) == 2, "both runners took part"
    for runner in runners:
        assert runner.terminate() == 0, runner.log
