"""Every release updates to the current version with ALTER EXTENSION graphile_worker UPDATE,
ends with exactly the schema of a fresh install, and keeps its jobs claimable."""

from __future__ import annotations

import uuid

import pytest
from psycopg import sql

from tests.release.release_tools import (
    JOB_COLUMNS,
    assert_same_schema,
    assert_seeded_jobs_claimable,
    connect,
    default_version,
    detach_members,
    extension_config,
    extension_members,
    release_params,
    schema_blocks,
    scratch_database,
    seed_jobs,
)

MIGRATIONS = [(i, i in (1, 3, 11, 13, 14, 16, 19)) for i in range(1, 21)]


@pytest.mark.parametrize("version", release_params())
def test_release_updates_to_the_schema_of_a_fresh_install(version: str) -> None:
    current = default_version()
    with scratch_database("fresh") as fresh_db, scratch_database("updated") as updated_db:
        with connect(fresh_db) as fresh:
            fresh.execute("create extension graphile_worker")
            fresh_members = extension_members(fresh)
            fresh_config = extension_config(fresh)
            detach_members(fresh)
        expected = schema_blocks(fresh_db)

        with connect(updated_db) as updated:
            updated.execute(
                sql.SQL("create extension graphile_worker version {}").format(sql.Literal(version))
            )
            t = seed_jobs(updated)
            jobs_before = updated.execute(JOB_COLUMNS).fetchall()

            updated.execute("alter extension graphile_worker update")

            assert updated.execute(
                "select extversion from pg_catalog.pg_extension where extname = 'graphile_worker'"
            ).fetchone() == (current,)
            assert updated.execute("select graphile_worker.version()").fetchone() == (current,)
            # Node workers read this ledger: an update never adds rows to it.
            assert updated.execute(
                "select id, breaking from graphile_worker.migrations order by id"
            ).fetchall() == MIGRATIONS
            assert updated.execute(JOB_COLUMNS).fetchall() == jobs_before
            assert_seeded_jobs_claimable(updated, t)

            updated_members = extension_members(updated)
            updated_config = extension_config(updated)
            detach_members(updated)
        actual = schema_blocks(updated_db)

    assert_same_schema(expected, actual, f"fresh install of {current}", f"{version} updated")
    assert updated_members == fresh_members, (
        f"extension members only in the fresh install: "
        f"{sorted(set(fresh_members) - set(updated_members))}; only after the update: "
        f"{sorted(set(updated_members) - set(fresh_members))}"
    )
    # Tables and sequences registered for pg_dump: an upgrade that adds a table with user data
    # must register it (and its sequence) as a fresh install does, or a dump loses its rows.
    assert updated_config == fresh_config, (
        f"pg_extension_config_dump registrations only in the fresh install: "
        f"{sorted(set(fresh_config) - set(updated_config))}; only after the update: "
        f"{sorted(set(updated_config) - set(fresh_config))}"
    )



def test_update_to_0_1_5_grants_wait_for_jobs_to_the_runner_level_only() -> None:
    """wait_for_jobs is new in 0.1.5 at the runner level: the update grants it to the roles that
    already had that level (they can call get_jobs), so their runners mark themselves waiting
    without a new grant_role call; producer-level roles do not get it."""
    suffix = uuid.uuid4().hex[:8]
    runner, producer = f"gw_upd_runner_{suffix}", f"gw_upd_producer_{suffix}"
    with connect("postgres") as admin:
        admin.execute(f'create role "{runner}"')
        admin.execute(f'create role "{producer}"')
    try:
        with scratch_database("grants") as dbname, connect(dbname) as conn:
            conn.execute("create extension graphile_worker version '0.1.4'")
            conn.execute("select graphile_worker.grant_role(%s, 'runner')", (runner,))
            conn.execute("select graphile_worker.grant_role(%s, 'producer')", (producer,))
            conn.execute("alter extension graphile_worker update to '0.1.5'")
            can = conn.execute(
                "select has_function_privilege(r, 'graphile_worker.wait_for_jobs(text, text[],"
                " text[], boolean)', 'execute') from unnest(%s::text[]) as r",
                ([runner, producer],),
            ).fetchall()
            assert can == [(True,), (False,)]
    finally:
        with connect("postgres") as admin:
            admin.execute(f'drop role if exists "{runner}"')
            admin.execute(f'drop role if exists "{producer}"')


def test_update_to_0_1_6_sets_autovacuum_settings_and_keeps_the_owners() -> None:
    """0.1.6 sets autovacuum parameters on the queue's tables; a parameter the owner had set
    already (docs/performance.md used to recommend some) keeps the owner's value."""
    with scratch_database("storage") as dbname, connect(dbname) as conn:
        conn.execute("create extension graphile_worker version '0.1.5'")
        conn.execute("alter table graphile_worker._private_jobs set"
                     " (autovacuum_vacuum_scale_factor = 0.05, autovacuum_vacuum_cost_delay = 0)")
        conn.execute("alter extension graphile_worker update to '0.1.6'")
        options = conn.execute(
            "select relname::text, reloptions from pg_class"
            " where relnamespace = 'graphile_worker'::regnamespace and reloptions is not null"
        ).fetchall()
        found = {name: set(opts) for name, opts in options}
        assert found["_private_jobs"] == {
            "autovacuum_vacuum_scale_factor=0.05",  # the owner's
            "autovacuum_vacuum_cost_delay=0",  # the owner's, not one of ours
            "autovacuum_vacuum_threshold=1000",
            "autovacuum_analyze_scale_factor=0.02",
            "autovacuum_vacuum_cost_limit=2000",
        }
        assert found["_private_job_queues"] == {"autovacuum_vacuum_cost_delay=0"}
        assert found["_private_wait_marks"] == {"autovacuum_vacuum_cost_delay=0"}


