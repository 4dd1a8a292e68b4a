"""The privilege levels, checked with real roles and real connections."""

from __future__ import annotations

import psycopg
import pytest

from tests.helpers import scalar
from tests.security.conftest import assert_denied

PRIVATE_TABLES = [
    "_private_jobs",
    "_private_tasks",
    "_private_job_queues",
    "_private_known_crontabs",
    "_private_workers",
    "_private_finished_jobs",
    "_private_attempt_errors",
    "_private_retention",
    "_private_finish_watches",
]
CLAIM_AND_REPORT = [
    "select * from graphile_worker.get_jobs('w', array['t'])",
    "select * from graphile_worker.report_jobs('w', array[1]::bigint[])",
    "select graphile_worker.return_jobs('w', array[1]::bigint[])",
    "select graphile_worker.reset_locked()",
    "select graphile_worker.register_worker('w')",
    "select * from graphile_worker.recover_stale_workers()",
    "select graphile_worker.prune_finished_jobs()",
]
ADMIN = [
    "select * from graphile_worker.complete_jobs(array[1]::bigint[])",
    "select * from graphile_worker.permanently_fail_jobs(array[1]::bigint[])",
    "select * from graphile_worker.reschedule_jobs(array[1]::bigint[])",
    "select graphile_worker.force_unlock_workers(array['w'])",
    "select graphile_worker.delete_permanently_failed_jobs()",
    "select graphile_worker.gc_task_identifiers()",
    "select graphile_worker.gc_job_queues()",
    "select * from graphile_worker.jobs",
    "select * from graphile_worker.finished_jobs",
    "select graphile_worker.set_retention(null, '1 day')",
    "select graphile_worker.clear_retention('t')",
    "select * from graphile_worker.retention_settings()",
    # operations (0.1.8): reads are monitor level, which admin includes
    "select * from graphile_worker.list_jobs()",
    "select * from graphile_worker.job_detail(1)",
    "select * from graphile_worker.retry_jobs(array[1]::bigint[])",
    "select * from graphile_worker.delete_jobs(array[1]::bigint[])",
    "select * from graphile_worker.run_jobs_at(array[1]::bigint[], now())",
    "select graphile_worker.run_cron_item('x')",
]


def test_producer_enqueues_and_removes_by_key_but_reads_and_claims_nothing(make_role, db) -> None:
    producer = make_role("producer")
    job = producer.execute(
        "select id, key from graphile_worker.add_job('send_email', '{\"to\": 1}', job_key => 'k1')"
    ).fetchone()
    assert job is not None and job[1] == "k1"
    producer.execute(
        "select * from graphile_worker.add_jobs(array[row('t', null, 'q', null, null, null, null, null)::graphile_worker.job_spec])"
    )
    assert scalar(db, "select count(*) from graphile_worker._private_jobs") == 2
    removed = producer.execute("select id from graphile_worker.remove_job('k1')").fetchone()
    assert removed == (job[0],)

    for table in PRIVATE_TABLES:
        assert_denied(producer, f"select * from graphile_worker.{table}")
        assert_denied(producer, f"delete from graphile_worker.{table}")
    for sql in CLAIM_AND_REPORT + ADMIN:
        assert_denied(producer, sql)
    assert scalar(db, "select count(*) from graphile_worker._private_jobs") == 1


def test_producer_reads_status_and_waits_but_not_payloads(make_role, db) -> None:
    """Status and waiting are producer rights (docs/history.md, "Roles"): state, errors and
    result, never the payload; the finished_jobs view is for admins."""
    producer = make_role("producer")
    db.execute("select graphile_worker.set_retention(null, '1 day')")
    job_id = scalar(db, "select id from graphile_worker.add_job('t', '{\"secret\": 1}')")
    db.execute("select * from graphile_worker.get_jobs('w', array['t'])")
    db.execute("select * from graphile_worker.report_jobs('w', array[%s]::bigint[], null,"
               " results => '[\"done\"]')", (job_id,))
    row = producer.execute(
        "select * from graphile_worker.job_status(%s)", (job_id,)).fetchone()
    assert row is not None and row[3] == "completed" and row[8] == "done"
    assert "secret" not in str(row)
    producer.execute("select graphile_worker.watch_job(%s)", (job_id,))
    assert producer.execute("select graphile_worker.unwatch_job()").fetchone() == (1,)
    assert_denied(producer, "select * from graphile_worker.finished_jobs")


def test_a_runner_prunes_only_by_the_servers_clock(make_role, db) -> None:
    runner = make_role("runner")
    assert runner.execute("select graphile_worker.prune_finished_jobs()").fetchone() == (0,)
    with pytest.raises(psycopg.Error) as exc:
        runner.execute("select graphile_worker.prune_finished_jobs(10, 'infinity')")
    assert exc.value.sqlstate == "GWA06"


def test_producer_enqueues_from_a_trigger_on_its_own_table(make_role, db) -> None:
    producer = make_role("producer")
    name = producer.info.user
    db.execute(f'create schema app authorization "{name}"')
    producer.execute("create table app.users (id serial primary key, email text)")
    producer.execute(
        """
        create function app.enqueue_welcome() returns trigger language plpgsql as $$
        begin
          perform graphile_worker.add_job('send_welcome', json_build_object('user_id', new.id));
          return new;
        end $$;
        create trigger users_welcome after insert on app.users
          for each row execute function app.enqueue_welcome();
        """
    )
    with producer.transaction():
        producer.execute(
            "insert into app.users (email) values ('a@example.com'), ('b@example.com')"
        )
    with pytest.raises(psycopg.errors.UniqueViolation), producer.transaction():
        producer.execute("insert into app.users (id, email) values (3, 'c'), (3, 'd')")
    jobs = db.execute("select task_identifier from graphile_worker.jobs order by id").fetchall()
    assert jobs == [("send_welcome",), ("send_welcome",)]


