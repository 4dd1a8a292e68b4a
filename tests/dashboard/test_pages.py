"""The dashboard's pages in a real browser, read-only (no --actions): counts, filters and keyset
pages, a failed job's errors, hostile text kept inert, live updates by SSE and by polling."""

from __future__ import annotations

import re
import time
from typing import Any

import psycopg
import pytest
from playwright.sync_api import expect

from tests.dashboard.support import (
    HOSTILE,
    Server,
    Servers,
    add_job,
    fail_attempt,
    wait_until,
)

HOSTILE_TASK = "t<script>window.__pwned = 3</script>"


@pytest.fixture(scope="module")
def world(sql: psycopg.Connection) -> dict[str, Any]:
    """A failed job with hostile payload, key and errors; a hostile task name; 120 waiting
    jobs of `bulk`; 3 scheduled ones."""
    sql.execute("select graphile_worker.set_retention(null, '1 day')")
    failed = add_job(sql, "email", {"to": HOSTILE}, queue_name="mail", job_key=HOSTILE,
                     max_attempts=2)
    fail_attempt(sql, failed, "first " + HOSTILE)
    sql.execute("select graphile_worker.reschedule_jobs(array[%s]::bigint[], run_at => now())",
                (failed,))
    fail_attempt(sql, failed, "second " + HOSTILE)
    hostile_task = add_job(sql, HOSTILE_TASK, {"x": 1})
    bulk = [add_job(sql, "bulk", {"n": i}) for i in range(120)]
    later = [add_job(sql, "later", None, run_at="2999-01-01T00:00:00Z") for _ in range(3)]
    return {"failed": failed, "hostile_task": hostile_task, "bulk": bulk, "later": later}


@pytest.fixture(scope="module")
def server(servers: Servers, dash_dsn: str, world: dict[str, Any]) -> Server:
    return servers.start(dash_dsn)


def totals(sql: psycopg.Connection) -> dict[str, int]:
    row = sql.execute(
        "select sum(waiting), sum(scheduled), sum(running), sum(retrying),"
        " sum(permanently_failed) from graphile_worker.queue_stats()").fetchone()
    assert row is not None
    return dict(zip(("waiting", "scheduled", "running", "retrying", "failed"),
                    (int(v) for v in row), strict=True))


def assert_inert(page: Any) -> None:
    """No planted script ran, no planted element exists, no dialog opened."""
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("img[src='x']").count() == 0
    assert page.dialogs == []