def test_update_to_0_1_7_keeps_every_level_working_and_history_takes_one_call() -> None:
    """0.1.7 drops and creates report_jobs again (a new argument) and adds functions at each
    level: roles granted a level at 0.1.6 keep report_jobs and get the new functions of their
    level (and admins the finished_jobs view) without a new grant_role call. Then one
    set_retention call turns history on: a job reported through report_jobs is recorded."""
    suffix = uuid.uuid4().hex[:8]
    roles = {level: f"gw_upd17_{level}_{suffix}" for level in ("producer", "runner", "admin")}
    with connect("postgres") as admin:
        for role in roles.values():
            admin.execute(f'create role "{role}"')
    checks = {
        "graphile_worker.report_jobs(text, bigint[], json, timestamptz, json)":
            ("runner", "admin"),
        "graphile_worker.job_status(bigint, timestamptz)": ("producer", "runner", "admin"),
        "graphile_worker.watch_job(bigint)": ("producer", "runner", "admin"),
        "graphile_worker.prune_finished_jobs(integer, timestamptz)": ("runner", "admin"),
        "graphile_worker.set_retention(text, interval)": ("admin",),
    }
    try:
        with scratch_database("grants17") as dbname, connect(dbname) as conn:
            conn.execute("create extension graphile_worker version '0.1.6'")
            for level, role in roles.items():
                conn.execute("select graphile_worker.grant_role(%s, %s)", (role, level))
            conn.execute("select graphile_worker.add_job('t', '{\"n\": 1}')")
            conn.execute("alter extension graphile_worker update to '0.1.7'")
            for function, levels in checks.items():
                for level, role in roles.items():
                    can = conn.execute(
                        "select has_function_privilege(%s, %s, 'execute')", (role, function)
                    ).fetchone()
                    assert can == (level in levels,), (function, level)
            views = conn.execute(
                "select has_table_privilege(r, 'graphile_worker.finished_jobs', 'select')"
                " from unnest(%s::text[]) as r", (list(roles.values()),),
            ).fetchall()
            assert views == [(False,), (False,), (True,)]

            conn.execute("select graphile_worker.set_retention(null, '1 day')")
            [(job_id,)] = conn.execute(
                "select id from graphile_worker.get_jobs('w', array['t'], 1, null)").fetchall()
            conn.execute("select * from graphile_worker.report_jobs('w', array[%s]::bigint[],"
                         " null, results => '[\"sent\"]')", (job_id,))
            assert conn.execute(
                "select state, result from graphile_worker.job_status(%s)", (job_id,)
            ).fetchone() == ("completed", "sent")
    finally:
        with connect("postgres") as admin:
            for role in roles.values():
                admin.execute(f'drop role if exists "{role}"')


def test_update_to_0_1_8_gives_flow_control_to_the_admins_of_0_1_7_only() -> None:
    """0.1.8 adds the flow-control functions at the admin level: roles granted admin at 0.1.7
    can call them after ALTER EXTENSION UPDATE without a new grant_role call (and a pause they
    set holds for claims); producer and runner roles do not get them."""
    suffix = uuid.uuid4().hex[:8]
    roles = {level: f"gw_upd18_{level}_{suffix}" for level in ("producer", "runner", "admin")}
    with connect("postgres") as admin:
        for role in roles.values():
            admin.execute(f'create role "{role}"')
    functions = [
        "graphile_worker.pause_tasks(text[])",
        "graphile_worker.resume_tasks(text[])",
        "graphile_worker.pause_queues(text[])",
        "graphile_worker.resume_queues(text[])",
        "graphile_worker.set_task_limits(text, integer, integer, interval)",
        "graphile_worker.flow_controls()",
        "graphile_worker.cancel_jobs(bigint[])",
        "graphile_worker.cancel_jobs_by_key(text[])",
    ]
    try:
        with scratch_database("grants18") as dbname, connect(dbname) as conn:
            conn.execute("create extension graphile_worker version '0.1.7'")
            for level, role in roles.items():
                conn.execute("select graphile_worker.grant_role(%s, %s)", (role, level))
            conn.execute("select graphile_worker.add_job('t')")
            conn.execute("alter extension graphile_worker update to '0.1.8'")
            for function in functions:
                can = conn.execute(
                    "select has_function_privilege(r, %s, 'execute')"
                    " from unnest(%s::text[]) with ordinality as r(r, n) order by n",
                    (function, list(roles.values())),
                ).fetchall()
                assert can == [(False,), (False,), (True,)], function

            conn.execute(f'set role "{roles["admin"]}"')
            assert conn.execute(
                "select graphile_worker.pause_tasks(array['t'])").fetchone() == (["t"],)
            assert conn.execute(
                "select name, paused from graphile_worker.flow_controls()"
            ).fetchall() == [("t", True)]
            conn.execute("reset role")
            assert conn.execute(
                "select id from graphile_worker.get_jobs('w', array['t'], 1, null)"
            ).fetchall() == []
    finally:
        with connect("postgres") as admin:
            for role in roles.values():
                admin.execute(f'drop role if exists "{role}"')
