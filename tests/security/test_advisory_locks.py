"""A role with no grants at all cannot stop anyone's work (issue 19, finding 1).

Advisory locks need no privilege, and pg_locks shows everyone which keys are in use: up to 0.1.2
the enqueuers' guard against garbage collection (pg_advisory_xact_lock_shared(2037542723, 0))
and the 1,024 job key buckets (2037542722, hashtext(key) & 1023) were advisory locks, so an
outsider holding them made add_job, add_jobs, remove_job and schedule_crontab wait until
statement_timeout. Now the extension takes only row locks and locks on its own tables, which a
role needs rights on the table (or USAGE on the schema, to even name it) to take.

Real roles, real connections: the outsider holds every advisory lock of the old key spaces
(and a few more) on one connection, listens on jobs:insert inside an open transaction on
another, while producer, runner and admin connections with a 10 s statement_timeout do their
work. The expected time is milliseconds; a regression fails with 57014 instead of hanging.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from helpers import rows, scalar

TIMEOUT = "10s"
# The old key spaces: (2037542722, bucket) for job keys, (2037542723, 0) for the GC guard.
OLD_KEY_SPACES = (2037542722, 2037542723)


@pytest.fixture
def roles(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> Iterator[Callable[[str], psycopg.Connection]]:
    """A login role of a level ('none': created with no grants at all), as a connection."""
    created: list[str] = []

    def _make(level: str) -> psycopg.Connection:
        name = f"gw_locks_{level}_{uuid.uuid4().hex[:8]}"
        db.execute(f'create role "{name}" login')
        created.append(name)
        if level != "none":
            db.execute("select graphile_worker.grant_role(%s, %s)", (name, level))
        conn = connect(user=name)
        if level != "none":
            conn.execute(f"set statement_timeout = '{TIMEOUT}'")
        return conn

    yield _make
    for name in created:
        db.execute(f'drop owned by "{name}"')
        db.execute(f'drop role "{name}"')


def _hold_every_advisory_lock(outsider: psycopg.Connection) -> int:
    """Session-level exclusive advisory locks on the old key spaces (every bucket of both),
    the same numbers as single bigint keys, and keys 0..1023. Returns how many it holds."""
    return int(scalar(outsider, """
        select count(*) from (
          select pg_advisory_lock(k, b) from unnest(%s::int[]) as k, generate_series(0, 1023) as b
          union all
          select pg_advisory_lock((k::bigint << 32) | b)
          from unnest(%s::int[]) as k, generate_series(0, 1023) as b
          union all
          select pg_advisory_lock(b) from generate_series(0, 1023) as b
        ) as held
    """, (list(OLD_KEY_SPACES), list(OLD_KEY_SPACES))))


def test_outsider_holding_every_advisory_lock_blocks_no_enqueue_schedule_or_gc(
    db: psycopg.Connection, roles: Callable[[str], psycopg.Connection]
) -> None:
    # Known task, queue and keyed jobs, so every path runs: existing and new tasks and queues,
    # a keyed job to replace, one to remove, one running (its key moves to a new job).
    db.execute("select graphile_worker.add_job('known', queue_name => 'q')")
    db.execute("select graphile_worker.add_job('known', job_key => 'replace-me')")
    db.execute("select graphile_worker.add_job('known', job_key => 'remove-me')")
    db.execute("select graphile_worker.add_job('running', job_key => 'running-key')")
    db.execute("select * from graphile_worker.get_jobs('w1', array['running'])")
    db.execute("select graphile_worker.add_job('unused_task', queue_name => 'unused_q')")
    db.execute("delete from graphile_worker._private_jobs where task_id = "
               "(select id from graphile_worker._private_tasks where identifier = 'unused_task')")

    outsider = roles("none")
    assert _hold_every_advisory_lock(outsider) == 5 * 1024
    assert scalar(db, "select count(*) from pg_locks where locktype = 'advisory' and granted "
                      "and pid = %s", (scalar(outsider, "select pg_backend_pid()"),)) == 5 * 1024
    # A second outsider connection listens on the runners' channel and keeps a transaction
    # open, so it never reads a notification (the queue's tail stays where it is).
    listener = roles("none")
    listener.execute('listen "jobs:insert"')
    listener.execute("begin")
    listener.execute("select 1")

    producer, runner, admin = roles("producer"), roles("runner"), roles("admin")
    started = time.monotonic()
    steps = {
        "add_job": (producer, "select id from graphile_worker.add_job('known')"),
        "add_job new task and queue": (
            producer, "select id from graphile_worker.add_job('new_task', queue_name => 'new_q')"),
        "add_job keyed (replace)": (
            producer, "select id from graphile_worker.add_job('known', job_key => 'replace-me')"),
        "add_job keyed (new key)": (
            producer, "select id from graphile_worker.add_job('known', job_key => 'fresh')"),
        "add_job keyed (running job)": (
            producer, "select id from graphile_worker.add_job('running', job_key => 'running-key')"),
        "add_job keyed (preserve_run_at)": (
            producer, "select id from graphile_worker.add_job('known', job_key => 'replace-me', "
                      "job_key_mode => 'preserve_run_at')"),
        "add_job keyed (unsafe_dedupe)": (
            producer, "select id from graphile_worker.add_job('known', job_key => 'dedupe', "
                      "job_key_mode => 'unsafe_dedupe')"),
        "add_jobs": (
            producer, "select count(*) from graphile_worker.add_jobs(array["
                      "row('known', null, 'q', null, null, 'batch-1', null, null),"
                      "row('known', null, null, null, null, null, null, null),"
                      "row('other_new_task', null, null, null, null, 'batch-2', null, null)"
                      "]::graphile_worker.job_spec[])"),
        "remove_job": (producer, "select id from graphile_worker.remove_job('remove-me')"),
        "schedule_crontab": (
            runner, "select count(*) from graphile_worker.schedule_crontab('* * * * * cron_task')"),
        "gc_task_identifiers": (admin, "select graphile_worker.gc_task_identifiers()"),
        "gc_job_queues": (admin, "select graphile_worker.gc_job_queues()"),
    }
    results = {}
    for name, (conn, sql) in steps.items():
        try:
            results[name] = scalar(conn, sql)
        except psycopg.Error as e:  # 57014 when a lock the outsider holds blocked the call
            pytest.fail(f"{name} failed while an outsider held advisory locks: "
                        f"{e.sqlstate} {e}")
    elapsed = time.monotonic() - started
    assert all(v is not None for v in results.values()), results
    assert results["remove_job"] is not None and results["add_jobs"] == 3
    assert results["gc_task_identifiers"] == 1 and results["gc_job_queues"] == 1
    assert elapsed < 5, f"the calls took {elapsed:.1f}s"
    # The work is done: the outsider still holds its locks, the listener its transaction.
    assert _count_jobs(db, "replace-me") == 1 and _count_jobs(db, "remove-me") == 0
    assert scalar(db, "select count(*) from graphile_worker.jobs where key = 'running-key' "
                      "and locked_at is null") == 1
    listener.execute("rollback")


def _count_jobs(db: psycopg.Connection, key: str) -> int:
    return int(scalar(db, "select count(*) from graphile_worker._private_jobs where key = %s",
                      (key,)))


@pytest.mark.parametrize("sql", [
    "lock table graphile_worker._private_tasks in access exclusive mode",
    "lock table graphile_worker._private_jobs in share mode",
    "prepare p as select 1 from graphile_worker._private_tasks for update",
    "create rule r as on insert to graphile_worker._private_jobs do instead nothing",
    "select pg_relation_size('graphile_worker._private_tasks')",
])
def test_outsider_cannot_even_name_the_tables_whose_locks_the_extension_takes(
    roles: Callable[[str], psycopg.Connection], sql: str
) -> None:
    # The guard and the key locks are locks on the extension's tables and rows. A role without
    # USAGE on the schema cannot name them, so it cannot request (and queue for) any lock on
    # them, not even one that PostgreSQL checks the rights for only after locking.
    outsider = roles("none")
    outsider.execute("begin")
    with pytest.raises(psycopg.Error) as caught:
        outsider.execute(sql)
    assert caught.value.sqlstate == "42501", caught.value
    assert "permission denied for schema graphile_worker" in str(caught.value)
    outsider.execute("rollback")


def test_no_function_of_the_extension_takes_an_advisory_lock(db: psycopg.Connection) -> None:
    takers = rows(db, """
        select p.oid::regprocedure::text as function
        from pg_proc p
        where p.pronamespace = 'graphile_worker'::regnamespace
          and p.prosrc ~* 'advisory'
        order by 1
    """)
    assert takers == []
