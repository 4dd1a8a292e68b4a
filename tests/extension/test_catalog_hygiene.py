"""Catalog hygiene (DESIGN.md section 6): pinned search_path, comments on everything public,
no EXECUTE for PUBLIC, and the API works for a caller whose search_path is empty."""

from __future__ import annotations

import psycopg
from helpers import rows, scalar

ALL_FUNCTIONS = """
select p.oid::regprocedure::text as signature, p.proname, p.proconfig, p.proacl,
       obj_description(p.oid, 'pg_proc') as comment
from pg_proc p join pg_namespace n on n.oid = p.pronamespace
where n.nspname = 'graphile_worker'
order by 1
"""


def test_hygiene_every_function_pins_search_path(db: psycopg.Connection) -> None:
    """Every function but the inlined helpers (next test), whose callers pin it for them."""
    functions = rows(db, ALL_FUNCTIONS)
    assert functions
    unpinned = [f["signature"] for f in functions
                if not f["proname"].startswith("_private_inline_")
                and "search_path=pg_catalog, pg_temp" not in (f["proconfig"] or [])]
    assert unpinned == []


INLINE_HELPERS = """
select p.oid::regprocedure::text as signature, l.lanname, p.prosecdef, p.proisstrict,
       p.provolatile, p.proconfig
from pg_proc p join pg_language l on l.oid = p.prolang
where p.pronamespace = 'graphile_worker'::regnamespace and p.proname like '\\_private\\_inline\\_%%'
order by 1
"""


def test_hygiene_inlined_helpers_can_be_inlined_and_are(db: psycopg.Connection) -> None:
    """A _private_inline_ function has no SET clause so that the planner can inline it
    (CONTRIBUTING.md, "Inlined helpers"): it must also be SQL, not SECURITY DEFINER, not
    STRICT and not volatile, or it would run as a call, parsed under its caller's search_path.
    EXPLAIN shows the planner replaced each call by its body."""
    helpers = rows(db, INLINE_HELPERS)
    assert [h["signature"].split("(")[0] for h in helpers] == [
        "graphile_worker._private_inline_job_args_flagged",
        "graphile_worker._private_inline_job_row",
        "graphile_worker._private_inline_job_state",
        "graphile_worker._private_inline_wake_state",
    ]
    for h in helpers:
        assert (h["lanname"], h["prosecdef"], h["proisstrict"], h["proconfig"]) == (
            "sql", False, False, None), h["signature"]
        assert h["provolatile"] in ("i", "s"), h["signature"]
    scalar(db, "select graphile_worker.add_job('inline_probe')")  # the task exists
    db.execute("set local search_path = pg_catalog, pg_temp")
    plan = "\n".join(r["QUERY PLAN"] for r in rows(
        db,
        "explain (verbose, costs off) "
        "select graphile_worker._private_inline_job_args_flagged(s.i, null, null, null, null, "
        "null, null, null), r.* "
        "from unnest(array['inline_probe', 'x']) as s(i) "
        "cross join lateral graphile_worker._private_inline_job_row(s.i, null, null, null, "
        "null, null, null, null) as r"))
    assert "_private_inline" not in plan, plan
    assert "_private_tasks" in plan and "length(s.i)" in plan, plan
    plan = "\n".join(r["QUERY PLAN"] for r in rows(
        db,
        "explain (verbose, costs off) "
        "select graphile_worker._private_inline_job_state(j.locked_at, j.attempts, "
        "j.max_attempts, j.run_at, now() - interval '4 hours', now()) "
        "from graphile_worker._private_jobs as j"))
    assert "_private_inline" not in plan and "CASE" in plan, plan
    # parallel safety is decided before inlining: the state of every row may be read in
    # parallel (count_jobs over the whole table)
    assert scalar(db, "select proparallel from pg_proc where oid = 'graphile_worker."
                  "_private_inline_job_state'::regproc") == "s"
    plan = "\n".join(r["QUERY PLAN"] for r in rows(
        db,
        "explain (verbose, costs off) "
        "select w.wake_state from graphile_worker._private_inline_wake_state(now()) as w"))
    assert "_private_inline" not in plan and "_private_wait_marks" in plan, plan


