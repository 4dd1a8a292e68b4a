"""`python -m gw_runner.dashboard`: usage errors exit 2 naming the option, an unreachable
database exits 1, a missing extra exits 2 naming it; reads go to --read-database-url and actions
to the primary."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from helpers import runner_env
from psycopg.conninfo import make_conninfo

from tests.dashboard.support import PGHOST, PGPORT, PGUSER, Servers, add_job, wait_until


def run(*args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", code, *args] if code else \
        [sys.executable, "-m", "gw_runner.dashboard", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60,
                          env=runner_env())


def test_help_lists_the_options() -> None:
    result = run("--help")
    assert result.returncode == 0
    for option in ("--database-url", "--read-database-url", "--host", "--port", "--actions",
                   "--basic-auth", "--token", "--refresh", "--root-path"):
        assert option in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--basic-auth", "nocolon"], "--basic-auth: basic auth must be USER:PASSWORD"),
    (["--port", "70000"], "--port must be from 0 to 65535, not 70000"),
    (["--refresh", "0.01"], "refresh must be from 0.2 to 3600 seconds, not 0.01"),
    (["--port", "many"], "argument --port: invalid int value: 'many'"),
])
def test_bad_options_exit_2_naming_them(args: list[str], message: str) -> None:
    result = run("-c", "dbname=unused", *args)
    assert result.returncode == 2, result
    assert message in result.stderr


def test_an_unreachable_database_exits_1() -> None:
    result = run("-c", "host=/nonexistent-gw-socket-dir dbname=x", "--port", "0")
    assert result.returncode == 1
    assert "gw-dashboard: cannot use the database:" in result.stderr


def test_a_missing_extra_exits_2_naming_it() -> None:
    # jinja2 made unimportable in this interpreter only (None in sys.modules: ImportError)
    code = ("import sys; sys.modules['jinja2'] = None; "
            "from gw_runner.dashboard._command import main; sys.exit(main(sys.argv[1:]))")
    result = run("-c", "dbname=unused", code=code)
    assert result.returncode == 2
    assert "install the dashboard extra: pip install 'gw_runner[dashboard]'" in result.stderr


@pytest.fixture(scope="module")
def replica_dsn(postgresql_noproc: Any) -> Iterator[str]:
    """Another database standing in for a standby (it holds other jobs, so the test can tell
    where each read went)."""
    name = f"gw_dash_replica_{uuid.uuid4().hex[:8]}"
    admin = make_conninfo(host=PGHOST, port=PGPORT, user=PGUSER, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}" template "{postgresql_noproc.template_dbname}"')
    yield make_conninfo(host=PGHOST, port=PGPORT, user=PGUSER, dbname=name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'drop database "{name}" with (force)')


def test_reads_go_to_the_read_database_and_actions_to_the_primary(
    page: Any, servers: Servers, dash_dsn: str, replica_dsn: str, sql: psycopg.Connection
) -> None:
    primary_job = add_job(sql, "on_primary", None)
    with psycopg.connect(replica_dsn, autocommit=True) as replica:
        replica_job = add_job(replica, "on_replica", None)
    server = servers.start(dash_dsn, "--actions", "--read-database-url", replica_dsn)
    page.goto(server.url + "/jobs")
    assert page.locator("table.jobs tbody tr").count() == 1
    assert page.locator("table.jobs td").nth(2).inner_text() == "on_replica"
    assert replica_job == primary_job  # same id in both: the action shows which one it hit
    token = page.locator("#bulk input[name=csrf_token]").input_value()
    response = page.request.post(server.url + "/jobs/action", form={
        "csrf_token": token, "action": "cancel", "scope": "selected", "id": str(primary_job),
        "return": "/jobs"}, headers={"Origin": server.url})
    assert "Cancelled 1 of 1 job." in response.text()
    assert sql.execute("select task_identifier from graphile_worker.job_status(%s)",
                       (primary_job,)).fetchone() == (None,)  # gone from the primary
    with psycopg.connect(replica_dsn) as replica:
        assert replica.execute("select state from graphile_worker.job_status(%s)",
                               (replica_job,)).fetchone() == ("waiting",)


def test_root_path_writes_links_under_the_proxys_prefix(servers: Servers, dash_dsn: str,
                                                         sql: psycopg.Connection) -> None:
    """--root-path /ops: a proxy serves the dashboard under /ops and strips the prefix. The
    server answers at / (as the proxy forwards it) and every link, form and asset it writes
    starts with /ops/, so the browser's next request goes through the proxy again."""
    job = add_job(sql, "behind_a_proxy", None)
    server = servers.start(dash_dsn, "--root-path", "/ops")
    assert "links under /ops/ for the proxy in front" in server.log
    for path in ("/", "/jobs", f"/jobs/{job}"):
        with urllib.request.urlopen(server.url + path, timeout=30) as response:
            assert response.status == 200
            html = response.read().decode()
        links = re.findall(r'(?:href|src|action)="(/[^"]*)"', html)
        assert links, path
        assert all(link.startswith("/ops/") for link in links), (path, links)
    # what the proxy forwards for /ops/static/...: the asset, at /static/ here
    with urllib.request.urlopen(server.url + "/static/dashboard.css", timeout=30) as response:
        assert response.status == 200


def test_live_updates_come_back_after_the_listen_connection_is_lost(
    servers: Servers, dash_dsn: str, sql: psycopg.Connection
) -> None:
    """The server's LISTEN connection is terminated: it connects again after a pause, and a
    notification after that still reaches an open event stream. --refresh 60: a `change`
    event within the wait can only come from a notification, not from the tick."""
    server = servers.start(dash_dsn, "--refresh", "60")
    stream = urllib.request.urlopen(server.url + "/events", timeout=30)
    assert stream.readline().startswith(b"retry:")

    def next_change() -> None:  # (a tick would take 60 s; each read times out after 30)
        while not stream.readline().startswith(b"event: change"):
            pass

    next_change()  # LISTEN is in place (the first connection wakes the pages)
    # every LISTEN connection to this database: this server's, and those of servers other
    # tests of the module left running
    killed = sql.execute(
        "select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity"
        " where datname = current_database() and query like 'LISTEN %') as t").fetchone()
    assert killed is not None and killed[0] >= 1
    wait_until(lambda: "LISTEN connection lost" in server.log, "the loss in the log")
    next_change()  # connected again: the reconnection wakes the pages (changes missed meanwhile)
    sql.execute("select graphile_worker.pause_tasks(array['live_again'])")  # notifies control
    next_change()
    stream.close()
