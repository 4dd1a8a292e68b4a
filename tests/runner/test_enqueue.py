"""The Python enqueue API: add_job/add_jobs (sync and async) inside the caller's
transaction, returning Job objects; SQL errors as exceptions chosen by SQLSTATE."""

from __future__ import annotations

import asyncio
import enum
import sqlite3
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import psycopg_pool
import pytest
from helpers import one, rows, scalar
from psycopg import sql
from psycopg.rows import dict_row

from gw_runner import (
    Job,
    JobSpec,
    _sql,
    add_job,
    add_job_async,
    add_jobs,
    add_jobs_async,
    errors,
)
from gw_runner._db import job_from_enqueue_row

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


def test_add_jobs_keeps_the_order_of_many_specs(db):
    """The specs travel as parallel arrays: each job gets its own spec's fields, ids in spec
    order, whatever mix of null and set fields."""
    specs = [
        JobSpec(f"t{i % 3}", {"i": i}, queue_name=None if i % 4 else f"q{i % 5}",
                max_attempts=None if i % 2 else 1 + i % 9, priority=None if i % 3 else i % 7,
                job_key=f"k{i}" if i % 10 == 0 else None, flags=["f"] if i % 6 == 0 else None)
        for i in range(3000)
    ]
    jobs = add_jobs(db, specs)
    assert [j.payload["i"] for j in jobs] == list(range(3000))
    unkeyed = [j.id for j in jobs if j.key is None]
    assert unkeyed == sorted(unkeyed)
    for spec, job in zip(specs, jobs, strict=True):
        assert job.task_identifier == spec.identifier and job.queue_name == spec.queue_name
        assert job.max_attempts == (spec.max_attempts or 25)
        assert job.priority == (spec.priority or 0) and job.key == spec.job_key
        assert job.flags == ({"f": True} if spec.flags else None)
    stored = rows(db, "select p.payload->>'i' as i, j.task_identifier, j.queue_name,"
                      " j.max_attempts, j.priority, j.key from graphile_worker.jobs as j"
                      " join graphile_worker._private_jobs as p using (id) order by id")
    assert len(stored) == 3000
    by_i = {int(r["i"]): r for r in stored}
    for i, spec in enumerate(specs):
        r = by_i[i]
        assert (r["task_identifier"], r["queue_name"], r["max_attempts"], r["priority"],
                r["key"]) == (spec.identifier, spec.queue_name, spec.max_attempts or 25,
                              spec.priority or 0, spec.job_key)


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
        (lambda c: add_jobs(c, [JobSpec("t"), JobSpec("t", priority=40000)]),
         errors.NumericOutOfRange, "22003"),
        (lambda c: add_jobs(c, [JobSpec("t", max_attempts=10**30)]),
         errors.NumericOutOfRange, "22003"),
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


# --- arguments of the wrong type: TypeError before any SQL (issue 13, class 10) ---------------


def _nothing_sent(conn: psycopg.Connection) -> None:
    """A connection outside autocommit sends BEGIN with its first statement: still idle means
    the call sent nothing."""
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


BAD_OPTIONS = [
    ({"priority": 1.5}, TypeError, "priority must be an int or None, not float 1.5"),
    ({"priority": "5"}, TypeError, "priority must be an int or None, not str '5'"),
    ({"priority": True}, TypeError, "priority must be an int or None, not bool True"),
    ({"max_attempts": 2.0}, TypeError, "max_attempts must be an int or None, not float"),
    ({"max_attempts": "3"}, TypeError, "max_attempts must be an int or None, not str"),
    ({"max_attempts": False}, TypeError, "max_attempts must be an int or None, not bool"),
    ({"run_at": "2030-01-01"}, TypeError, "run_at must be a datetime or None, not str"),
    ({"run_at": date(2030, 1, 1)}, TypeError, "run_at must be a datetime or None, not date"),
    ({"run_at": 1_900_000_000}, TypeError, "run_at must be a datetime or None, not int"),
    ({"queue_name": 5}, TypeError, "queue_name must be a str or None, not int 5"),
    ({"job_key": b"k"}, TypeError, "job_key must be a str or None, not bytes"),
    ({"flags": "ab"}, TypeError, "flags must be a list of strings or None, not str 'ab'"),
    ({"flags": 5}, TypeError, "flags must be a list of strings or None, not int"),
    ({"flags": ["a", None]}, TypeError, "each flag must be a str, not NoneType None"),
    ({"flags": ["a", 1]}, TypeError, "each flag must be a str, not int 1"),
    ({"payload": {"x": float("nan")}}, ValueError, "the payload cannot be stored as JSON"),
    ({"payload": {"x": object()}}, TypeError, "the payload is not JSON-serialisable"),
]