def test_overview_shows_the_counts(page: Any, server: Server, sql: psycopg.Connection) -> None:
    expected = totals(sql)
    assert expected == {"waiting": 121, "scheduled": 3, "running": 0, "retrying": 0, "failed": 1}
    response = page.goto(server.url + "/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    for state, n in expected.items():
        expect(page.locator(f"#count-{state} .n")).to_have_text(str(n))
    expect(page.locator("#backlog tr[data-task='bulk'] td").nth(2)).to_have_text("120")
    # the hostile task name is shown as text, in the backlog and nowhere as markup
    expect(page.locator("#backlog")).to_contain_text(HOSTILE_TASK)
    expect(page.locator("#chart")).to_contain_text("1 failed")
    assert_inert(page)


def test_jobs_list_walks_keyset_pages(page: Any, server: Server,
                                      world: dict[str, Any]) -> None:
    page.goto(server.url + "/jobs?task=bulk")
    seen: list[int] = []
    for expected_rows in (50, 50, 20):
        rows = page.locator("table.jobs tbody tr")
        expect(rows).to_have_count(expected_rows)
        ids = [int(x) for x in rows.locator("td.num a").all_inner_texts()]
        assert ids == sorted(ids, reverse=True)
        seen += ids
        if expected_rows == 50:
            page.click("#next-page")
    expect(page.locator("#next-page")).to_have_count(0)
    assert sorted(seen) == sorted(world["bulk"])
    page.click("#first-page")
    expect(page.locator("table.jobs tbody tr").first).to_have_id(f"job-{max(world['bulk'])}")


def test_jobs_filter_form_and_search(page: Any, server: Server, world: dict[str, Any]) -> None:
    page.goto(server.url + "/jobs")
    page.check("#filters input[name=state][value=failed]")
    page.click("#filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"state=failed"))
    expect(page.locator("table.jobs tbody tr")).to_have_count(1)
    expect(page.locator(f"#job-{world['failed']} td.err")).to_contain_text("second " + HOSTILE)
    page.fill("input[name=q]", str(world["later"][0]))
    page.press("input[name=q]", "Enter")
    expect(page).to_have_url(re.compile(rf"/jobs/{world['later'][0]}$"))
    expect(page.locator("h1")).to_contain_text("scheduled")
    page.fill("input[name=q]", HOSTILE)
    page.press("input[name=q]", "Enter")
    expect(page.locator("table.jobs tbody tr")).to_have_count(1)
    expect(page.locator("td.key")).to_have_text(HOSTILE)
    assert_inert(page)


def test_failed_job_page_shows_its_errors_as_text(page: Any, server: Server,
                                                  world: dict[str, Any]) -> None:
    page.goto(f"{server.url}/jobs/{world['failed']}")
    expect(page.locator("h1 .state")).to_have_text("failed")
    expect(page.locator("#last-error")).to_have_text("second " + HOSTILE)
    attempts = page.locator("#attempts li")
    expect(attempts).to_have_count(2)
    expect(attempts.nth(0)).to_contain_text("first " + HOSTILE)
    expect(attempts.nth(1)).to_contain_text("second " + HOSTILE)
    expect(page.locator("#payload")).to_contain_text(HOSTILE.replace('"', '\\"'))
    expect(page.locator("#job-key")).to_have_text(HOSTILE)
    expect(page.locator("#job-attempts")).to_have_text("2 of 2")
    assert_inert(page)
    page.goto(f"{server.url}/jobs/{world['hostile_task']}")
    expect(page.locator("#job-task")).to_have_text(HOSTILE_TASK)
    assert_inert(page)


def test_read_only_hides_and_refuses_actions(page: Any, server: Server, world: dict[str, Any],
                                             sql: psycopg.Connection) -> None:
    page.goto(f"{server.url}/jobs/{world['later'][0]}")
    expect(page.locator("#read-only")).to_contain_text("--actions")
    expect(page.locator("#retry")).to_have_count(0)
    page.goto(server.url + "/jobs")
    expect(page.locator("#bulk-action")).to_have_count(0)
    token = page.locator("input[name=csrf_token]").first.input_value()
    response = page.request.post(server.url + "/jobs/action", form={
        "csrf_token": token, "action": "cancel", "scope": "selected",
        "id": str(world["later"][0])}, headers={"Origin": server.url})
    assert response.status == 403
    assert "read-only" in response.text()
    assert sql.execute("select state from graphile_worker.job_status(%s)",
                       (world["later"][0],)).fetchone() == ("scheduled",)


def test_bad_input_gets_a_page_naming_it(page: Any, server: Server) -> None:
    response = page.goto(server.url + "/jobs?state=bogus")
    assert response.status == 400
    expect(page.locator("#error-message")).to_contain_text("state 'bogus' is not one of")
    response = page.goto(server.url + "/jobs/987654321")
    assert response.status == 404
    expect(page.locator("#unknown-job")).to_contain_text("No job 987654321")
    response = page.goto(server.url + "/jobs?before=x1")
    assert response.status == 400
    expect(page.locator("#error-message")).to_contain_text("before must be a job id")


def test_overview_updates_itself_through_sse(page: Any, server: Server,
                                             sql: psycopg.Connection) -> None:
    page.goto(server.url + "/")
    expect(page.locator("body")).to_have_attribute("data-live-mode", "sse")
    page.evaluate("window.__marker = 'no reload'")
    before = totals(sql)["waiting"]
    for i in range(4):
        add_job(sql, "bulk", {"late": i})
    expect(page.locator("#count-waiting .n")).to_have_text(str(before + 4))
    assert page.evaluate("window.__marker") == "no reload"


def test_pages_poll_when_the_event_stream_is_unavailable(page: Any, server: Server,
                                                         sql: psycopg.Connection) -> None:
    page.route("**/events", lambda route: route.abort())
    page.goto(server.url + "/")
    expect(page.locator("body")).to_have_attribute("data-live-mode", "polling")
    page.evaluate("window.__marker = 'no reload'")
    before = totals(sql)["scheduled"]
    add_job(sql, "later", None, run_at="2999-01-01T00:00:00Z")
    expect(page.locator("#count-scheduled .n")).to_have_text(str(before + 1))
    assert page.evaluate("window.__marker") == "no reload"


def bulk_and_read_at(page: Any, server: Server) -> tuple[int, str]:
    """The tasks page's waiting count of `bulk` and its "Counts as of" time, as the server sent
    them (no script has run on them)."""
    html = page.request.get(server.url + "/tasks").text()
    waiting = re.search(r'<tr data-task="bulk">.*?<td class="num">(\d+)</td>', html, re.S)
    read_at = re.search(r"Counts as of ([0-9: -]+ UTC)", html)
    assert waiting is not None and read_at is not None, html
    return int(waiting.group(1)), read_at.group(1)


def test_counts_are_served_at_once_and_read_again_behind_the_page(
    page: Any, server: Server, sql: psycopg.Connection, dash_dsn: str
) -> None:
    """queue_stats() (a scan of the jobs table) is shared: a page that finds the counts older
    than a second is served with them at once, while they are read again behind it. Here that
    read waits for a lock the test holds, and the page does not."""
    row = sql.execute("select sum(waiting) from graphile_worker.queue_stats()"
                      " where task_identifier = 'bulk'").fetchone()
    assert row is not None
    wait_until(lambda: bulk_and_read_at(page, server)[0] == row[0],
               "the tasks page has the counts")
    with psycopg.connect(dash_dsn) as blocker:
        blocker.execute("lock table graphile_worker._private_job_queues in access exclusive mode")
        shown = bulk_and_read_at(page, server)  # shared counts, read before the lock
        time.sleep(1.2)  # now older than their second
        for _ in range(3):
            assert bulk_and_read_at(page, server) == shown  # served while the read waits
        wait_until(lambda: sql.execute(
            "select count(*) from pg_stat_activity where wait_event_type = 'Lock'"
            " and query like '%%queue_stats%%'").fetchone() == (1,),
            "the read behind the pages waits for the lock")
    wait_until(lambda: bulk_and_read_at(page, server)[1] > shown[1],
               "the counts read again once the lock is gone")


def test_a_page_does_not_wait_for_counts_it_does_not_have_yet(
    page: Any, servers: Servers, dash_dsn: str, sql: psycopg.Connection, world: dict[str, Any]
) -> None:
    """A server's first read of the counts waits here for a lock the test holds: its pages come
    without the counts, say so, and fill them in by themselves once the read is done (with
    --refresh 3600 no tick would: the page fetches itself again while its counts are
    pending)."""
    with psycopg.connect(dash_dsn) as blocker:
        blocker.execute("lock table graphile_worker._private_job_queues in access exclusive mode")
        fresh = servers.start(dash_dsn, "--refresh", "3600")
        page.goto(fresh.url + "/")
        expect(page.locator("#counts-read-at")).to_contain_text("Counting the jobs")
        expect(page.locator("#count-waiting .n")).to_have_text("…")
        expect(page.locator("#backlog")).to_contain_text("Counting the jobs")
        tasks = page.request.get(fresh.url + "/tasks").text()
        assert "Counting the jobs" in tasks and "No task has jobs" not in tasks
        # the page has listened and re-read itself (the stream's first event), still pending
        expect(page.locator("body")).to_have_attribute("data-live-mode", "sse")
        expect(page.locator("body")).to_have_attribute("data-refreshes", re.compile(r"^[1-9]"))
        expect(page.locator("#count-waiting .n")).to_have_text("…")
    waiting = totals(sql)["waiting"]
    expect(page.locator("#count-waiting .n")).to_have_text(str(waiting))
    expect(page.locator("#counts-read-at")).to_contain_text("Counts as of")


def test_a_page_waiting_for_its_counts_says_why_they_do_not_come(
    page: Any, servers: Servers, dash_dsn: str, sql: psycopg.Connection, world: dict[str, Any]
) -> None:
    """A server's first read of the counts waits for a lock the test holds and then fails (its
    backend is terminated), after the page said "Counting the jobs": the page then says the
    counts could not be read and why, keeps asking, and fills them in once a read succeeds."""
    with psycopg.connect(dash_dsn) as blocker:
        blocker.execute("lock table graphile_worker._private_job_queues in access exclusive mode")
        fresh = servers.start(dash_dsn, "--refresh", "3600")
        page.goto(fresh.url + "/")
        expect(page.locator("#counts-read-at")).to_contain_text("Counting the jobs")
        wait_until(lambda: sql.execute(
            "select count(pg_catalog.pg_terminate_backend(pid)) from pg_stat_activity"
            " where wait_event_type = 'Lock' and query like '%%queue_stats%%'"
            " and pid <> pg_backend_pid()").fetchone() != (0,),
            "the dashboard's read of the counts, waiting for the lock, is terminated")
        expect(page.locator("#counts-read-at")).to_contain_text("The counts could not be read")
        expect(page.locator("#counts-read-at")).to_contain_text("terminat")
        expect(page.locator("#count-waiting .n")).to_have_text("…")
    waiting = totals(sql)["waiting"]
    expect(page.locator("#count-waiting .n")).to_have_text(str(waiting))
    expect(page.locator("#counts-read-at")).to_contain_text("Counts as of")
