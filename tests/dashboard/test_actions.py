"""The dashboard's actions in a real browser, with --actions and a real runner: retry a failed
job and watch the runner complete it while the page updates by itself; pause and resume a task;
bulk actions on a filter and on a selection, reporting what could not be done; anti-forgery."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg
import pytest
from helpers import RunnerProcess, Runners
from playwright.sync_api import expect

from tests.dashboard.support import (
    HOSTILE,
    Server,
    Servers,
    add_job,
    job_state,
    start_runner,
    wait_until,
)


@pytest.fixture(scope="module")
def server(servers: Servers, dash_dsn: str, sql: psycopg.Connection) -> Server:
    sql.execute("select graphile_worker.set_retention(null, '1 day')")
    return servers.start(dash_dsn, "--actions")


@pytest.fixture(scope="module")
def runner(runners: Runners) -> RunnerProcess:
    return start_runner(runners)


def assert_inert(page: Any) -> None:
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("img[src='x']").count() == 0
    assert page.dialogs == []


def count(sql: psycopg.Connection, task: str, state: str) -> int:
    row = sql.execute("select graphile_worker.count_jobs(states => array[%s],"
                      " task_identifiers => array[%s])", (state, task)).fetchone()
    assert row is not None
    return int(row[0])


def test_retry_a_failed_job_and_watch_the_runner_complete_it(
    page: Any, server: Server, runner: RunnerProcess, sql: psycopg.Connection, tmp_path: Path
) -> None:
    switch = tmp_path / "fail"
    switch.touch()
    job = add_job(sql, "flaky", {"fail_while": str(switch), "error": HOSTILE, "n": 7},
                  max_attempts=1)
    wait_until(lambda: job_state(sql, job) == "failed", "the runner fails the job")
    page.goto(f"{server.url}/jobs/{job}")
    expect(page.locator("h1 .state")).to_have_text("failed")
    expect(page.locator("#last-error")).to_contain_text(HOSTILE)
    expect(page.locator("#attempts li")).to_have_count(1)
    assert_inert(page)

    switch.unlink()
    page.click("#retry")
    expect(page.locator("#flash")).to_have_text("Retried 1 of 1 job.")
    page.evaluate("window.__marker = 'no reload'")
    # the runner completes it; the page shows it without a reload
    expect(page.locator("h1 .state")).to_have_text("completed")
    expect(page.locator("#result")).to_contain_text('"done": 7')
    assert page.evaluate("window.__marker") == "no reload"
    assert job_state(sql, job) == "completed"
    assert_inert(page)


def test_pause_and_resume_a_task(page: Any, server: Server, runner: RunnerProcess,
                                 sql: psycopg.Connection, tmp_path: Path) -> None:
    page.goto(server.url + "/tasks")
    page.fill("#pause-task", "plain")
    page.click("#pause-submit")
    expect(page.locator("#flash")).to_have_text("Paused task plain.")
    row = page.locator("#task-rows tr[data-task='plain']")
    expect(row.locator(".task-state")).to_have_text("paused")
    held = add_job(sql, "plain", {"held": True})
    canary = add_job(sql, "flaky", {"fail_while": str(tmp_path / "absent"), "error": "-"})
    wait_until(lambda: job_state(sql, canary) == "completed", "the runner runs another task")
    assert job_state(sql, held) == "waiting"
    expect(row.locator("td").nth(2)).to_have_text("1")  # waiting, shown live
    row.locator("button.resume").click()
    expect(page.locator("#flash")).to_have_text("Resumed task plain.")
    wait_until(lambda: job_state(sql, held) == "completed", "the resumed task's job runs")
    # no job, no pause, no limit: the task leaves the list, without a reload
    page.evaluate("window.__marker = 'no reload'")
    expect(page.locator("#task-rows tr[data-task='plain']")).to_have_count(0)
    assert page.evaluate("window.__marker") == "no reload"


def test_bulk_cancel_on_a_filter_shows_the_count_first(page: Any, server: Server,
                                                       sql: psycopg.Connection) -> None:
    targets = [add_job(sql, "nobody", {"n": i}) for i in range(30)]
    others = [add_job(sql, "nobody_else", {"n": i}) for i in range(5)]
    page.goto(server.url + "/jobs?task=nobody&state=waiting")
    expect(page.locator("table.jobs tbody tr")).to_have_count(30)
    page.select_option("#bulk-action", "cancel")
    page.click("#apply-filter")
    expect(page.locator("#confirm-count")).to_contain_text("30 jobs match state waiting, task nobody")
    assert count(sql, "nobody", "waiting") == 30  # nothing done before the confirmation
    page.click("#confirm")
    expect(page.locator("#flash")).to_have_text("Cancelled 30 of 30 jobs.")
    expect(page).to_have_url(re.compile(r"/jobs\?state=waiting&task=nobody$"))
    expect(page.locator("#no-jobs")).to_be_visible()
    assert {job_state(sql, j) for j in targets} == {"cancelled"}
    assert {job_state(sql, j) for j in others} == {"waiting"}


def test_bulk_on_a_selection_reports_jobs_that_changed_meanwhile(
    page: Any, server: Server, sql: psycopg.Connection
) -> None:
    jobs = [add_job(sql, "nobody3", {"n": i}) for i in range(3)]
    page.goto(server.url + "/jobs?task=nobody3")
    page.click("#select-all")
    expect(page.locator("input.select:checked")).to_have_count(3)
    page.uncheck(f"#job-{jobs[0]} input.select")
    sql.execute("select * from graphile_worker.cancel_jobs(array[%s]::bigint[])", (jobs[1],))
    page.select_option("#bulk-action", "delete")
    page.click("#apply-selected")
    expect(page.locator("#flash p")).to_have_text("Deleted 1 of 2 jobs. Not deleted: 1 cancelled.")
    expect(page.locator("#flash li")).to_have_text(
        f"job {jobs[1]}: cancelled (could not delete it)")
    assert [job_state(sql, j) for j in jobs] == ["waiting", "cancelled", "unknown"]


def test_reschedule_from_the_job_page(page: Any, server: Server,
                                      sql: psycopg.Connection) -> None:
    job = add_job(sql, "nobody4", None)
    page.goto(f"{server.url}/jobs/{job}")
    page.fill("#job-actions input[name=run_at]", "2999-01-02T03:04:05")
    page.click("#reschedule")
    expect(page.locator("#flash")).to_have_text("Rescheduled 1 of 1 job.")
    expect(page.locator("h1 .state")).to_have_text("scheduled")
    expect(page.locator("#job")).to_contain_text("2999-01-02 03:04:05 UTC")


def test_posts_without_the_token_or_from_another_site_are_refused(
    page: Any, server: Server, sql: psycopg.Connection
) -> None:
    def paused() -> list[str]:
        return [r[0] for r in sql.execute(
            "select name from graphile_worker.flow_controls() where paused")]

    form = {"op": "pause_tasks", "task": "csrf_target", "return": "/tasks"}
    response = page.request.post(server.url + "/tasks/action", form=form,
                                 headers={"Origin": server.url})
    assert response.status == 403
    assert "anti-forgery token is missing" in response.text()
    page.goto(server.url + "/tasks")
    token = page.locator("#pause-form input[name=csrf_token]").input_value()
    for wrong in ("x", token + "x", "é" + token):
        response = page.request.post(server.url + "/tasks/action",
                                     form={**form, "csrf_token": wrong},
                                     headers={"Origin": server.url})
        assert response.status == 403
    response = page.request.post(server.url + "/tasks/action",
                                 form={**form, "csrf_token": token},
                                 headers={"Origin": "http://evil.example"})
    assert response.status == 403
    assert "came from another site (http://evil.example)" in response.text()
    assert "csrf_target" not in paused()
    response = page.request.post(server.url + "/tasks/action",
                                 form={**form, "csrf_token": token},
                                 headers={"Origin": server.url})
    assert response.status == 200
    assert "csrf_target" in paused()
    sql.execute("select graphile_worker.resume_tasks(array['csrf_target'])")


def test_run_a_cron_item_now(page: Any, server: Server, sql: psycopg.Connection) -> None:
    sql.execute("select graphile_worker.register_crontab(%s)", ("0 4 * * * nightly_dash\n",))
    page.goto(server.url + "/cron")
    row = page.locator("#cron-rows tr[data-cron='nightly_dash']")
    expect(row).to_contain_text("0 4 * * *")
    row.locator("button.run").click()
    flash = page.locator("#flash")
    expect(flash).to_have_text(re.compile(r"Cron item nightly_dash enqueued now as job \d+\."))
    job = int(re.findall(r"\d+", flash.inner_text())[0])
    row = sql.execute("select task_identifier, state from graphile_worker.job_status(%s)",
                      (job,)).fetchone()
    assert row == ("nightly_dash", "waiting")


def test_task_limits_and_retention_forms(page: Any, server: Server,
                                         sql: psycopg.Connection) -> None:
    page.goto(server.url + "/tasks")
    form = page.locator("#limits-form")
    form.locator("input[name=task]").fill("limited")
    form.locator("input[name=max_running]").fill("0")
    form.locator("button").click()
    expect(page.locator("#flash")).to_contain_text("Nothing done:")
    expect(page.locator("#flash")).to_contain_text("[GWF01]")
    form = page.locator("#limits-form")
    form.locator("input[name=task]").fill("limited")
    form.locator("input[name=max_running]").fill("3")
    form.locator("input[name=rate_limit]").fill("10")
    form.locator("input[name=rate_period]").fill("60")
    form.locator("button").click()
    expect(page.locator("#flash")).to_have_text("Limits of task limited set.")
    expect(page.locator("#task-rows tr[data-task='limited']")).to_contain_text(
        "max 3 running (0 now) 10 per 1 min")
    form = page.locator("#retention-form")
    form.locator("input[name=task]").fill("limited")
    form.locator("input[name=keep]").fill("1209600")
    form.locator("button").click()
    expect(page.locator("#flash")).to_have_text("Retention of task limited set.")
    expect(page.locator("#task-rows tr[data-task='limited']")).to_contain_text("14 days")
    assert sql.execute("select keep from graphile_worker.retention_settings()"
                       " where task_identifier = 'limited'").fetchone() is not None
    response = page.request.post(server.url + "/tasks/action", form={
        "csrf_token": page.locator("#limits-form input[name=csrf_token]").input_value(),
        "op": "limits", "task": "limited", "max_running": "many"},
        headers={"Origin": server.url})
    assert response.status == 400
    assert "max running must be a whole number or empty, not &#39;many&#39;" in response.text()


def test_the_page_after_an_action_reads_the_counts_again(
    page: Any, server: Server, sql: psycopg.Connection
) -> None:
    """The counts are shared between requests for a few seconds, but not past an action: the
    page the action leads to reads them again."""
    def waiting(html: str) -> int:
        found = re.search(r'<tr data-task="fresh_counts">.*?<td class="num">(\d+)</td>', html,
                          re.S)
        assert found is not None, html
        return int(found.group(1))

    for i in range(3):
        add_job(sql, "fresh_counts", {"n": i})
    wait_until(lambda: "fresh_counts" in (html := page.request.get(server.url + "/tasks").text())
               and waiting(html) == 3, "the tasks page shows the 3 jobs")
    for i in range(2):
        add_job(sql, "fresh_counts", {"n": 3 + i})
    page.goto(server.url + "/tasks")
    token = page.locator("#pause-form input[name=csrf_token]").input_value()
    response = page.request.post(server.url + "/tasks/action", form={
        "op": "pause_tasks", "task": "fresh_counts", "return": "/tasks", "csrf_token": token},
        headers={"Origin": server.url})
    assert response.status == 200
    assert waiting(response.text()) == 5
    sql.execute("select graphile_worker.resume_tasks(array['fresh_counts'])")
    sql.execute("select graphile_worker.cancel_jobs(array(select id from graphile_worker.jobs"
                " where task_identifier = 'fresh_counts'))")
