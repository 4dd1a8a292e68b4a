"""Browser tests of the dashboard: a real server process (`python -m gw_runner.dashboard`) on a
database of its own per test module, Debian's chromium driven by Playwright (one browser per
module), real runners where jobs must run.

Every wait has a wide deadline (15 s for what takes milliseconds): Playwright's `expect`
retries until then, and `wait_until` polls the database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from helpers import Runners
from playwright.sync_api import expect
from psycopg.conninfo import make_conninfo

from tests.dashboard.support import CHROMIUM, PGHOST, PGPORT, PGUSER, TASKS, WAIT, Servers


@pytest.fixture(scope="module")
def dash_dsn(postgresql_noproc: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of this module's own, cloned from the template with the extension."""
    name = f"gw_dash_{request.module.__name__.rsplit('.', 1)[-1]}_{uuid.uuid4().hex[:8]}"
    admin = make_conninfo(host=PGHOST, port=PGPORT, user=PGUSER, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}" template "{postgresql_noproc.template_dbname}"')
    yield make_conninfo(host=PGHOST, port=PGPORT, user=PGUSER, dbname=name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'drop database "{name}" with (force)')


@pytest.fixture(scope="module")
def sql(dash_dsn: str) -> Iterator[psycopg.Connection]:
    """An autocommit superuser (admin-level) connection to the module's database."""
    with psycopg.connect(dash_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    started = Servers(tmp_path_factory.mktemp("dashboard"))
    yield started
    started.close()


@pytest.fixture(scope="module")
def runners(dash_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runners]:
    started = Runners(dash_dsn, tmp_path_factory.mktemp("runners"), tasks=TASKS)
    yield started
    started.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


expect.set_options(timeout=WAIT * 1000)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) and page; dialogs are recorded (a test asserts there
    were none) and dismissed."""
    context = browser.new_context()
    page = context.new_page()
    page.dialogs = []

    def on_dialog(dialog: Any) -> None:
        page.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.set_default_timeout(WAIT * 1000)
    yield page
    context.close()


