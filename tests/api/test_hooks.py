"""Lifecycle hooks: the documented order per job and at shutdown; a raising hook changes
nothing."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import psycopg
import pytest
from helpers import one, run, scalar

from gw_runner import (
    JobContext,
    JobFailed,
    JobPermanentlyFailed,
    JobsReturned,
    JobStarted,
    JobSucceeded,
    PermanentFailure,
    Worker,
    WorkerHooks,
    WorkerStarted,
    WorkerStopped,
    task,
)
from gw_runner._hooks import HookDispatcher, JobsRecovered


class Recorder(WorkerHooks):
    """Records (event name, job key) in order; job key = the job's ``key`` column."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.objects: list[Any] = []

    def _add(self, name: str, event: Any) -> None:
        job = getattr(event, "job", None)
        self.events.append((name, job.key if job is not None else None))
        self.objects.append(event)

    def on_worker_started(self, event: WorkerStarted) -> None:
        self._add("worker_started", event)

    def on_worker_stopped(self, event: WorkerStopped) -> None:
        self._add("worker_stopped", event)

    def on_job_started(self, event: JobStarted) -> None:
        self._add("job_started", event)

    def on_job_succeeded(self, event: JobSucceeded) -> None:
        self._add("job_succeeded", event)

    def on_job_failed(self, event: JobFailed) -> None:
        self._add("job_failed", event)

    def on_job_permanently_failed(self, event: JobPermanentlyFailed) -> None:
        self._add("job_permanently_failed", event)

    def on_jobs_returned(self, event: JobsReturned) -> None:
        self._add("jobs_returned", event)

    def for_job(self, key: str) -> list[str]:
        return [name for name, k in self.events if k == key]

    def of(self, cls: type, key: str | None = None) -> list[Any]:
        return [e for e in self.objects
                if isinstance(e, cls) and (key is None or e.job.key == key)]


class Raiser(WorkerHooks):
    """Every hook raises; the async ones too."""

    def __init__(self) -> None:
        self.calls = 0

    def _boom(self, event: Any) -> None:
        self.calls += 1
        raise RuntimeError(f"hook exploded on {type(event).__name__}")

    on_worker_started = on_worker_stopped = on_job_started = _boom  # type: ignore[assignment]
    on_job_permanently_failed = on_jobs_returned = _boom  # type: ignore[assignment]

    async def on_job_succeeded(self, event: JobSucceeded) -> None:
        self.calls += 1
        raise RuntimeError("async hook exploded")

    async def on_job_failed(self, event: JobFailed) -> None:
        self.calls += 1
        await asyncio.sleep(0)
        raise RuntimeError("async hook exploded after a pause")


@task
async def outcome(payload: dict[str, Any], ctx: JobContext) -> None:
    what = payload["do"]
    if what == "fail":
        raise ValueError("boom")
    if what == "permanent":
        raise PermanentFailure("not retrying")


def enqueue_outcomes(db: psycopg.Connection) -> None:
    # key = what the test looks the job up by
    for key, do, max_attempts in [
        ("ok", "ok", 25), ("retry", "fail", 3), ("last", "fail", 1),
        ("permanent", "permanent", 25),
    ]:
        db.execute(
            "select graphile_worker.add_job('outcome', json_build_object('do', %s::text),"
            " job_key => %s, max_attempts => %s)", (do, key, max_attempts),
        )


def run_outcomes(dsn: str, hooks: list[WorkerHooks]) -> int:
    async def main() -> int:
        worker = Worker([outcome], connection=dsn, hooks=hooks, concurrency=4)
        return await worker.run_once()

    return int(run(main()))


def test_hooks_fire_in_order_for_success_retryable_and_permanent_failure(db, dsn):
    enqueue_outcomes(db)
    rec = Recorder()
    assert run_outcomes(dsn, [rec]) == 0
    names = [n for n, _ in rec.events]
    assert names[0] == "worker_started" and names[-1] == "worker_stopped"
    assert names.count("worker_started") == names.count("worker_stopped") == 1
    assert rec.for_job("ok") == ["job_started", "job_succeeded"]
    assert rec.for_job("retry") == ["job_started", "job_failed"]
    assert rec.for_job("last") == ["job_started", "job_failed", "job_permanently_failed"]
    assert rec.for_job("permanent") == ["job_started", "job_failed", "job_permanently_failed"]

    (ok,) = rec.of(JobSucceeded)
    assert ok.duration >= 0 and ok.job.task_identifier == "outcome"
    (retry,) = rec.of(JobFailed, "retry")
    assert retry.will_retry and isinstance(retry.error, ValueError)
    assert retry.message == "ValueError: boom" and retry.job.attempts == 1
    db_retry = one(db, "select run_at, attempts from graphile_worker.jobs where key = 'retry'")
    assert retry.retry_at == db_retry["run_at"] and db_retry["attempts"] == 1
    (last,) = rec.of(JobFailed, "last")
    assert not last.will_retry and last.retry_at is None
    (perm,) = rec.of(JobFailed, "permanent")
    assert not perm.will_retry and isinstance(perm.error, PermanentFailure)
    (perm_final,) = rec.of(JobPermanentlyFailed, "permanent")
    assert perm_final.message == "not retrying"
    started = rec.of(WorkerStarted)[0]
    assert started.tasks == ("outcome",) and started.concurrency == 4
    assert rec.of(WorkerStopped)[0].status == 0


