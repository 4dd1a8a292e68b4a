"""Test harness: a real PostgreSQL server, one fresh database per test.

`scripts/run-tests.sh` (called by `make test`) starts a throwaway cluster and exports
GW_TEST_PGHOST / GW_TEST_PGPORT / GW_TEST_PGUSER. pytest-postgresql's `postgresql_noproc`
creates a template database with `CREATE EXTENSION graphile_worker` once per session, and its
`postgresql` fixture clones it for every test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from pytest_postgresql import factories

PGHOST = os.environ.get("GW_TEST_PGHOST", "/tmp/gw_test_pg/sock")
PGPORT = int(os.environ.get("GW_TEST_PGPORT", "54329"))
PGUSER = os.environ.get("GW_TEST_PGUSER", "postgres")


# GW_TEST_INSTALL=standalone runs the suite against the standalone script (built by `make
# standalone`) instead of CREATE EXTENSION: the same SQL, for servers without the extension.
INSTALL = os.environ.get("GW_TEST_INSTALL", "extension")
STANDALONE_SQL = Path(__file__).resolve().parents[1] / "build" / "graphile_worker-standalone.sql"


def _install_extension(**kwargs: Any) -> None:
    kwargs["autocommit"] = True
    with psycopg.connect(**kwargs) as conn:
        if INSTALL == "standalone":
            conn.execute(STANDALONE_SQL.read_text())  # type: ignore[call-overload]
        else:
            conn.execute("create extension graphile_worker")


def pytest_report_header() -> str:
    return f"graphile_worker installed with: {INSTALL}"


postgresql_noproc = factories.postgresql_noproc(
    host=PGHOST, port=PGPORT, user=PGUSER, dbname="gw_test", load=[_install_extension]
)
postgresql = factories.postgresql("postgresql_noproc")


@pytest.fixture
def dsn(postgresql: psycopg.Connection) -> str:
    """Connection string of this test's fresh database."""
    info = postgresql.info
    return make_conninfo(host=PGHOST, port=PGPORT, user=info.user, dbname=info.dbname)


@pytest.fixture
def db(postgresql: psycopg.Connection) -> psycopg.Connection:
    """An autocommit connection to this test's fresh database (extension installed)."""
    postgresql.autocommit = True
    return postgresql


@pytest.fixture
def connect(dsn: str) -> Iterator[Callable[..., psycopg.Connection]]:
    """Open more connections to this test's database; all are closed after the test."""
    opened: list[psycopg.Connection] = []

    def _connect(**kwargs: Any) -> psycopg.Connection:
        kwargs.setdefault("autocommit", True)
        conn = psycopg.connect(dsn, **kwargs)
        opened.append(conn)
        return conn

    yield _connect
    for conn in opened:
        conn.close()
