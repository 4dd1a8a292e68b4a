"""Fixtures of the security tests: login roles with a privilege level."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest

#: insufficient_privilege
DENIED = "42501"


@pytest.fixture
def make_role(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> Iterator[Callable[[str], psycopg.Connection]]:
    """Create a login role with a privilege level (or "none"); return a connection as that
    role. The roles are dropped afterwards."""
    created: list[str] = []

    def _make(level: str) -> psycopg.Connection:
        name = f"gw_{level}_{uuid.uuid4().hex[:8]}"
        db.execute(f'create role "{name}" login')
        created.append(name)
        if level != "none":
            db.execute("select graphile_worker.grant_role(%s, %s)", (name, level))
        return connect(user=name)

    yield _make
    for name in created:
        db.execute(f'drop owned by "{name}"')
        db.execute(f'drop role "{name}"')


def assert_denied(conn: psycopg.Connection, sql: str) -> None:
    """The statement fails with permission denied (42501)."""
    with pytest.raises(psycopg.Error) as exc:
        conn.execute(sql)
    assert exc.value.sqlstate == DENIED, (sql, exc.value)
