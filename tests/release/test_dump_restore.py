"""pg_dump and restore of a database with queued jobs, and DROP/CREATE EXTENSION.

pg_dump emits CREATE EXTENSION graphile_worker and, because the tables with user data and their
identity sequences are registered with pg_extension_config_dump, their rows and the sequences'
positions. A restore therefore keeps the jobs and continues the ids without collision.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest

from tests.release.release_tools import (
    connect,
    default_version,
    run_pg,
    scratch_database,
    seed_jobs,
)

MIGRATIONS = [(i, i in (1, 3, 11, 13, 14, 16, 19)) for i in range(1, 21)]
SEQUENCES = ("jobs_id_seq1", "tasks_id_seq", "job_queues_id_seq")


def _table(conn: psycopg.Connection, name: str) -> list[tuple[object, ...]]:
    return conn.execute(f"select * from graphile_worker.{name} order by 1").fetchall()


def _sequence(conn: psycopg.Connection, name: str) -> tuple[object, ...]:
    row = conn.execute(f"select last_value, is_called from graphile_worker.{name}").fetchone()
    assert row is not None
    return tuple(row)


@pytest.mark.parametrize("dump_format", ["custom", "plain"])
def test_dump_and_restore_keep_jobs_and_continue_ids(tmp_path: Path, dump_format: str) -> None:
    with scratch_database("src") as src_db, scratch_database("restored") as dst_db:
        with connect(src_db) as src:
            src.execute("create extension graphile_worker")
            seed_jobs(src)
            # Jobs, tasks and queues whose rows are gone but whose ids were used: the restored
            # sequences must continue after them, not after max(id).
            src.execute("select graphile_worker.add_job('gone', '{}', queue_name => 'gone_q')")
            src.execute(
                "select graphile_worker.complete_jobs(array(select id from "
                "graphile_worker._private_jobs where payload::text = '{}'))"
            )
            src.execute("select graphile_worker.gc_task_identifiers()")
            src.execute("select graphile_worker.gc_job_queues()")
            src.execute(
                "insert into graphile_worker._private_known_crontabs "
                "(identifier, known_since, last_execution) "
                "values ('nightly', '2024-01-01 00:00Z', '2024-06-01 03:00Z')"
            )
            before = {
                name: _table(src, name)
                for name in ("_private_jobs", "_private_tasks", "_private_job_queues",
                             "_private_known_crontabs")
            }
            sequences = {name: _sequence(src, name) for name in SEQUENCES}
            max_job_id = max(r[0] for r in before["_private_jobs"])
            assert sequences["jobs_id_seq1"][0] > max_job_id  # the deleted job used the last id
            assert sequences["tasks_id_seq"][0] > max(r[0] for r in before["_private_tasks"])
            assert sequences["job_queues_id_seq"][0] > max(
                r[0] for r in before["_private_job_queues"]
            )

        dump = tmp_path / "gw.dump"
        if dump_format == "custom":
            run_pg("pg_dump", "-Fc", "-f", str(dump), "-d", src_db)
            run_pg("pg_restore", "--exit-on-error", "-d", dst_db, str(dump))
        else:
            run_pg("pg_dump", "-Fp", "-f", str(dump), "-d", src_db)
            run_pg("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dst_db, "-f", str(dump))

        with connect(dst_db) as dst:
            assert dst.execute(
                "select extversion from pg_catalog.pg_extension where extname = 'graphile_worker'"
            ).fetchone() == (default_version(),)
            for name, rows in before.items():
                assert _table(dst, name) == rows, name
            assert dst.execute(
                "select id, breaking from graphile_worker.migrations order by id"
            ).fetchall() == MIGRATIONS
            assert {name: _sequence(dst, name) for name in SEQUENCES} == sequences

            new_job = dst.execute(
                "select id, task_id, job_queue_id from graphile_worker.add_job("
                "'new_task', '{\"n\":6}', queue_name => 'new_q')"
            ).fetchone()
            assert new_job is not None
            assert new_job[0] == sequences["jobs_id_seq1"][0] + 1  # type: ignore[operator]
            assert new_job[1] == sequences["tasks_id_seq"][0] + 1  # type: ignore[operator]
            assert new_job[2] == sequences["job_queues_id_seq"][0] + 1  # type: ignore[operator]
            # The restored jobs are claimable and the key still deduplicates.
            claimed = dst.execute(
                "select (payload->>'n')::int from graphile_worker.get_jobs("
                "'after-restore', array['send_email'], 10)"
            ).fetchall()
            assert sorted(r[0] for r in claimed) == [1, 2]
            keyed = dst.execute(
                "select id from graphile_worker._private_jobs where key = 'k1'"
            ).fetchone()
            assert keyed is not None
            assert dst.execute(
                "select id from graphile_worker.add_job('send_email', '{\"n\":7}', "
                "job_key => 'k1', job_key_mode => 'unsafe_dedupe')"
            ).fetchone() == keyed


def test_drop_extension_then_create_extension_gives_a_working_api(
    db: psycopg.Connection,
) -> None:
    role = f"gw_release_app_{uuid.uuid4().hex[:8]}"
    db.execute(f"create role {role}")
    try:
        db.execute("select graphile_worker.add_job('x', '{}')")
        db.execute("select graphile_worker.grant_role(%s, 'runner')", (role,))

        db.execute("drop extension graphile_worker")
        assert db.execute(
            "select count(*) from pg_catalog.pg_class "
            "where relnamespace = to_regnamespace('graphile_worker')"
        ).fetchone() == (0,)
        assert db.execute(
            "select count(*) from pg_catalog.pg_proc "
            "where pronamespace = to_regnamespace('graphile_worker')"
        ).fetchone() == (0,)

        db.execute("create extension graphile_worker")
        assert db.execute("select graphile_worker.version()").fetchone() == (default_version(),)
        assert db.execute(
            "select id, breaking from graphile_worker.migrations order by id"
        ).fetchall() == MIGRATIONS
        assert db.execute("select count(*) from graphile_worker._private_jobs").fetchone() == (0,)
        job = db.execute("select id from graphile_worker.add_job('x', '{\"n\":1}')").fetchone()
        assert job == (1,)  # a new extension: its sequences start over
        claimed = db.execute(
            "select id from graphile_worker.get_jobs('w', array['x'], 5)"
        ).fetchall()
        assert claimed == [(1,)]
        assert db.execute(
            "select outcome from graphile_worker.report_jobs('w', completed_job_ids => array[1::bigint])"
        ).fetchall() == [("completed",)]
        # The old grants went with the old objects; granting again works.
        db.execute("select graphile_worker.grant_role(%s, 'runner')", (role,))
        assert db.execute(
            "select has_function_privilege(%s, 'graphile_worker.get_jobs(text, text[], integer, text[], timestamptz)', 'execute')",
            (role,),
        ).fetchone() == (True,)
    finally:
        db.execute(f"drop owned by {role}")
        db.execute(f"drop role {role}")
