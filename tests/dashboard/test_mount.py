"""The dashboard mounted under /ops in a FastAPI application, on the application's own pool:
links, static files, the event stream and actions (cookies scoped to /ops) all work there."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from helpers import runner_env
from playwright.sync_api import expect

from tests.dashboard.support import add_job, wait_until

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def host_app(dash_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("mounted") / "uvicorn.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "mounted_app:app",
             "--port", "0"], stdout=out, stderr=subprocess.STDOUT, env=runner_env(dash_dsn))
    try:
        def address() -> str | None:
            assert proc.poll() is None, log.read_text()
            found = re.search(r"running on (http://\S+)", log.read_text())
            return found.group(1) if found else None

        yield wait_until(address, "uvicorn's address in its log")
    finally:
        proc.terminate()
        proc.wait(10)


def test_mounted_under_a_prefix_with_the_host_pool(page: Any, host_app: str,
                                                   sql: psycopg.Connection) -> None:
    sql.execute("select graphile_worker.set_retention('mounted_task', '1 day')")
    job = add_job(sql, "mounted_task", {"n": 1})
    assert page.goto(host_app + "/").status == 200  # the host's own route
    page.goto(host_app + "/ops/")
    expect(page.locator("body")).to_have_attribute("data-live-mode", "sse")  # /ops/static, /ops/events
    page.click("nav >> text=Jobs")
    expect(page).to_have_url(host_app + "/ops/jobs")
    page.click(f"#job-{job} a")
    expect(page).to_have_url(f"{host_app}/ops/jobs/{job}")
    page.click("#cancel")
    expect(page.locator("#flash")).to_have_text("Cancelled 1 of 1 job.")
    expect(page).to_have_url(f"{host_app}/ops/jobs/{job}")
    row = sql.execute("select state from graphile_worker.job_status(%s)", (job,)).fetchone()
    assert row == ("cancelled",)
