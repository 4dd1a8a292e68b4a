"""The extension object itself: pg_dump configuration and DROP / CREATE EXTENSION."""

from __future__ import annotations

import psycopg
from helpers import add_job, get_jobs, rows, scalar


def test_extension_registers_tables_and_sequences_for_pg_dump(db: psycopg.Connection) -> None:
    config = {
        r["name"]: r["condition"]
        for r in rows(
            db,
            "select c.oid::regclass::text as name, x.condition "
            "from pg_extension e, unnest(e.extconfig, e.extcondition) as x(oid, condition) "
            "join pg_class c on c.oid = x.oid where e.extname = 'graphile_worker'",
        )
    }
    required = {
        "graphile_worker._private_jobs": "",
        "graphile_worker._private_tasks": "",
        "graphile_worker._private_job_queues": "",
        "graphile_worker._private_known_crontabs": "",
        "graphile_worker.migrations": "where id > 20",
        "graphile_worker.jobs_id_seq1": "",
        "graphile_worker.tasks_id_seq": "",
        "graphile_worker.job_queues_id_seq": "",
    }
    assert {name: config.get(name) for name in required} == required


def test_extension_drop_then_create_works(db: psycopg.Connection) -> None:
    add_job(db, "job1", queue_name="q")
    get_jobs(db, "w", ["job1"])
    db.execute("drop extension graphile_worker")
    # PostgreSQL keeps the schema it created from the control file, but nothing is left in it.
    leftovers = rows(
        db,
        "select 'class' as kind, c.oid::regclass::text as name from pg_class c "
        "join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'graphile_worker' "
        "union all select 'function', p.oid::regprocedure::text from pg_proc p "
        "join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'graphile_worker' "
        "union all select 'type', t.oid::regtype::text from pg_type t "
        "join pg_namespace n on n.oid = t.typnamespace where n.nspname = 'graphile_worker'",
    )
    assert leftovers == []
    db.execute("create extension graphile_worker")
    assert scalar(db, "select count(*) from graphile_worker._private_jobs") == 0
    assert rows(db, "select id, breaking from graphile_worker.migrations where breaking "
                    "order by id") == [{"id": i, "breaking": True} for i in (1, 3, 11, 13, 14, 16, 19)]
    assert scalar(db, "select max(id) from graphile_worker.migrations") == 20
    row = add_job(db, "job1")
    assert row is not None and row["id"] == 1
    assert [j["id"] for j in get_jobs(db, "w", ["job1"])] == [1]