@pytest.mark.parametrize(("options", "cls", "message"), BAD_OPTIONS)
def test_add_job_rejects_wrong_types_before_sql(db, connect, options, cls, message):
    conn = connect(autocommit=False)
    options = dict(options)
    payload = options.pop("payload", {})
    with pytest.raises(cls) as info:
        add_job(conn, "t", payload, **options)
    assert type(info.value) is cls  # not a DatabaseError: nothing reached the server
    assert str(info.value).startswith(f"add_job(): {message}"), str(info.value)
    _nothing_sent(conn)
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 0


def test_add_job_rejects_a_non_str_identifier_before_sql(db, connect):
    conn = connect(autocommit=False)
    for identifier, shown in [(5, "int 5"), (None, "NoneType None"), (b"t", "bytes b't'")]:
        with pytest.raises(TypeError) as info:
            add_job(conn, identifier, {})  # type: ignore[arg-type]
        assert str(info.value) == (
            f"add_job(): identifier (the task name) must be a str, not {shown}"
        )
    _nothing_sent(conn)
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 0


def test_add_job_rejects_a_job_key_mode_that_is_not_a_str(db, connect):
    conn = connect(autocommit=False)
    with pytest.raises(TypeError, match="job_key_mode must be one of replace, "
                                        "preserve_run_at, unsafe_dedupe, not int 1"):
        add_job(conn, "t", job_key="k", job_key_mode=1)  # type: ignore[arg-type]
    _nothing_sent(conn)


def test_add_job_stores_int_subclasses_as_plain_ints(db):
    class Level(enum.IntEnum):
        HIGH = -5

    job = add_job(db, "t", priority=Level.HIGH, max_attempts=Level.HIGH + 8)
    assert (job.priority, job.max_attempts) == (-5, 3)
    assert type(job.priority) is int


@pytest.mark.parametrize(("options", "cls", "message"), BAD_OPTIONS)
def test_add_jobs_rejects_wrong_types_in_a_spec_before_sql(db, connect, options, cls, message):
    conn = connect(autocommit=False)
    good = JobSpec("t", {"n": 1})
    with pytest.raises(cls) as info:
        add_jobs(conn, [good, {"identifier": "t", **options}])
    assert str(info.value).startswith(f"add_jobs() spec 1: {message}"), str(info.value)
    with pytest.raises(cls):
        add_jobs(conn, [JobSpec("t", **options)])
    _nothing_sent(conn)
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 0


