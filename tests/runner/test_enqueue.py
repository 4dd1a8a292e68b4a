"""The Python enqueue API: add_job/add_jobs (sync and async) inside the caller's
transaction, returning Job objects; SQL errors as exceptions chosen by SQLSTATE."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from helpers import one, rows, scalar
from psycopg.rows import dict_row

from gw_runner import Job, JobSpec, add_job, add_job_async, add_jobs, add_jobs_async, errors

WEIRD = 'quote " backslash \\ comma , braces {} parens () nul-free ünïcødé 💡 \' apostrophe'


def test_add_job_returns_the_job(db):
    run_at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    job = add_job(db, "send_email", {"to": "ada@example.com"}, queue_name="mail",
                  run_at=run_at, max_attempts=3, job_key="k1", priority=-2, flags=["a", "b"])
    assert isinstance(job, Job)
    assert job.task_identifier == "send_email" and job.queue_name == "mail"
    assert job.payload == {"to": "ada@example.com"}
    assert (job.run_at, job.max_attempts, job.key, job.priority) == (run_at, 3, "k1", -2)
    assert job.flags == {"a": True, "b": True} and job.attempts == 0
    stored = one(db, "select task_identifier, queue_name, key, priority, max_attempts"
                     " from graphile_worker.jobs where id = %s", (job.id,))
    assert stored == {"task_identifier": "send_email", "queue_name": "mail", "key": "k1",
                      "priority": -2, "max_attempts": 3}


def test_add_job_defaults(db):
    job = add_job(db, "noop")
    assert job.payload == {} and job.max_attempts == 25 and job.priority == 0
    assert job.key is None and job.queue_name is None and job.flags is None


def test_add_job_works_with_a_dict_row_connection(db, connect):
    conn = connect(row_factory=dict_row)
    job = add_job(conn, "noop", [1, 2])
    assert job.payload == [1, 2]


def test_job_key_modes(db):
    first = add_job(db, "debounce", [1], job_key="d")
    second = add_job(db, "debounce", [2], job_key="d")
    assert second.id == first.id and second.payload == [1, 2] and second.revision == 1
    dedupe = add_job(db, "debounce", [3], job_key="d", job_key_mode="unsafe_dedupe")
    assert dedupe.id == first.id and dedupe.payload == [1, 2]


def test_rolled_back_transaction_enqueues_nothing(db, connect):
    conn = connect(autocommit=False)
    with pytest.raises(RuntimeError), conn.transaction():
        add_job(conn, "rec_async", {"n": 1})
        add_jobs(conn, [JobSpec("rec_async", {"n": 2})])
        raise RuntimeError("the application's own work failed")
    conn.commit()
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 0


def test_committed_transaction_is_picked_up_by_the_runner(db, connect, runs_table,
                                                          start_runner):
    conn = connect(autocommit=False)
    with conn.transaction():
        job = add_job(conn, "rec_async", {"n": 1})
        # not visible to others before the commit
        assert scalar(db, "select count(*) from graphile_worker.jobs") == 0
    runner = start_runner("record.py", "--once")
    assert runner.wait(60) == 0, runner.log
    assert scalar(db, "select count(*) from runs where job_id = %s", (job.id,)) == 1
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 0


def test_add_jobs_round_trips_awkward_text(db):
    run_at = datetime.now(UTC) + timedelta(hours=1)
    specs = [
        JobSpec(WEIRD, {"text": WEIRD, "list": [WEIRD, None, 1.5]}, queue_name=WEIRD,
                run_at=run_at, max_attempts=7, job_key=WEIRD, priority=5,
                flags=[WEIRD, "x,y", '"', "\\", "NULL", ""]),
        {"identifier": "plain"},
        JobSpec("nulls", None, flags=[]),
    ]
    jobs = add_jobs(db, specs)
    assert [j.task_identifier for j in jobs] == [WEIRD, "plain", "nulls"]
    weird = jobs[0]
    assert weird.payload == {"text": WEIRD, "list": [WEIRD, None, 1.5]}
    assert weird.queue_name == WEIRD and weird.key == WEIRD
    assert weird.run_at == run_at and weird.max_attempts == 7 and weird.priority == 5
    assert weird.flags == {WEIRD: True, "x,y": True, '"': True, "\\": True, "NULL": True,
                           "": True}
    stored = rows(db, "select task_identifier, queue_name, key from graphile_worker.jobs"
                      " order by id")
    assert stored[0] == {"task_identifier": WEIRD, "queue_name": WEIRD, "key": WEIRD}
    assert jobs[1].payload == {} and jobs[1].max_attempts == 25
    assert jobs[2].flags is None or jobs[2].flags == {}


def test_add_jobs_preserve_run_at(db):
    early = datetime(2030, 1, 1, tzinfo=UTC)
    add_jobs(db, [JobSpec("t", [1], job_key="w", run_at=early)])
    later = add_jobs(db, [JobSpec("t", [2], job_key="w", run_at=early + timedelta(days=1))],
                     job_key_preserve_run_at=True)
    assert later[0].run_at == early and later[0].payload == [1, 2]


def test_add_jobs_empty_is_a_no_op(db):
    assert add_jobs(db, []) == []


@pytest.mark.parametrize(
    ("call", "cls", "sqlstate"),
    [
        (lambda c: add_job(c, "t", job_key="k", job_key_mode="sometimes"),
         errors.InvalidJobKeyMode, "GWBKM"),
        (lambda c: add_job(c, "x" * 129), errors.CheckViolation, "23514"),
        (lambda c: add_job(c, "t", priority=40000), errors.NumericOutOfRange, "22003"),
        (lambda c: add_job(c, "t", max_attempts=0), errors.CheckViolation, "23514"),
        (lambda c: add_job(c, "t", job_key=""), errors.CheckViolation, "23514"),
        (lambda c: add_jobs(c, [JobSpec("t", max_attempts=0)]), errors.CheckViolation, "23514"),
    ],
)
def test_sql_errors_map_to_exceptions_by_sqlstate(db, call, cls, sqlstate):
    with pytest.raises(cls) as info:
        call(db)
    assert info.value.sqlstate == sqlstate
    assert isinstance(info.value, errors.DatabaseError)
    assert isinstance(info.value, errors.GraphileWorkerError)
    assert isinstance(info.value.__cause__, psycopg.Error)
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 0


def test_bad_spec_types_are_refused_before_sql(db):
    with pytest.raises(TypeError, match="flags must be a list of strings"):
        add_job(db, "t", flags="ab")
    with pytest.raises(TypeError, match="invalid job spec"):
        add_jobs(db, [{"identifier": "t", "colour": "red"}])


def test_async_api(dsn, db):
    async def main() -> tuple[Job, list[Job]]:
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            async with conn.transaction():
                job = await add_job_async(conn, "a", {"n": 1}, priority=3)
                jobs = await add_jobs_async(conn, [JobSpec("b", [1]), {"identifier": "c"}])
            async with conn.transaction(force_rollback=True):
                await add_job_async(conn, "rolled_back")
            with pytest.raises(errors.InvalidJobKeyMode):
                await add_job_async(conn, "t", job_key="k", job_key_mode="nope")
            return job, jobs

    job, jobs = asyncio.run(main())
    assert job.priority == 3 and job.task_identifier == "a"
    assert [j.task_identifier for j in jobs] == ["b", "c"]
    stored = [r["task_identifier"] for r in rows(
        db, "select task_identifier from graphile_worker.jobs order by id")]
    assert stored == ["a", "b", "c"]
