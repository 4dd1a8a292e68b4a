"""Every function body of the extension parses (pglast, PostgreSQL's own parser) and
plpgsql_check finds no error in any PL/pgSQL function."""

from __future__ import annotations

import re
from typing import Any

import pglast
import pglast.parser
import psycopg
import pytest
from helpers import rows

FUNCTIONS = """
select p.oid, p.oid::regprocedure::text as signature, l.lanname, p.prosrc,
       pg_get_functiondef(p.oid) as definition,
       (select t.tgrelid from pg_trigger t where t.tgfoid = p.oid limit 1) as trigger_relid
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
join pg_language l on l.oid = p.prolang
where n.nspname = 'graphile_worker' and p.prokind in ('f', 'p')
order by 2
"""


def _offline_definition(definition: str) -> str:
    """pg_get_functiondef() text that pglast's PL/pgSQL parser accepts without a catalog: it
    only knows the schemas pg_catalog and public, and rejects arguments and variables whose
    type is an array of a composite ('pseudo-type _record'). Our types are renamed into public,
    and arrays of them become text[]; everything else is parsed exactly as stored (plpgsql_check,
    below, checks the types against the real catalog)."""
    assert "AS $function$" in definition, definition[:200]
    definition = re.sub(r"graphile_worker\.\w+\[\]", "text[]", definition)
    return definition.replace("graphile_worker.", "public.")


def _functions(db: psycopg.Connection, language: str) -> list[dict[str, Any]]:
    found = [f for f in rows(db, FUNCTIONS) if f["lanname"] == language]
    assert found, f"no {language} function found"
    return found


def test_lint_every_function_is_plpgsql_or_sql(db: psycopg.Connection) -> None:
    languages = {f["signature"]: f["lanname"] for f in rows(db, FUNCTIONS)}
    assert languages
    assert {s: lang for s, lang in languages.items() if lang not in ("plpgsql", "sql")} == {}


def test_lint_plpgsql_bodies_parse_with_pglast(db: psycopg.Connection) -> None:
    failures = []
    for f in _functions(db, "plpgsql"):
        try:
            parsed = pglast.parse_plpgsql(_offline_definition(f["definition"]))
            assert parsed, "empty parse tree"
        except Exception as exc:
            failures.append(f"{f['signature']}: {exc}")
    assert failures == []


def test_lint_sql_bodies_parse_with_pglast(db: psycopg.Connection) -> None:
    failures = []
    for f in _functions(db, "sql"):
        try:
            # A BEGIN ATOMIC body is stored parsed (prosrc is empty): parse the definition.
            body = f["prosrc"] if f["prosrc"].strip() else f["definition"]
            statements = pglast.parse_sql(body)
            assert statements, "no statement"
        except Exception as exc:
            failures.append(f"{f['signature']}: {exc}")
    assert failures == []


def test_lint_pglast_rejects_a_broken_body() -> None:
    # The two checks above must be able to fail.
    with pytest.raises(pglast.parser.ParseError):
        pglast.parse_plpgsql(
            "create function f() returns int language plpgsql as $$ begin retrun 1; end $$"
        )
    with pytest.raises(pglast.parser.ParseError):
        pglast.parse_sql("selec 1")


def test_lint_plpgsql_check_reports_no_error(db: psycopg.Connection) -> None:
    db.execute("create extension if not exists plpgsql_check")
    errors = []
    for f in _functions(db, "plpgsql"):
        for issue in rows(
            db,
            # a trigger function is checked against the table of its trigger
            "select * from plpgsql_check_function_tb(%s::regprocedure, coalesce(%s::oid, 0))",
            [f["oid"], f["trigger_relid"]],
        ):
            if issue["level"] == "error":
                errors.append(
                    f"{f['signature']} line {issue['lineno']} ({issue['statement']}): "
                    f"{issue['sqlstate']} {issue['message']}"
                    + (f" [{issue['query']}]" if issue["query"] else "")
                )
    assert errors == [], "plpgsql_check errors:\n" + "\n".join(errors)


def test_lint_plpgsql_check_finds_a_planted_error(db: psycopg.Connection) -> None:
    db.execute("create extension if not exists plpgsql_check")
    db.execute(
        "create function pg_temp.broken() returns int language plpgsql as "
        "$$ begin return (select no_such_column from graphile_worker._private_jobs); end $$"
    )
    levels = [r["level"] for r in rows(
        db, "select * from plpgsql_check_function_tb('pg_temp.broken()'::regprocedure)")]
    assert "error" in levels
