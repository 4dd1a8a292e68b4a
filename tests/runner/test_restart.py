"""A database restart while the runner works: it reconnects by itself and every job ends
completed, exactly once (at least once if it was running at the restart).

Uses a private cluster (port 54340) so the restart does not disturb the other tests."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "scripts" / "pg-cluster.sh"
DATADIR = "/tmp/gw_restart_pg/data"
PORT = 54340
SOCKDIR = "/tmp/gw_restart_pg/sock"
CONCURRENCY = 8
JOBS = 5000


def _as_owner(*cmd: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.getuid() == 0 else list(cmd)


def _bindir() -> str:
    return subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture
def private_dsn() -> Iterator[str]:
    subprocess.run([str(CLUSTER), "start", DATADIR, str(PORT)], check=True, timeout=120)
    admin = make_conninfo(host=SOCKDIR, port=PORT, user="postgres", dbname="postgres")
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("drop database if exists gw_restart with (force)")
            conn.execute("create database gw_restart")
        dsn = make_conninfo(host=SOCKDIR, port=PORT, user="postgres", dbname="gw_restart")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("create extension graphile_worker")
            conn.execute(
                "create table runs (job_id bigint not null, task text not null, attempt int,"
                " note text, started_at timestamptz not null default clock_timestamp())"
            )
        yield dsn
    finally:
        subprocess.run([str(CLUSTER), "stop", DATADIR], timeout=120)


def query(dsn: str, sql: str) -> object:
    """One value, on a fresh connection (the server may have restarted); None if down."""
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute(sql).fetchone()
            return row[0] if row else None
    except psycopg.OperationalError:
        return None


@pytest.mark.slow
def test_runner_survives_a_database_restart(private_dsn, start_runner, waiter):
    with psycopg.connect(private_dsn, autocommit=True) as conn:
        conn.execute(
            "select graphile_worker.add_jobs(array(select row(case when i %% 2 = 0 then"
            " 'rec_slow_async' else 'rec_slow_sync' end, '{\"sleep\": 0.01}', null, null, null,"
            " null, null, null)::graphile_worker.job_spec from generate_series(1, %s) i))",
            (JOBS,),
        )
    runner = start_runner(
        "record.py", "-j", str(CONCURRENCY), "--poll-interval", "1",
        env={"GW_TEST_DSN": private_dsn}, connection=private_dsn,
    )
    waiter(lambda: (query(private_dsn, "select count(*) from runs") or 0) >= 1000, 120,
           "1000 jobs to run before the restart")
    subprocess.run(
        _as_owner(f"{_bindir()}/pg_ctl", "-D", DATADIR, "restart", "-m", "fast", "-w",
                  "-t", "60", "-l", "/tmp/gw_restart_pg/postgresql.log"),
        check=True, timeout=120, capture_output=True,
    )
    done_at_restart = query(private_dsn, "select count(distinct job_id) from runs")
    assert done_at_restart is not None and done_at_restart < JOBS  # it was still working
    waiter(lambda: query(private_dsn, "select count(*) from graphile_worker._private_jobs") == 0,
           180, "every job to be completed after the restart", interval=0.5)
    assert runner.proc.poll() is None, runner.log  # the runner carried on by itself

    with psycopg.connect(private_dsn, autocommit=True) as conn:
        distinct, calls = conn.execute(
            "select count(distinct job_id), count(*) from runs").fetchone()
        repeated = conn.execute(
            "select count(*) from (select job_id from runs group by job_id"
            " having count(*) > 1) r").fetchone()[0]
    assert distinct == JOBS
    # only jobs running at the restart may have run twice
    assert repeated <= CONCURRENCY, (repeated, calls)
    log = runner.log
    assert "reconnect" in log or "LISTEN restored" in log, log