def test_add_jobs_rejects_bad_specs_and_arguments_before_sql(db, connect):
    conn = connect(autocommit=False)
    with pytest.raises(TypeError, match=r"^add_jobs\(\) spec 0: identifier \(the task name\) "
                                        "must be a str, not int 5$"):
        add_jobs(conn, [JobSpec(5)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"add_jobs\(\): specs must be a list of JobSpec"):
        add_jobs(conn, {"identifier": "t"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="a job spec is a JobSpec or a mapping, not str"):
        add_jobs(conn, ["t"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="job_key_preserve_run_at must be a bool, not int"):
        add_jobs(conn, [JobSpec("t")], job_key_preserve_run_at=1)  # type: ignore[arg-type]
    _nothing_sent(conn)
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 0


def test_async_api_rejects_wrong_types_before_sql(dsn, db):
    async def main() -> None:
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            with pytest.raises(TypeError, match=r"^add_job_async\(\): identifier"):
                await add_job_async(conn, 5)  # type: ignore[arg-type]
            with pytest.raises(TypeError, match=r"^add_job_async\(\): priority .* float"):
                await add_job_async(conn, "t", priority=1.5)  # type: ignore[arg-type]
            with pytest.raises(TypeError, match=r"^add_jobs_async\(\) spec 0: max_attempts"):
                await add_jobs_async(conn, [{"identifier": "t", "max_attempts": "2"}])
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE

    asyncio.run(main())
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 0


# --- the wrong kind of connection --------------------------------------------------------------


def test_sync_api_rejects_an_async_connection(dsn, db):
    async def main() -> None:
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            with pytest.raises(TypeError) as info:
                add_job(conn, "t")  # type: ignore[arg-type]
            assert str(info.value) == (
                "add_job() takes a psycopg.Connection (psycopg 3) as conn, not "
                "psycopg.AsyncConnection; with an async connection use "
                "`await add_job_async(...)`"
            )
            with pytest.raises(TypeError, match=r"add_jobs\(\) takes a psycopg.Connection.*"
                                                 r"not psycopg.AsyncConnection.*add_jobs_async"):
                add_jobs(conn, [JobSpec("t")])  # type: ignore[arg-type]
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE

    asyncio.run(main())
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 0


def test_async_api_rejects_a_sync_connection(db, connect):
    conn = connect(autocommit=False)
    with pytest.raises(TypeError) as info:
        asyncio.run(add_job_async(conn, "t"))  # type: ignore[arg-type]
    assert str(info.value) == (
        "add_job_async() takes a psycopg.AsyncConnection (psycopg 3) as conn, not "
        "psycopg.Connection; with a sync connection use add_job()"
    )
    with pytest.raises(TypeError, match=r"add_jobs_async\(\) takes a psycopg.AsyncConnection"
                                         r".*use add_jobs\(\)"):
        asyncio.run(add_jobs_async(conn, [JobSpec("t")]))  # type: ignore[arg-type]
    _nothing_sent(conn)
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 0


def test_a_connection_of_another_driver_is_told_to_use_plain_sql(db, tmp_path):
    other = sqlite3.connect(tmp_path / "other.db")  # any DB-API driver other than psycopg 3
    try:
        for call in (lambda: add_job(other, "t"), lambda: add_jobs(other, [JobSpec("t")]),
                     lambda: asyncio.run(add_job_async(other, "t"))):
            with pytest.raises(TypeError) as info:
                call()
            message = str(info.value)
            assert "(psycopg 3) as conn, not sqlite3.Connection" in message
            assert "with psycopg2 or another driver, enqueue with plain SQL: " \
                   "`select graphile_worker.add_job(...)` (docs/enqueue.md)" in message
    finally:
        other.close()


def test_a_cursor_or_a_pool_is_refused_with_what_to_pass(db, dsn, connect):
    conn = connect(autocommit=False)
    with pytest.raises(TypeError, match=r"not psycopg.Cursor; pass the connection "
                                        r"\(cursor.connection\), not a cursor"):
        add_job(conn.cursor(), "t")  # type: ignore[arg-type]
    _nothing_sent(conn)
    with psycopg_pool.ConnectionPool(dsn, min_size=1, open=True) as pool:
        with pytest.raises(TypeError, match=r"not psycopg_pool.*ConnectionPool; borrow a "
                                            r"connection from the pool"):
            add_job(pool, "t")  # type: ignore[arg-type]


# --- whatever the session's settings (issue 13, class 13) --------------------------------------


def _stored_job(db: psycopg.Connection, job: Job) -> Job:
    """The job's row read again on the test's own connection (default settings, text format),
    as the API read it before it used the binary format."""
    row = db.execute(
        f"select {_sql._ENQUEUED_COLUMNS} from graphile_worker._private_jobs where id = %s",
        (job.id,),
    ).fetchone()
    assert row is not None
    return job_from_enqueue_row(row, job.task_identifier, job.queue_name)


def _set(db: psycopg.Connection, scope: str, name: str, value: str) -> None:
    target = (
        sql.SQL("database {}") if scope == "database"
        else sql.SQL("role current_user in database {}")
    ).format(sql.Identifier(db.info.dbname))
    db.execute(sql.SQL("alter {} set {} = {}").format(
        target, sql.Identifier(name), sql.Literal(value)))


SESSION_SETTINGS = [
    ("database", "datestyle", "SQL, DMY"),
    ("role", "datestyle", "SQL, DMY"),
    ("database", "datestyle", "German, DMY"),
    ("database", "datestyle", "Postgres, MDY"),
    ("database", "intervalstyle", "sql_standard"),
    ("database", "timezone", "Pacific/Chatham"),
    ("role", "timezone", "America/New_York"),
    ("database", "timezone", "-03:30"),  # a numeric offset: psycopg falls back to UTC
    ("database", "extra_float_digits", "-15"),
    ("database", "search_path", ""),
    ("database", "client_encoding", "LATIN1"),
    ("database", "client_encoding", "SQL_ASCII"),
]

PAYLOAD = {"text": "ünïcødé € 💡 \" \\", "n": 1.25, "big": 12345678901234567890, "list": [None]}


@pytest.mark.parametrize(("scope", "name", "value"), SESSION_SETTINGS)
def test_enqueue_works_whatever_the_session_settings(db, dsn, connect, scope, name, value):
    _set(db, scope, name, value)
    conn = connect()  # a new session, which gets the setting
    shown = conn.execute(sql.SQL("show {}").format(sql.Identifier(name))).fetchone()
    assert shown is not None
    if isinstance(shown[0], bytes):  # psycopg returns SQL_ASCII text as bytes
        shown = (shown[0].decode(),)
    assert shown[0] == (value or '""')
    run_at = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    before = datetime.now(UTC)

    job = add_job(conn, "send_email", PAYLOAD, queue_name="mail", run_at=run_at,
                  max_attempts=3, job_key="k1", priority=-2, flags=["a", "b"])
    assert job == _stored_job(db, job)
    assert (job.task_identifier, job.queue_name, job.payload, job.run_at) == (
        "send_email", "mail", PAYLOAD, run_at)
    assert (job.key, job.priority, job.max_attempts, job.attempts, job.revision) == (
        "k1", -2, 3, 0, 0)
    assert job.flags == {"a": True, "b": True} and job.locked_at is None
    assert job.last_error is None
    assert before - timedelta(minutes=1) < job.created_at < datetime.now(UTC) + timedelta(
        minutes=1)
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 1

    jobs = add_jobs(conn, [JobSpec("resize", PAYLOAD, run_at=run_at, priority=4),
                           {"identifier": "resize", "job_key": "k2", "flags": ["x"]}])
    assert [j == _stored_job(db, j) for j in jobs] == [True, True]
    assert (jobs[0].payload, jobs[0].run_at, jobs[0].priority) == (PAYLOAD, run_at, 4)
    assert (jobs[1].key, jobs[1].flags, jobs[1].payload) == ("k2", {"x": True}, {})
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 3

    async def main() -> tuple[Job, list[Job]]:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as aconn:
            one_job = await add_job_async(aconn, "a", PAYLOAD, run_at=run_at, job_key="k3")
            many = await add_jobs_async(aconn, [JobSpec("b", [1], run_at=run_at)])
            return one_job, many

    async_job, async_jobs = asyncio.run(main())
    assert async_job == _stored_job(db, async_job) and async_job.run_at == run_at
    assert async_job.payload == PAYLOAD and async_job.key == "k3"
    assert async_jobs[0] == _stored_job(db, async_jobs[0]) and async_jobs[0].payload == [1]
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 5


def test_naive_run_at_is_read_in_the_session_time_zone(db, connect):
    _set(db, "database", "timezone", "Pacific/Chatham")
    conn = connect()
    naive = datetime(2030, 6, 1, 12, 0)
    job = add_job(conn, "t", run_at=naive)
    (spec_job,) = add_jobs(conn, [JobSpec("t", run_at=naive)])
    expected = naive.replace(tzinfo=ZoneInfo("Pacific/Chatham"))
    assert job.run_at == expected and spec_job.run_at == expected
    assert job.run_at.utcoffset() == timedelta(hours=12, minutes=45)


def test_returned_job_is_the_same_as_a_text_mode_read(db):
    """Reading the result in binary changes nothing in the default settings: the same values,
    the same types and time zones."""
    job = add_job(db, "t", PAYLOAD, run_at=datetime(2030, 1, 1, tzinfo=UTC), job_key="k",
                  flags=["f"])
    (spec_job,) = add_jobs(db, [JobSpec("u", [1, "x"], queue_name="q")])
    for got in (job, spec_job):
        expected = _stored_job(db, got)
        assert got == expected
        assert repr(got) == repr(expected)  # also the tzinfo of every datetime


def test_a_timestamp_python_cannot_hold_is_returned_not_raised_after_the_write(db):
    """A row written by hand or by Node with run_at 'infinity': replacing it (the job is
    updated) returns the job, with run_at as datetime.max, instead of raising after the
    update has committed."""
    first = add_job(db, "t", [1], job_key="k")
    db.execute("update graphile_worker._private_jobs set run_at = 'infinity' where id = %s",
               (first.id,))
    job = add_job(db, "t", [2], job_key="k", job_key_mode="preserve_run_at")
    assert (job.id, job.payload, job.revision) == (first.id, [1, 2], 1)
    assert job.run_at == datetime.max.replace(tzinfo=UTC)
    db.execute("update graphile_worker._private_jobs set run_at = '-infinity' where id = %s",
               (first.id,))
    (again,) = add_jobs(db, [JobSpec("t", [3], job_key="k")], job_key_preserve_run_at=True)
    assert again.run_at == datetime.min.replace(tzinfo=UTC) and again.payload == [1, 2, 3]
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 1


def test_a_payload_python_cannot_load_is_returned_as_its_json_text(db):
    """A payload nested deeper than Python's recursion limit (written by hand or by Node):
    replacing its job appends to it and returns the job, the payload as JSON text."""
    first = add_job(db, "t", [1], job_key="deep")
    db.execute("update graphile_worker._private_jobs set payload ="
               " (repeat('[', 5000) || repeat(']', 5000))::json where id = %s", (first.id,))
    job = add_job(db, "t", [2], job_key="deep")
    assert (job.id, job.revision) == (first.id, 1)
    assert isinstance(job.payload, str)
    assert job.payload.replace(" ", "") == "[" * 5000 + "]" * 4999 + ",2]"
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 1