def test_runner_claims_and_reports_but_has_no_admin_rights(make_role, db) -> None:
    runner = make_role("runner")
    db.execute("select graphile_worker.add_job('t')")
    runner.execute("select graphile_worker.register_worker('w')")
    claimed = runner.execute(
        "select id from graphile_worker.get_jobs('w', array['t'], 5)"
    ).fetchall()
    assert len(claimed) == 1
    outcome = runner.execute(
        "select outcome from graphile_worker.report_jobs('w', array[%s]::bigint[])",
        (claimed[0][0],),
    ).fetchone()
    assert outcome == ("completed",)
    runner.execute("select graphile_worker.add_job('t')")  # ctx.add_job from a handler
    for table in PRIVATE_TABLES:
        assert_denied(runner, f"select * from graphile_worker.{table}")
    for sql in ADMIN:
        assert_denied(runner, sql)
    assert_denied(runner, "create table graphile_worker.evil (id int)")


def test_admin_can_run_admin_actions(make_role, db) -> None:
    admin = make_role("admin")
    job_id = scalar(db, "select id from graphile_worker.add_job('t')")
    assert admin.execute("select count(*) from graphile_worker.jobs").fetchone() == (1,)
    assert admin.execute(
        "select attempts from graphile_worker.reschedule_jobs(array[%s]::bigint[], attempts => 3)",
        (job_id,),
    ).fetchone() == (3,)
    assert admin.execute(
        "select last_error from graphile_worker.permanently_fail_jobs(array[%s]::bigint[], 'nope')",
        (job_id,),
    ).fetchone() == ("nope",)
    assert admin.execute("select graphile_worker.delete_permanently_failed_jobs()").fetchone() == (
        1,
    )
    assert admin.execute("select graphile_worker.gc_task_identifiers()").fetchone() == (1,)
    admin.execute("select graphile_worker.force_unlock_workers(array['x'])")
    for table in PRIVATE_TABLES:
        assert_denied(admin, f"select * from graphile_worker.{table}")
    assert_denied(admin, "select graphile_worker.grant_role('public', 'admin')")


def test_role_without_a_level_can_call_nothing(make_role) -> None:
    nobody = make_role("none")
    assert_denied(nobody, "select graphile_worker.add_job('t')")
    for sql in CLAIM_AND_REPORT + ADMIN:
        assert_denied(nobody, sql)


def test_revoke_role_takes_every_right_back(make_role, db) -> None:
    admin = make_role("admin")
    db.execute("select graphile_worker.revoke_role(%s)", (admin.info.user,))
    assert_denied(admin, "select graphile_worker.add_job('t')")
    for sql in CLAIM_AND_REPORT + ADMIN:
        assert_denied(admin, sql)


def test_every_public_function_belongs_to_a_level(db) -> None:
    public = {
        r[0]
        for r in db.execute(
            "select p.oid::regprocedure::text from pg_proc p "
            "where p.pronamespace = 'graphile_worker'::regnamespace and p.proname !~ '^_private_' "
            "and p.proname not in ('grant_role', 'revoke_role')"
        )
    }
    leveled = {
        r[0]
        for r in db.execute(
            "select f::text from unnest(array['producer','runner','monitor','admin']) l, "
            "graphile_worker._private_level_functions(l) f"
        )
    }
    assert public - leveled == set(), "public functions missing from _private_level_functions"


@pytest.mark.parametrize(
    ("args", "sqlstate"),
    [
        (("nobody_here_xyz", "producer"), "42704"),
        (("postgres", "superuser"), "GWA02"),
        ((None, "admin"), "42704"),
    ],
)
def test_grant_role_rejects_unknown_roles_and_levels(db, args, sqlstate) -> None:
    with pytest.raises(psycopg.Error) as exc:
        db.execute("select graphile_worker.grant_role(%s, %s)", args)
    assert exc.value.sqlstate == sqlstate


def test_the_real_runner_runs_end_to_end_as_a_runner_role(make_role, db) -> None:
    import subprocess
    import sys
    from pathlib import Path

    runner = make_role("runner")
    info = runner.info
    db.execute(
        "select graphile_worker.add_jobs(array(select row('ok', '{}', case when i % 3 = 0 then 'q' end,"
        " null, null, null, null, null)::graphile_worker.job_spec from generate_series(1, 30) i))"
    )
    db.execute("select graphile_worker.add_job('boom', max_attempts => 2)")
    dsn = f"host={info.host} port={info.port} dbname={info.dbname} user={info.user}"
    tasks = Path(__file__).with_name("tasks") / "plain.py"
    out = subprocess.run(
        [sys.executable, "-m", "gw_runner", str(tasks), "-c", dsn, "-j", "4", "--once"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "permission denied" not in out.stderr
    left = db.execute(
        "select task_identifier, attempts, last_error from graphile_worker.jobs"
    ).fetchall()
    assert len(left) == 1, "the 30 ok jobs completed"
    assert left[0][:2] == ("boom", 1), "the failing job was failed by the runner role"
    assert "boom as the runner role" in left[0][2]
    assert db.execute("select count(*) from graphile_worker._private_workers").fetchone() == (0,)
    owner = db.execute(
        "select count(*) from pg_class where relnamespace = 'graphile_worker'::regnamespace"
        " and relowner = (select oid from pg_roles where rolname = %s)",
        (info.user,),
    ).fetchone()
    assert owner == (0,), "the runner role owns nothing"