def test_a_raising_hook_changes_no_outcome_and_is_logged(db, dsn, caplog):
    enqueue_outcomes(db)
    raiser, rec = Raiser(), Recorder()
    with caplog.at_level(logging.ERROR, logger="gw_runner.hooks"):
        assert run_outcomes(dsn, [raiser, rec]) == 0
    # the hooks after the raising one still saw every event
    assert rec.for_job("ok") == ["job_started", "job_succeeded"]
    assert rec.for_job("last") == ["job_started", "job_failed", "job_permanently_failed"]
    # outcomes exactly as without hooks
    states = {r[0]: r[1:] for r in db.execute(
        "select key, attempts, max_attempts, last_error from graphile_worker.jobs"
    ).fetchall()}
    assert states == {
        "retry": (1, 3, "ValueError: boom"),
        "last": (1, 1, "ValueError: boom"),
        "permanent": (25, 25, "not retrying"),
    }
    # started + stopped + 4 job_started + 1 succeeded + 3 failed + 2 permanently_failed
    assert raiser.calls == 12
    messages = [r.getMessage() for r in caplog.records if r.name == "gw_runner.hooks"]
    assert len(messages) == 12, messages
    assert all("raised; ignored" in m for m in messages)


def test_shutdown_order_returned_then_running_job_failed_then_stopped(db, dsn):
    """At stop: unstarted jobs are returned, the job still running after the grace period is
    failed (to be retried), and worker_stopped comes last."""
    db.execute("select graphile_worker.add_job('block', '{}', job_key => 'block', priority => -1)")
    db.execute(
        "select graphile_worker.add_job('block', '{}', job_key => 'queued' || i)"
        " from generate_series(1, 3) i"
    )
    rec = Recorder()

    async def main() -> tuple[int, float]:
        running = asyncio.Event()

        @task
        async def block(payload: Any, ctx: JobContext) -> None:
            running.set()
            await asyncio.sleep(60)

        worker = Worker([block], connection=dsn, hooks=rec, concurrency=1)
        await worker.start()
        await asyncio.wait_for(running.wait(), 30)
        t0 = time.monotonic()
        await worker.stop(grace=0.5)
        return int(worker.status or 0), time.monotonic() - t0

    status, seconds = run(main())
    assert status == 0
    assert seconds < 15, seconds  # the 60 s handler did not hold the stop
    names = [n for n, _ in rec.events]
    assert names == [
        "worker_started", "job_started", "jobs_returned", "job_failed", "worker_stopped"
    ], rec.events
    (returned,) = rec.of(JobsReturned)
    assert returned.count == 3 and returned.reason == "shutdown"
    assert set(returned.job_ids) == {r[0] for r in db.execute(
        "select id from graphile_worker.jobs where key like 'queued%'").fetchall()}
    (failed,) = rec.of(JobFailed)
    assert failed.job.key == "block" and failed.will_retry and failed.error is None
    assert "shut down" in failed.message and "0.5 s shutdown timeout" in failed.message
    assert scalar(db, "select attempts from graphile_worker.jobs where key = 'block'") == 1
    assert scalar(db, "select sum(attempts) from graphile_worker.jobs"
                  " where key like 'queued%'") == 0  # returned: attempt refunded


def test_jobs_recovered_event_reaches_the_hooks():
    rec: list[JobsRecovered] = []

    class Hooks(WorkerHooks):
        def on_jobs_recovered(self, event: JobsRecovered) -> None:
            rec.append(event)

    dispatcher = HookDispatcher([Hooks()], "gw-me")
    dispatcher.emit_jobs_recovered("gw-lost", 3, None)
    assert rec == [JobsRecovered("gw-me", "gw-lost", 3, None)]


def test_hooks_without_overrides_cost_nothing_and_objects_without_methods_are_refused():
    assert not HookDispatcher([WorkerHooks()], "w")
    assert HookDispatcher([Recorder()], "w")
    with pytest.raises(TypeError, match=r"subclass gw_runner\.WorkerHooks"):
        HookDispatcher([object()], "w")  # type: ignore[list-item]
