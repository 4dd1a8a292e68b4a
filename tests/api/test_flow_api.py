"""The flow-control API (gw_runner._flow): pause and resume tasks and queues, task limits,
flow_controls, cancel_jobs and cancel_jobs_by_key, sync and async; bad input raises
InvalidFlowControlArgument (GWF01) naming the problem and changes nothing; the hooks of an
in-process worker for a cancelled job and for jobs given back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from helpers import run, scalar, snapshot

import gw_runner
from gw_runner import (
    CancelResult,
    FlowControl,
    JobCancelled,
    JobContext,
    JobFailed,
    JobsReturned,
    JobStarted,
    Worker,
    WorkerHooks,
    add_job,
    add_job_async,
    flow_controls,
    pause_queues,
    pause_tasks,
    set_task_limits,
    task,
)
from gw_runner.errors import InvalidFlowControlArgument

FUNCTIONS = ("pause_tasks", "resume_tasks", "pause_queues", "resume_queues", "set_task_limits",
             "flow_controls", "cancel_jobs", "cancel_jobs_by_key")


def call(dsn: str, db: psycopg.Connection, name: str, *args: Any, is_async: bool,
         **kwargs: Any) -> Any:
    """``gw_runner.<name>`` on ``db``, or ``<name>_async`` on an async connection of its own."""
    if not is_async:
        return getattr(gw_runner, name)(db, *args, **kwargs)

    async def main() -> Any:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            return await getattr(gw_runner, f"{name}_async")(conn, *args, **kwargs)

    return run(main())


both = pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])


# --- what they do ------------------------------------------------------------------------------


@both
def test_pause_and_resume_return_the_names_whose_state_changed(db, dsn, is_async):
    def do(name: str, *args: Any) -> Any:
        return call(dsn, db, name, *args, is_async=is_async)

    assert do("pause_tasks", ["b", "a", "a"]) == ["a", "b"]
    assert do("pause_tasks", ["a", "c"]) == ["c"]
    assert do("pause_queues", ("q1",)) == ["q1"]
    assert do("pause_queues", ["q1"]) == []
    assert [(c.kind, c.name, c.paused) for c in do("flow_controls")] == [
        ("task", "a", True), ("task", "b", True), ("task", "c", True), ("queue", "q1", True)]
    assert do("resume_tasks", ["a", "b", "never_paused"]) == ["a", "b"]
    assert do("resume_queues", ["q1"]) == ["q1"]
    assert [(c.kind, c.name) for c in do("flow_controls")] == [("task", "c")]


@both
def test_task_limits_show_in_flow_controls_and_none_removes_them(db, dsn, is_async):
    def do(name: str, *args: Any, **kwargs: Any) -> Any:
        return call(dsn, db, name, *args, is_async=is_async, **kwargs)

    assert do("set_task_limits", "mail", max_running=3, rate_limit=600, rate_period=60) is None
    do("set_task_limits", "sms", rate_limit=5, rate_period=timedelta(seconds=1.5))
    mail, sms = do("flow_controls")
    assert isinstance(mail, FlowControl)
    assert (mail.kind, mail.name, mail.paused, mail.max_running, mail.running, mail.rate_limit,
            mail.rate_period, mail.starts) == (
        "task", "mail", False, 3, 0, 600, timedelta(minutes=1), 0)
    assert mail.updated_at is not None
    assert (sms.name, sms.max_running, sms.running, sms.rate_limit, sms.rate_period) == (
        "sms", None, None, 5, timedelta(seconds=1.5))
    do("set_task_limits", "mail")
    assert [c.name for c in do("flow_controls")] == ["sms"]


@both
def test_cancel_jobs_says_per_id_what_it_did(db, dsn, is_async):
    waiting = add_job(db, "t", {}).id
    scheduled = scalar(db, "select id from graphile_worker.add_job('t', '{}',"
                           " run_at => now() + interval '1 hour')")
    failed = add_job(db, "t", {}, max_attempts=1).id
    db.execute("update graphile_worker._private_jobs set attempts = 1 where id = %s", (failed,))
    running = add_job(db, "r", {}).id
    db.execute("select graphile_worker.get_jobs('w1', array['r'], 1, null)")
    results = call(dsn, db, "cancel_jobs", [waiting, scheduled, failed, running, 10**12],
                   is_async=is_async)
    assert results == [
        CancelResult(waiting, True, "waiting"), CancelResult(scheduled, True, "scheduled"),
        CancelResult(failed, False, "failed"), CancelResult(running, True, "running"),
        CancelResult(10**12, False, "unknown"),
    ]
    assert scalar(db, "select array_agg(id order by id) from graphile_worker._private_jobs") \
        == [failed, running]
    assert call(dsn, db, "cancel_jobs", [running], is_async=is_async) == [
        CancelResult(running, False, "cancelling")]


@both
def test_cancel_jobs_by_key_gives_one_result_per_key(db, dsn, is_async):
    job_id = add_job(db, "t", {}, job_key="report:1").id
    assert call(dsn, db, "cancel_jobs_by_key", ["nobody", "report:1"], is_async=is_async) == [
        CancelResult(None, False, "unknown", "nobody"),
        CancelResult(job_id, True, "waiting", "report:1"),
    ]
    assert scalar(db, "select count(*) from graphile_worker._private_jobs") == 0


def test_they_run_in_the_callers_transaction(dsn, db):
    with psycopg.connect(dsn) as conn:  # not autocommit
        assert pause_tasks(conn, ["t"]) == ["t"]
        set_task_limits(conn, "u", max_running=1)
        assert len(flow_controls(conn)) == 2
        conn.rollback()
    assert flow_controls(db) == []


# --- bad input -----------------------------------------------------------------------------------

BAD: list[tuple[str, tuple[Any, ...], dict[str, Any], str]] = [
    ("pause_tasks", ([],), {}, "pause_tasks: pass at least one task, not an empty array"),
    ("pause_tasks", (None,), {}, "pause_tasks: pass at least one task, not null"),
    ("pause_tasks", ([""],), {}, "pause_tasks: a task name must be 1 to 128 characters, not ''"),
    ("pause_tasks", (["x" * 129],), {}, "pause_tasks: a task name must be 1 to 128 characters"),
    ("resume_tasks", (["ok", None],), {}, "resume_tasks: a task name must be 1 to 128 "
                                          "characters, not null"),
    ("pause_queues", ([],), {}, "pause_queues: pass at least one queue"),
    ("resume_queues", ([""],), {}, "resume_queues: a queue name must be 1 to 128 characters"),
    ("set_task_limits", ("",), {"max_running": 1}, "set_task_limits: a task name must be"),
    ("set_task_limits", ("t",), {"max_running": 0},
     "set_task_limits: max_running must be 1 or more, not 0"),
    ("set_task_limits", ("t",), {"max_running": 2**31},
     "set_task_limits: max_running must be 1 or more and at most 2147483647, not 2147483648"),
    ("set_task_limits", ("t",), {"rate_limit": 0, "rate_period": 60},
     "set_task_limits: rate_limit must be 1 or more, not 0"),
    ("set_task_limits", ("t",), {"rate_limit": 5},
     "set_task_limits: rate_limit and rate_period go together"),
    ("set_task_limits", ("t",), {"rate_period": timedelta(minutes=1)},
     "set_task_limits: rate_limit and rate_period go together"),
    ("set_task_limits", ("t",), {"rate_limit": 5, "rate_period": 0.5},
     "set_task_limits: rate_period must be from 1 second to 7 days"),
    ("set_task_limits", ("t",), {"rate_limit": 5, "rate_period": timedelta(days=8)},
     "set_task_limits: rate_period must be from 1 second to 7 days, not 8 days"),
    ("set_task_limits", ("t",), {"rate_limit": 5, "rate_period": float("inf")},
     "set_task_limits: rate_period must be from 1 second to 7 days, not inf"),
    ("cancel_jobs", ([],), {}, "cancel_jobs: pass at least one job id, and no null"),
    ("cancel_jobs", ([1, None],), {}, "cancel_jobs: pass at least one job id, and no null"),
    ("cancel_jobs_by_key", ([],), {}, "cancel_jobs_by_key: pass at least one job key"),
    ("cancel_jobs_by_key", ([None],), {}, "cancel_jobs_by_key: pass at least one job key"),
]


@both
@pytest.mark.parametrize(("name", "args", "kwargs", "message"), BAD,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_raises_gwf01_naming_the_problem_and_changes_nothing(
    db, dsn, is_async, name, args, kwargs, message
):
    pause_tasks(db, ["t"])
    pause_queues(db, ["q"])
    set_task_limits(db, "u", max_running=2, rate_limit=10, rate_period=60)
    add_job(db, "t", {}, job_key="k")
    before = snapshot(db)
    with pytest.raises(InvalidFlowControlArgument) as raised:
        call(dsn, db, name, *args, is_async=is_async, **kwargs)
    assert raised.value.sqlstate == "GWF01"
    assert str(raised.value).startswith(message), str(raised.value)
    assert snapshot(db) == before


WRONG_TYPES: list[tuple[str, tuple[Any, ...], dict[str, Any], str]] = [
    ("pause_tasks", ("send_email",), {},
     "task_identifiers must be a list, not str (one task_identifier: pass ['send_email'])"),
    ("resume_queues", ([1],), {}, "each of queue_names must be a str, not int"),
    ("cancel_jobs", (7,), {}, "job_ids must be a list, not int (one job_id: pass [7])"),
    ("cancel_jobs", ([True],), {}, "each of job_ids must be an int, not bool"),
    ("cancel_jobs", (["7"],), {}, "each of job_ids must be an int, not str"),
    ("cancel_jobs_by_key", ("k",), {}, "job_keys must be a list, not str"),
    ("set_task_limits", (5,), {}, "task_identifier must be a str, not int"),
    ("set_task_limits", ("t",), {"max_running": "2"}, "max_running must be an int or None"),
    ("set_task_limits", ("t",), {"rate_limit": 1.5, "rate_period": 1},
     "rate_limit must be an int or None"),
    ("set_task_limits", ("t",), {"rate_limit": 1, "rate_period": "1 minute"},
     "rate_period must be a timedelta or a number of seconds, not str"),
]


@both
@pytest.mark.parametrize(("name", "args", "kwargs", "message"), WRONG_TYPES,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(WRONG_TYPES)])
def test_arguments_of_the_wrong_type_raise_type_error_before_anything_is_sent(
    db, dsn, is_async, name, args, kwargs, message
):
    before = snapshot(db)
    with pytest.raises(TypeError, match=message.replace("[", r"\[").replace("(", r"\(")
                       .replace(")", r"\)").replace("]", r"\]")):
        call(dsn, db, name, *args, is_async=is_async, **kwargs)
    assert snapshot(db) == before


@pytest.mark.parametrize("name", FUNCTIONS)
def test_the_wrong_kind_of_connection_is_a_type_error(db, dsn, name):
    args: tuple[Any, ...] = {"set_task_limits": ("t",), "flow_controls": (),
                             "cancel_jobs": ([1],)}.get(name, (["x"],))
    with pytest.raises(TypeError, match=rf"{name}\(\) takes a psycopg.Connection"):
        getattr(gw_runner, name)(db.cursor(), *args)

    async def main() -> None:
        with pytest.raises(TypeError, match=rf"with a sync connection use {name}\(\)"):
            await getattr(gw_runner, f"{name}_async")(db, *args)

    run(main())


# --- hooks of an in-process worker ----------------------------------------------------------------


class Recorder(WorkerHooks):
    def __init__(self) -> None:
        self.events: list[Any] = []

    def on_job_started(self, event: JobStarted) -> None:
        self.events.append(event)

    def on_job_failed(self, event: JobFailed) -> None:
        self.events.append(event)

    def on_job_cancelled(self, event: JobCancelled) -> None:
        self.events.append(event)

    def on_jobs_returned(self, event: JobsReturned) -> None:
        self.events.append(event)


SEEN: dict[str, Any] = {}


@task
async def hold(payload: Any, ctx: JobContext) -> None:
    SEEN["ctx"] = ctx
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        SEEN["cancelled"] = ctx.cancelled
        raise


@task
async def later(payload: Any, ctx: JobContext) -> None:
    pass


async def until(predicate: Callable[[], Any], what: str, timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


def test_hooks_for_a_cancelled_job_and_for_jobs_given_back(dsn):
    """Concurrency 1: one job runs, three wait in the local queue. A pause gives two back
    (reason paused), a cancel the third (reason cancelled), and the cancel of the running job
    fires on_job_cancelled (not on_job_failed)."""
    SEEN.clear()
    rec = Recorder()

    def returned(reason: str) -> list[JobsReturned]:
        return [e for e in rec.events if isinstance(e, JobsReturned) and e.reason == reason]

    async def main() -> None:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            running = (await add_job_async(conn, "hold", {})).id
            queued = (await add_job_async(conn, "hold", {})).id
            paused = [(await add_job_async(conn, "later", {})).id for _ in range(2)]
            worker = Worker([hold, later], connection=dsn, hooks=[rec], concurrency=1,
                            poll_interval=60)
            async with worker:
                await until(lambda: "ctx" in SEEN and worker.snapshot().listening,
                            "the first job to run")
                assert SEEN["ctx"].job_id == running
                await gw_runner.pause_tasks_async(conn, ["later"])
                await until(lambda: returned("paused"), "the paused jobs to be given back")
                await gw_runner.cancel_jobs_async(conn, [queued])
                await until(lambda: returned("cancelled"), "the queued job to be given back")
                await gw_runner.cancel_jobs_async(conn, [running])
                await until(lambda: any(isinstance(e, JobCancelled) for e in rec.events),
                            "on_job_cancelled")
        (by_pause,) = returned("paused")
        assert sorted(by_pause.job_ids) == paused and by_pause.count == 2
        (by_cancel,) = returned("cancelled")
        assert by_cancel.job_ids == (queued,) and by_cancel.count == 1
        started = [e.job.id for e in rec.events if isinstance(e, JobStarted)]
        assert started == [running]
        (cancelled,) = [e for e in rec.events if isinstance(e, JobCancelled)]
        assert cancelled.job.id == running and cancelled.duration is not None
        assert not [e for e in rec.events if isinstance(e, JobFailed)]
        assert SEEN["cancelled"] is True and SEEN["ctx"].cancelled
        assert SEEN["ctx"].abort_signal.reason == "cancelled"

    run(main())
