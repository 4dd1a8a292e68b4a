"""The runner through PgBouncer in transaction pooling mode (Debian 12's 1.18: no prepared
statements, the `options` startup parameter refused): `--no-listen --no-prepared-statements`,
2,000 jobs, each run exactly once; heartbeats and the sweep work through it too."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from helpers import as_owner, enqueue_spread, one, queue_overlaps, scalar, wait_until
from psycopg.conninfo import conninfo_to_dict, make_conninfo

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
PORT = 54372
JOBS = 2000


@pytest.fixture
def pgbouncer(dsn: str) -> Iterator[str]:
    """PgBouncer on 127.0.0.1:54372 in front of the test server; the DSN of the test database
    through it. It runs as `postgres` when we are root (it refuses to run as root)."""
    if not os.path.exists(PGBOUNCER):
        pytest.fail("pgbouncer is not installed (scripts/ensure-deps.sh installs it)")
    backend = conninfo_to_dict(dsn)
    workdir = Path(tempfile.mkdtemp(prefix="gw_pgbouncer_", dir="/tmp"))
    (workdir / "userlist.txt").write_text(f'"{backend["user"]}" ""\n')
    (workdir / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={backend['host']} port={backend['port']}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {PORT}\nunix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {workdir}/userlist.txt\n"
        "pool_mode = transaction\n"
        "default_pool_size = 10\nmax_client_conn = 200\n"
        f"logfile = {workdir}/pgbouncer.log\n"
        # no ignore_startup_parameters = options: the runner must cope with the refusal
    )
    if os.getuid() == 0:
        pg = pwd.getpwnam("postgres")
        for path in (workdir, *workdir.iterdir()):
            os.chown(path, pg.pw_uid, pg.pw_gid)
    proc = subprocess.Popen(as_owner(PGBOUNCER, str(workdir / "pgbouncer.ini")),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    through = make_conninfo(host="127.0.0.1", port=PORT, user=backend["user"],
                            dbname=backend["dbname"])
    try:
        def up() -> bool:
            assert proc.poll() is None, (workdir / "pgbouncer.log").read_text()
            try:
                with psycopg.connect(through, autocommit=True, connect_timeout=2) as conn:
                    conn.execute("select 1")
                return True
            except psycopg.OperationalError:
                return False

        wait_until(up, 20, "pgbouncer to accept connections")
        yield through
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def test_2000_jobs_through_pgbouncer_transaction_pooling_run_exactly_once(
    dsn, calls, runners, pgbouncer
):
    db = calls
    enqueue_spread(dsn, JOBS, 10)
    options = ("--no-listen", "--no-prepared-statements", "--poll-interval", "0.2", "-j", "8",
               "--heartbeat-interval", "0.3", "--stale-after", "30", "--sweep-interval", "0.5")
    procs = [runners.start(*options, connection=pgbouncer) for _ in range(2)]
    wait_until(lambda: scalar(db, "select count(*) from graphile_worker._private_jobs") == 0,
               120, "every job to complete", interval=0.3)
    workers = scalar(db, "select count(*) from graphile_worker._private_workers")
    for runner in procs:
        runner.send(signal.SIGTERM)
    for runner in procs:
        assert runner.wait(30) == 0, runner.log

    counts = one(db, "select count(*) as calls, count(distinct job_id) as jobs,"
                     " count(distinct pid) as runners from calls")
    assert counts == {"calls": JOBS, "jobs": JOBS, "runners": 2}
    assert queue_overlaps(db) == []
    assert workers == 2  # both registered through PgBouncer...
    assert scalar(db, "select count(*) from graphile_worker._private_workers") == 0  # ...and left
    for runner in procs:
        log = runner.log
        # PgBouncer refuses the claim connection's `options` (synchronous_commit=off)
        assert "refuses the options startup parameter" in log, log
        assert "ERROR" not in log and "heartbeat failed" not in log, log
