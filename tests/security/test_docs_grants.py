"""The plain GRANTs of docs/security.md give exactly what grant_role() gives."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import psycopg

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def _grant_block() -> str:
    text = DOC.read_text()
    return re.search(r"```sql\n(-- producer\n.*?)```", text, flags=re.S).group(1)  # type: ignore[union-attr]


def _rights(db: psycopg.Connection, role: str) -> set[str]:
    rows = db.execute(
        "select p.oid::regprocedure::text from pg_proc p"
        " where p.pronamespace = 'graphile_worker'::regnamespace"
        " and has_function_privilege(%s, p.oid, 'execute')",
        (role,),
    ).fetchall()
    views = {
        f"select {name}"
        for name in ("jobs", "finished_jobs")
        if db.execute(
            "select has_table_privilege(%s, %s, 'select')", (role, f"graphile_worker.{name}")
        ).fetchone()[0]  # type: ignore[index]
    }
    return {r[0] for r in rows} | views


def test_documented_grants_equal_grant_role(db: psycopg.Connection) -> None:
    suffix = uuid.uuid4().hex[:6]
    levels = {"app": "producer", "worker": "runner", "ops": "admin", "dash": "monitor"}
    names = {doc_role: f"gw_doc_{doc_role}_{suffix}" for doc_role in levels}
    helper = {doc_role: f"gw_helper_{doc_role}_{suffix}" for doc_role in levels}
    try:
        for role in [*names.values(), *helper.values()]:
            db.execute(f'create role "{role}"')
        sql = _grant_block()
        for doc_role, real in names.items():
            sql = re.sub(rf"\bto {doc_role};", f'to "{real}";', sql)
        db.execute(sql)  # type: ignore[arg-type]
        for doc_role, level in levels.items():
            db.execute("select graphile_worker.grant_role(%s, %s)", (helper[doc_role], level))
        for doc_role in levels:
            documented = _rights(db, names[doc_role])
            assert documented, doc_role
            assert documented == _rights(db, helper[doc_role]), doc_role
    finally:
        for role in [*names.values(), *helper.values()]:
            db.execute(f'drop owned by "{role}"')
            db.execute(f'drop role "{role}"')
