"""The cron functions pass plpgsql_check, pin search_path, and the public ones are documented
(COMMENT ON) and callable with only EXECUTE rights (security definer)."""

from __future__ import annotations

import psycopg
from helpers import rows

CRON_FUNCTIONS = (
    "select p.oid, p.oid::regprocedure::text as signature, p.proname, p.prosecdef, p.proconfig, "
    "l.lanname, obj_description(p.oid, 'pg_proc') as comment "
    "from pg_proc p join pg_language l on l.oid = p.prolang "
    "where p.pronamespace = 'graphile_worker'::regnamespace "
    "and (p.proname like '%cron%') order by 2"
)
PUBLIC = {
    "parse_crontab", "register_crontab", "schedule_crontab",
    "cron_matches", "cron_next_after", "cron_times_between",
    "cron_items", "run_cron_item",  # operations (0.1.8, docs/operations.md)
}


def test_cron_functions_pass_plpgsql_check(db: psycopg.Connection) -> None:
    db.execute("create extension if not exists plpgsql_check")
    functions = rows(db, CRON_FUNCTIONS)
    plpgsql = [f for f in functions if f["lanname"] == "plpgsql"]
    assert len(plpgsql) >= 15
    problems = []
    for f in plpgsql:
        for r in rows(
            db,
            "select * from plpgsql_check_function_tb(%s::regprocedure, "
            "extra_warnings => true, performance_warnings => false)",
            (f["signature"],),
        ):
            problems.append((f["signature"], r["lineno"], r["level"], r["message"]))
    assert problems == []


def test_cron_functions_pin_search_path_and_public_ones_are_documented(db) -> None:
    functions = rows(db, CRON_FUNCTIONS)
    assert {f["proname"] for f in functions} >= PUBLIC
    for f in functions:
        assert f["proconfig"] == ["search_path=pg_catalog, pg_temp"], f["signature"]
        if f["proname"].startswith("_private_"):
            assert f["prosecdef"] is False, f["signature"]
        else:
            assert f["proname"] in PUBLIC, f["signature"]
            assert f["prosecdef"] is True, f["signature"]
            assert f["comment"], f["signature"]
    assert rows(
        db,
        "select obj_description('graphile_worker.cron_item'::regtype, 'pg_type') as c",
    )[0]["c"]
