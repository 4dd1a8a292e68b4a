"""Heartbeats and the stale-worker sweep, from SQL (time moved through `now`)."""

from __future__ import annotations

import threading
from datetime import timedelta

import psycopg
import pytest

from tests.helpers import one, rows, scalar, snapshot


def _claim(db: psycopg.Connection, worker: str, n: int = 10, ahead: str = "0") -> list[int]:
    sql = "select id from graphile_worker.get_jobs(%s, array['t'], %s, now => now() + %s::interval)"
    return [r["id"] for r in rows(db, sql, (worker, n, ahead))]


def test_sweep_releases_jobs_of_a_worker_past_its_threshold(db: psycopg.Connection) -> None:
    db.execute("select graphile_worker.register_worker('w1', interval '1 minute')")
    db.execute("select graphile_worker.add_job('t', queue_name => 'q')")
    db.execute("select graphile_worker.add_job('t')")
    assert len(_claim(db, "w1")) == 2

    # Within the threshold nothing happens.
    assert (
        rows(
            db,
            "select * from graphile_worker.recover_stale_workers(now => now() + interval '59 seconds')",
        )
        == []
    )

    swept = one(
        db,
        "select * from graphile_worker.recover_stale_workers(interval '30 seconds', now() + interval '2 minutes')",
    )
    assert swept["worker_id"] == "w1"
    assert swept["jobs_recovered"] == 2

    jobs = rows(
        db,
        "select attempts, locked_by, last_error, run_at - now() as delay from graphile_worker._private_jobs",
    )
    for job in jobs:
        assert job["attempts"] == 1, "a crash uses up the attempt"
        assert job["locked_by"] is None
        assert job["last_error"].startswith("worker w1 was lost (last heartbeat at ")
        # run_at = greatest(run_at, now) + recovery_delay, with now two minutes ahead
        assert timedelta(minutes=2, seconds=29) < job["delay"] <= timedelta(minutes=2, seconds=31)
    assert (
        scalar(
            db,
            "select count(*) from graphile_worker._private_job_queues where locked_by is not null",
        )
        == 0
    )
    assert scalar(db, "select count(*) from graphile_worker._private_workers") == 0


def test_heartbeat_keeps_a_worker_alive_and_reports_a_swept_one(db: psycopg.Connection) -> None:
    db.execute("select graphile_worker.register_worker('w1', interval '1 minute')")
    assert (
        scalar(db, "select graphile_worker.heartbeat('w1', now() + interval '50 seconds')") is True
    )
    # 100 s after registration but 50 s after the last beat: alive.
    assert (
        rows(
            db,
            "select * from graphile_worker.recover_stale_workers(now => now() + interval '100 seconds')",
        )
        == []
    )
    assert (
        len(
            rows(
                db,
                "select * from graphile_worker.recover_stale_workers(now => now() + interval '111 seconds')",
            )
        )
        == 1
    )
    assert scalar(db, "select graphile_worker.heartbeat('w1')") is False


def test_sweep_leaves_unregistered_lockers_to_the_four_hour_rule(db: psycopg.Connection) -> None:
    db.execute("select graphile_worker.add_job('t')")
    _claim(db, "node-pool-1")
    assert (
        rows(
            db,
            "select * from graphile_worker.recover_stale_workers(now => now() + interval '3 hours')",
        )
        == []
    )
    assert scalar(db, "select locked_by from graphile_worker._private_jobs") == "node-pool-1"
    assert (
        scalar(
            db, "select graphile_worker.reset_locked(now => now() + interval '4 hours 1 minute')"
        )
        == 1
    )


def test_stale_worker_cannot_complete_a_job_that_was_reclaimed(db: psycopg.Connection) -> None:
    db.execute("select graphile_worker.register_worker('w1', interval '1 minute')")
    job_id = scalar(db, "select id from graphile_worker.add_job('t')")
    _claim(db, "w1")
    db.execute(
        "select * from graphile_worker.recover_stale_workers(now => now() + interval '5 minutes')"
    )
    assert _claim(db, "w2", ahead="5 minutes") == [job_id]
    lost = one(
        db, "select * from graphile_worker.report_jobs('w1', array[%s]::bigint[])", (job_id,)
    )
    assert lost["outcome"] == "lost"
    assert (
        scalar(db, "select locked_by from graphile_worker._private_jobs where id = %s", (job_id,))
        == "w2"
    )


def test_job_that_crashes_every_worker_ends_permanently_failed(db: psycopg.Connection) -> None:
    job_id = scalar(db, "select id from graphile_worker.add_job('t', max_attempts => 3)")
    for i in range(5):
        worker = f"w{i}"
        db.execute("select graphile_worker.register_worker(%s, interval '1 minute')", (worker,))
        claimed = _claim(db, worker)
        if i < 3:
            assert claimed == [job_id]
        else:
            assert claimed == []
        db.execute(
            "select * from graphile_worker.recover_stale_workers(now => now() + interval '10 minutes')"
        )
        db.execute("update graphile_worker._private_jobs set run_at = now() - interval '1 second'")
    job = one(db, "select attempts, max_attempts, is_available from graphile_worker._private_jobs")
    assert job == {"attempts": 3, "max_attempts": 3, "is_available": False}


def test_concurrent_sweeps_process_each_worker_once(db: psycopg.Connection, connect) -> None:
    for i in range(20):
        db.execute("select graphile_worker.register_worker(%s, interval '1 minute')", (f"w{i}",))
        db.execute("select graphile_worker.add_job('t')")
        _claim(db, f"w{i}", 1)
    results: list[list[tuple[str]]] = []
    barrier = threading.Barrier(3)

    def sweep() -> None:
        conn = connect()
        barrier.wait()
        results.append(
            conn.execute(
                "select worker_id from graphile_worker.recover_stale_workers(now => now() + interval '1 hour')"
            ).fetchall()
        )

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    swept = sorted(w for res in results for (w,) in res)
    assert swept == sorted(f"w{i}" for i in range(20))
    assert (
        scalar(db, "select count(*) from graphile_worker._private_jobs where locked_by is not null")
        == 0
    )


@pytest.mark.parametrize(
    ("sql", "sqlstate"),
    [
        ("select graphile_worker.register_worker(null)", "GWA01"),
        ("select graphile_worker.register_worker('')", "GWA01"),
        ("select graphile_worker.register_worker(repeat('x', 129))", "GWA02"),
        ("select graphile_worker.register_worker('w', interval '0')", "GWA02"),
        ("select graphile_worker.register_worker('w', null)", "GWA02"),
        ("select graphile_worker.heartbeat(null)", "GWA01"),
        ("select * from graphile_worker.recover_stale_workers(interval '-1 second')", "GWA02"),
        ("select * from graphile_worker.recover_stale_workers(null)", "GWA02"),
    ],
)
def test_recovery_functions_reject_bad_input(
    db: psycopg.Connection, sql: str, sqlstate: str
) -> None:
    db.execute("select graphile_worker.register_worker('existing')")
    before = snapshot(db)
    with pytest.raises(psycopg.Error) as exc:
        db.execute(sql)
    assert exc.value.sqlstate == sqlstate
    assert snapshot(db) == before