def test_hygiene_every_public_function_view_and_type_has_a_comment(
    db: psycopg.Connection,
) -> None:
    missing = [f["signature"] for f in rows(db, ALL_FUNCTIONS)
               if not f["proname"].startswith("_private_") and not f["comment"]]
    missing += [r["name"] for r in rows(
        db,
        "select c.oid::regclass::text as name from pg_class c "
        "join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'graphile_worker' and c.relkind in ('v', 'm') "
        "and c.relname not like '\\_private\\_%%' and obj_description(c.oid, 'pg_class') is null",
    )]
    missing += [r["name"] for r in rows(
        db,
        "select t.oid::regtype::text as name from pg_type t "
        "join pg_namespace n on n.oid = t.typnamespace "
        "left join pg_class c on c.oid = t.typrelid "
        "where n.nspname = 'graphile_worker' and t.typname not like '\\_private\\_%%' "
        "and t.typname not like '\\_%%' "  # array types
        "and (t.typtype in ('e', 'd', 'r', 'm') or (t.typtype = 'c' and c.relkind = 'c')) "
        "and obj_description(t.oid, 'pg_type') is null",
    )]
    assert missing == []
    assert scalar(db, "select count(*) from pg_type where typname = 'job_spec' "
                      "and obj_description(oid, 'pg_type') is not null") == 1


def test_hygiene_no_function_is_executable_by_public(db: psycopg.Connection) -> None:
    public = rows(
        db,
        "select p.oid::regprocedure::text as signature from pg_proc p "
        "join pg_namespace n on n.oid = p.pronamespace "
        "where n.nspname = 'graphile_worker' and (p.proacl is null or exists ("
        "  select 1 from aclexplode(p.proacl) a "
        "  where a.grantee = 0 and a.privilege_type = 'EXECUTE'))",
    )
    assert public == []


def test_hygiene_api_works_with_empty_search_path(db: psycopg.Connection) -> None:
    db.execute("set search_path = ''")
    assert scalar(db, "show search_path") == '""'
    q = "graphile_worker"

    def one_value(query: str) -> object:
        return scalar(db, query.replace("gw.", f"{q}."))

    job_id = one_value("select (gw.add_job('t', '{\"a\":1}'::json, 'q', job_key => 'k')).id")
    assert one_value("select (gw.add_job('t', job_key => 'u', "
                     "job_key_mode => 'unsafe_dedupe')).revision") == 0
    assert one_value("select (gw.add_job('t')).id") is not None
    assert one_value("select count(*) from gw.add_jobs(array[row('t', null, 'q2', null, null, "
                     "'k2', null, array['f'])::gw.job_spec, row('t2', '[1]', null, null, null, "
                     "null, null, null)::gw.job_spec], true)") == 2
    assert one_value("select count(*) from gw.jobs") == 5
    assert one_value("select gw.next_job_due_at(array['t'])") is None
    claimed = one_value("select count(*) from gw.get_jobs('w', array['t', 't2'], 10)")
    assert claimed == 5  # q and q2 hold one job each, three jobs have no queue
    assert one_value(
        f"select outcome from gw.report_jobs('w', array[{job_id}]::bigint[])") == "completed"
    assert one_value(
        "select count(*) from gw.report_jobs('w', null, ("
        "select json_agg(json_build_object('id', id, 'message', 'x')) "
        "from gw._private_jobs where locked_by = 'w' and key = 'k2'))") == 1
    assert one_value("select gw.return_jobs('w', array(select id from gw._private_jobs "
                     "where locked_by = 'w'))") == 3
    assert one_value("select gw.reset_locked()") == 0
    ids = "array(select id from gw._private_jobs)"
    assert one_value(f"select count(*) from gw.reschedule_jobs({ids}, priority => 1)") == 4
    assert one_value(f"select count(*) from gw.permanently_fail_jobs({ids}, 'no')") == 4
    db.execute(f"select {q}.force_unlock_workers(array['w'])")
    assert one_value("select (gw.remove_job('u')).key") == "u"
    assert one_value("select gw.delete_permanently_failed_jobs(array['t2'])") == 1
    assert one_value(f"select count(*) from gw.complete_jobs({ids})") == 2
    assert one_value("select gw.gc_task_identifiers()") == 2
    assert one_value("select gw.gc_job_queues()") == 2
