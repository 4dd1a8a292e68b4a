"""A runner whose database refuses it or goes away (issue 13, classes 6 and 12), on a private
cluster that the tests stop and reconfigure: bad credentials end the runner with status 1
instead of retrying for ever, and a runner stopped while its database is gone exits within the
documented bound, without spinning, and at once on a second signal."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime

import psycopg
import pytest
from helpers import PrivateCluster, Runners, as_owner, query, wait_until
from psycopg.conninfo import make_conninfo

from gw_runner import Worker, task
from gw_runner.errors import DatabaseError


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    cluster = PrivateCluster("gw_unreachable_pg", 54372)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def _require_peer_auth(cluster: PrivateCluster, role: str) -> str:
    """Make `role` log in with peer authentication over the socket (the OS user running the
    tests is not `role`, so it fails with "Peer authentication failed"); its DSN."""
    hba = f"{cluster.datadir}/pg_hba.conf"
    subprocess.run(as_owner("sh", "-c", f"sed -i '1i local all {role} peer' {hba}"), check=True)
    with psycopg.connect(cluster.dsn("postgres"), autocommit=True) as conn:
        conn.execute(f"drop role if exists {role}")  # the cluster outlives a test run
        conn.execute(f"create role {role} login")
        conn.execute("select pg_reload_conf()")
    return make_conninfo(host=cluster.sockdir, port=cluster.port, user=role, dbname="postgres")


def test_peer_authentication_failure_exits_1_at_once(cluster, tmp_path):
    cluster.fresh_database("gw_peer")
    dsn = _require_peer_auth(cluster, "peer_only")
    with pytest.raises(psycopg.OperationalError, match="Peer authentication failed"):
        psycopg.connect(dsn).close()
    runners = Runners(dsn, tmp_path)
    try:
        runner = runners.start("--once", connection=dsn)
        assert runner.wait(60) == 1, runner.log
        assert "Peer authentication failed" in runner.log
        assert "retrying" not in runner.log, runner.log
    finally:
        runners.close()


def test_library_start_raises_on_peer_authentication_failure(cluster):
    cluster.fresh_database("gw_peer_lib")
    dsn = _require_peer_auth(cluster, "peer_only_lib")

    @task
    async def noop(payload: object) -> None:
        return None

    async def main() -> None:
        worker = Worker([noop], connection=dsn)
        with pytest.raises(DatabaseError, match="Peer authentication failed"):
            await asyncio.wait_for(worker.start(), 60)
        assert await worker.wait_stopped() == 1

    asyncio.run(main())


def test_sigterm_while_the_server_cannot_be_reached_exits_1_promptly(tmp_path):
    """Nothing listens on the port: the runner retries with backoff (the server may be
    starting); SIGTERM ends it at once, with status 1 (it never started)."""
    dsn = make_conninfo(host="127.0.0.1", port=1, user="postgres", dbname="postgres")
    runners = Runners(dsn, tmp_path)
    try:
        runner = runners.start()
        runner.wait_for_log("retrying", 30)
        runner.send(signal.SIGTERM)
        started = time.monotonic()
        assert runner.wait(30) == 1, runner.log
        assert time.monotonic() - started < 15, runner.log
    finally:
        runners.close()


CANNOT_CONNECT = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) .*cannot connect", re.M)


def _trying_for(log: str) -> float:
    """Seconds between the first and the last "cannot connect" record of a runner's log."""
    stamps = [datetime.strptime(s, "%Y-%m-%d %H:%M:%S.%f") for s in CANNOT_CONNECT.findall(log)]
    return (stamps[-1] - stamps[0]).total_seconds() if stamps else 0.0


def _stop_server_under_running_runners(cluster, tmp_path, *options: str):
    dsn = cluster.fresh_database("gw_gone")
    runners = Runners(dsn, tmp_path)
    # sweeps due early and often: a failed heartbeat with a sweep due made the loop spin
    started = [runners.start("-j", "2", "--heartbeat-interval", "0.5", "--stale-after", "3",
                             "--sweep-interval", "0.5", *options) for _ in range(2)]
    for runner in started:
        runner.wait_for_log("registered for crash recovery", 30)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("select graphile_worker.add_job('long_first_try',"
                     " '{\"first\": 600, \"later\": 0}')")
    wait_until(lambda: query(dsn, "select count(*) from calls where note = 'start'"), 30,
               "the long job to start")
    cluster.pg_ctl("stop")
    return runners, started


def test_sigterm_after_the_database_is_gone_exits_within_the_bound(cluster, tmp_path):
    runners, started = _stop_server_under_running_runners(
        cluster, tmp_path, "--shutdown-timeout", "3")
    try:
        # the runners notice: heartbeats fail, with sweeps due; each has been trying to
        # reconnect for 4 s of its own clock (by the times of its records)
        for runner in started:
            wait_until(lambda r=runner: _trying_for(r.alive_log()) >= 4.0, 60,
                       "the runners to try reconnecting for 4 s")
        for runner in started:
            assert "cannot connect" in runner.log  # it noticed
            assert runner.log.count("\n") < 100, runner.log[-3000:]  # backing off
        begun = time.monotonic()
        for runner in started:
            runner.send(signal.SIGTERM)
        statuses = [runner.wait(60) for runner in started]
        # the runner with the long job could not report its outcome: 1; the idle one may
        # exit 0 (nothing of its is unaccounted for; its registration goes stale)
        assert 1 in statuses and set(statuses) <= {0, 1}, [r.log for r in started]
        took = time.monotonic() - begun
        # the documented bound: shutdown timeout + 5 s for the final report (+ margin)
        assert took < 3 + 5 + 7, (took, [r.log for r in started])
        for runner in started:
            lines = runner.log.count("\n")
            assert lines < 200, runner.log[-5000:]  # retries back off: no flood
    finally:
        runners.close()


def test_second_signal_after_the_database_is_gone_exits_at_once(cluster, tmp_path):
    runners, started = _stop_server_under_running_runners(
        cluster, tmp_path, "--shutdown-timeout", "300")
    try:
        for runner in started:
            runner.send(signal.SIGTERM)
        for runner in started:
            runner.wait_for_log("shutting down", 30)
        begun = time.monotonic()
        for runner in started:
            runner.send(signal.SIGTERM)
        statuses = [runner.wait(60) for runner in started]
        assert 1 in statuses and set(statuses) <= {0, 1}, [r.log for r in started]
        assert time.monotonic() - begun < 15, [r.log for r in started]
    finally:
        runners.close()
