"""Who may see and act: basic auth and bearer token when set; with a database role of the
read-only 'monitor' level, --actions still shows no buttons and the database refuses what is
sent anyway, with a message saying why."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from playwright.sync_api import expect
from psycopg.conninfo import make_conninfo

from tests.dashboard.support import Server, Servers, add_job


@pytest.fixture(scope="module")
def guarded(servers: Servers, dash_dsn: str) -> Server:
    return servers.start(dash_dsn, env={"GW_DASHBOARD_BASIC_AUTH": "ops:s3cret pass",
                                        "GW_DASHBOARD_TOKEN": "tok-123"})


def _role(sql: psycopg.Connection, dash_dsn: str, level: str) -> Iterator[str]:
    """A login role (no superuser) with this level of grant_role, as a connection string."""
    role = f"gw_dash_{level}_{uuid.uuid4().hex[:8]}"
    sql.execute(f"create role {role} login")
    sql.execute("select graphile_worker.grant_role(%s, %s)", (role, level))
    yield make_conninfo(dash_dsn, user=role)
    sql.execute("select graphile_worker.revoke_role(%s)", (role,))
    sql.execute(f"drop role {role}")


@pytest.fixture(scope="module")
def monitor_dsn(sql: psycopg.Connection, dash_dsn: str) -> Iterator[str]:
    yield from _role(sql, dash_dsn, "monitor")


@pytest.fixture(scope="module")
def admin_dsn(sql: psycopg.Connection, dash_dsn: str) -> Iterator[str]:
    yield from _role(sql, dash_dsn, "admin")


def test_basic_auth_is_required_when_set(browser: Any, guarded: Server) -> None:
    # (chromium turns a 401 page load into an error: the refusals are checked as requests)
    context = browser.new_context()
    response = context.request.get(guarded.url + "/")
    assert response.status == 401
    assert response.headers["www-authenticate"].startswith("Basic")
    wrong = base64.b64encode(b"ops:wrong").decode()
    assert context.request.get(guarded.url + "/",
                               headers={"Authorization": f"Basic {wrong}"}).status == 401
    context.close()
    context = browser.new_context(http_credentials={"username": "ops",
                                                    "password": "s3cret pass"})
    page = context.new_page()
    assert page.goto(guarded.url + "/").status == 200
    expect(page.locator("h1")).to_have_text("Overview")
    expect(page.locator("body")).to_have_attribute("data-live-mode", "sse")  # the stream too
    context.close()


def test_a_bearer_token_is_accepted(page: Any, guarded: Server) -> None:
    assert page.request.get(guarded.url + "/jobs").status == 401
    assert page.request.get(guarded.url + "/jobs",
                            headers={"Authorization": "Bearer tok-12"}).status == 401
    response = page.request.get(guarded.url + "/jobs",
                                headers={"Authorization": "Bearer tok-123"})
    assert response.status == 200
    assert "<h1>Jobs</h1>" in response.text()


def test_a_monitor_role_reads_but_cannot_act(page: Any, servers: Servers, monitor_dsn: str,
                                             sql: psycopg.Connection) -> None:
    job = add_job(sql, "nobody", {"secret": "visible to monitors"})
    server = servers.start(monitor_dsn, "--actions")
    page.goto(f"{server.url}/jobs/{job}")
    expect(page.locator("#payload")).to_contain_text("visible to monitors")
    expect(page.locator("#read-only")).to_contain_text("the database role has no admin rights")
    expect(page.locator("#retry")).to_have_count(0)
    page.goto(server.url + "/jobs")
    expect(page.locator(f"#job-{job}")).to_be_visible()
    expect(page.locator("#bulk-action")).to_have_count(0)
    token = page.locator("#bulk input[name=csrf_token]").input_value()
    response = page.request.post(server.url + "/jobs/action", form={
        "csrf_token": token, "action": "cancel", "scope": "selected", "id": str(job),
        "return": "/jobs"}, headers={"Origin": server.url})
    assert response.status == 200  # back on the jobs page, with the database's refusal
    assert "Nothing done: the database refused: permission denied for function cancel_jobs" \
        in response.text()
    assert "admin level" in response.text()
    row = sql.execute("select state from graphile_worker.job_status(%s)", (job,)).fetchone()
    assert row == ("waiting",)


def test_an_admin_role_reads_and_acts(page: Any, servers: Servers, admin_dsn: str,
                                      sql: psycopg.Connection) -> None:
    job = add_job(sql, "nobody", {"n": 1})
    server = servers.start(admin_dsn, "--actions")
    page.goto(f"{server.url}/jobs/{job}")
    expect(page.locator("#read-only")).to_have_count(0)
    page.click("#cancel")
    expect(page.locator("#flash")).to_have_text("Cancelled 1 of 1 job.")
    page.goto(server.url + "/tasks")
    page.fill("#pause-task", "nobody")
    page.click("#pause-submit")
    expect(page.locator("#flash")).to_have_text("Paused task nobody.")
    assert sql.execute("select paused from graphile_worker.flow_controls()"
                       " where name = 'nobody'").fetchone() == (True,)
    assert sql.execute("select state from graphile_worker.job_status(%s)",
                       (job,)).fetchone() == ("unknown",)  # cancelled, no retention here
