"""The library API: a Worker embedded in the test's own event loop, with a caller's pool."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
import pytest
from helpers import run, scalar
from psycopg_pool import AsyncConnectionPool

from gw_runner import (
    DatabaseError,
    GraphileWorkerError,
    JobContext,
    Worker,
    WorkerOptions,
    WorkerSettings,
    add_job_async,
    task,
)


def backends(db: psycopg.Connection, dbname: str) -> list[str]:
    return [r[0] for r in db.execute(
        "select coalesce(application_name, '') from pg_stat_activity where datname = %s"
        " and pid <> pg_backend_pid() order by 1", (dbname,)
    ).fetchall()]


def test_worker_with_callers_pool_runs_500_jobs_stops_within_grace_pool_still_usable(db, dsn):
    db.execute("create table done (job_id bigint primary key, n int not null)")
    dbname = db.info.dbname
    seen: dict[str, Any] = {}

    async def main() -> None:
        slow_started = asyncio.Event()
        pool = AsyncConnectionPool(
            dsn, min_size=2, max_size=4, open=False, kwargs={"application_name": "app-pool"}
        )
        async with pool:

            @task
            async def record(payload: dict[str, int], ctx: JobContext) -> None:
                async with pool.connection() as conn:  # the handler shares the app's pool
                    await conn.execute(
                        "insert into done values (%s, %s)", (ctx.job_id, payload["n"])
                    )

            @task
            async def slow(payload: dict[str, float], ctx: JobContext) -> None:
                slow_started.set()
                await asyncio.sleep(payload["seconds"])

            async with pool.connection() as conn:
                await conn.execute(
                    "select graphile_worker.add_jobs(array(select row('record',"
                    " json_build_object('n', i), null, null, null, null, null, null)"
                    "::graphile_worker.job_spec from generate_series(1, 500) i))"
                )
            worker = Worker([record, slow], connection=pool, concurrency=8, poll_interval=0.5)
            await worker.start()
            assert worker.state == "running"
            deadline = time.monotonic() + 60
            while scalar(db, "select count(*) from done") < 500:
                assert time.monotonic() < deadline, "500 jobs not done within 60 s"
                await asyncio.sleep(0.05)
            seen["while_running"] = backends(db, dbname)
            async with pool.connection() as conn:
                await add_job_async(conn, "slow", {"seconds": 1.0})
            await asyncio.wait_for(slow_started.wait(), 30)
            t0 = time.monotonic()
            await worker.stop(grace=20)
            seen["stop_seconds"] = time.monotonic() - t0
            seen["status"] = worker.status
            seen["state"] = worker.state
            # the worker gave the pool back as it found it: open, every connection idle
            assert not pool.closed
            async with pool.connection() as conn:
                cur = await conn.execute("select count(*) from done")
                seen["count_via_pool"] = (await cur.fetchone())[0]  # type: ignore[index]
            stats = pool.get_stats()
            seen["pool_available"] = stats.get("pool_available")
            seen["pool_size"] = stats.get("pool_size")
            seen["after_stop"] = backends(db, dbname)

    run(main())
    assert seen["status"] == 0 and seen["state"] == "stopped"
    # the slow job (1 s) finished inside the 20 s grace period: stop waited for it, no longer
    assert 0.5 < seen["stop_seconds"] < 10, seen["stop_seconds"]
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 0  # slow completed too
    assert scalar(db, "select count(distinct job_id) from done") == 500
    assert seen["count_via_pool"] == 500
    assert seen["pool_available"] == seen["pool_size"]
    # LISTEN was the worker's own connection, not one of the pool's; it is closed after stop
    assert "gw_runner listen" in seen["while_running"]
    assert not [a for a in seen["while_running"] if a.startswith("gw_runner") and a != "gw_runner listen"]
    assert not [a for a in seen["after_stop"] if a.startswith("gw_runner")]
    assert seen["after_stop"].count("app-pool") >= 2


def test_async_with_runs_and_stops_with_a_connection_string(db, dsn):
    db.execute("create table done (job_id bigint primary key)")

    @task
    def sync_record(payload: Any, ctx: JobContext) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("insert into done values (%s)", (ctx.job_id,))

    async def main() -> int | None:
        async with Worker({"rec": sync_record}, connection=dsn, concurrency=2) as worker:
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                for _ in range(5):
                    await add_job_async(conn, "rec", {})
            deadline = time.monotonic() + 30
            while scalar(db, "select count(*) from done") < 5:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
        return worker.status

    assert run(main()) == 0
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 0


def test_run_once_drains_then_returns(db, dsn):
    db.execute("select graphile_worker.add_job('noop', '{}') from generate_series(1, 20)")

    @task
    async def noop(payload: Any) -> None:
        return None

    status = run(Worker([noop], connection=dsn, concurrency=4).run_once())
    assert status == 0
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 0


def test_start_raises_when_the_database_refuses(dsn):
    @task
    async def noop(payload: Any) -> None:
        return None

    async def main() -> None:
        worker = Worker([noop], connection=dsn + " dbname=no_such_database_here")
        with pytest.raises(DatabaseError, match="no_such_database_here"):
            await worker.start()
        assert worker.state == "stopped" and worker.status == 1

    run(main())


def test_stop_before_start_means_it_never_runs(dsn):
    @task
    async def noop(payload: Any) -> None:
        return None

    async def main() -> None:
        worker = Worker([noop], connection=dsn)
        await worker.stop()
        assert await worker.run() == 0
        with pytest.raises(RuntimeError, match="runs once"):
            await worker.start()

    run(main())


def test_a_worker_runs_once(db, dsn):
    @task
    async def noop(payload: Any) -> None:
        return None

    async def main() -> None:
        worker = Worker([noop], connection=dsn)
        assert await worker.run_once() == 0
        with pytest.raises(RuntimeError, match="runs once"):
            await worker.run()

    run(main())


def test_closed_pool_is_refused_at_start(dsn):
    @task
    async def noop(payload: Any) -> None:
        return None

    async def main() -> None:
        pool = AsyncConnectionPool(dsn, open=False)
        worker = Worker([noop], connection=pool)
        with pytest.raises(GraphileWorkerError, match=r"pool .* is closed"):
            await worker.start()

    run(main())


def test_bad_connection_type_is_a_type_error():
    @task
    async def noop(payload: Any) -> None:
        return None

    with pytest.raises(TypeError, match="connection string or a psycopg_pool"):
        Worker([noop], connection=42)  # type: ignore[arg-type]


def test_worker_options_list_every_settings_field():
    """``WorkerOptions`` (the typed keyword options of Worker) must follow WorkerSettings."""
    fields = set(WorkerSettings.__dataclass_fields__) - {"connection"}
    assert set(WorkerOptions.__annotations__) == fields


def test_keyword_options_reach_the_settings(dsn):
    @task
    async def noop(payload: Any) -> None:
        return None

    worker = Worker([noop], connection=dsn, concurrency=7, poll_interval=0.25,
                    forbidden_flags=["x"])  # type: ignore[typeddict-item]
    assert worker.settings.concurrency == 7
    assert worker.settings.poll_interval == 0.25
    assert worker.settings.forbidden_flags == ("x",)
    assert worker.settings.connection == dsn
