"""Node graphile-worker 0.18 against a database where only CREATE EXTENSION ran."""

from __future__ import annotations

import json
import subprocess

import psycopg

from tests.compat.conftest import graphile_worker_cli, node_cmd
from tests.helpers import rows, scalar, wait_until

FINGERPRINT = """
select md5(string_agg(x, E'\\n' order by x)) from (
  select 'fn ' || p.oid::regprocedure::text || ' ' || md5(pg_get_functiondef(p.oid)) || ' ' || coalesce(array_to_string(p.proacl, ','), '')
  from pg_proc p where p.pronamespace = 'graphile_worker'::regnamespace
  union all
  select 'col ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull
         || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
  from pg_class c join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
  left join pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
  where c.relnamespace = 'graphile_worker'::regnamespace
  union all
  select 'idx ' || indexrelid::regclass::text || ' ' || pg_get_indexdef(indexrelid)
  from pg_index where indrelid in (select oid from pg_class where relnamespace = 'graphile_worker'::regnamespace)
  union all
  select 'con ' || conname || ' ' || pg_get_constraintdef(oid)
  from pg_constraint where connamespace = 'graphile_worker'::regnamespace
  union all
  select 'rel ' || relname || ' ' || relkind::text || ' ' || relrowsecurity
  from pg_class where relnamespace = 'graphile_worker'::regnamespace
  union all
  select 'mig ' || id || ' ' || breaking from graphile_worker.migrations
) as f(x)
"""


def test_node_schema_only_changes_nothing(db: psycopg.Connection, node_env: dict[str, str]) -> None:
    before = scalar(db, FINGERPRINT)
    migrations = rows(db, "select id, ts, breaking from graphile_worker.migrations order by id")
    out = subprocess.run(
        [graphile_worker_cli(), "--schema-only"],
        env=node_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Schema updated" in out.stdout + out.stderr
    assert scalar(db, FINGERPRINT) == before
    assert (
        rows(db, "select id, ts, breaking from graphile_worker.migrations order by id")
        == migrations
    )
    assert [m["id"] for m in migrations] == list(range(1, 21))


def test_node_worker_runs_jobs_enqueued_by_sql(
    executions: psycopg.Connection, node_env, spawn
) -> None:
    db = executions
    db.execute(
        """
        select graphile_worker.add_job('record', '{"n": 1}');
        select graphile_worker.add_job('record', '{"n": 2}', queue_name => 'q1', priority => -5);
        select graphile_worker.add_job('record', '{"n": 3}', job_key => 'k3');
        select graphile_worker.add_job('record', '{"n": 4}', job_key => 'k3');
        select * from graphile_worker.add_jobs(array[
          row('record', '{"n": 5}', 'q1', null, null, null, null, null)::graphile_worker.job_spec,
          row('record', '{"n": 6}', null, now() + interval '1 hour', null, null, null, null)::graphile_worker.job_spec]);
        """
    )
    spawn(node_cmd("worker"), {**node_env, "CONCURRENCY": "2"}, "node")
    wait_until(
        lambda: scalar(db, "select count(*) from public.executions") >= 4, 60, "4 executions"
    )
    wait_until(
        lambda: scalar(db, "select count(*) from graphile_worker._private_jobs") == 1,
        30,
        "queue drained",
    )
    done = sorted(
        r["n"] for r in rows(db, "select (payload->>'n')::int as n from public.executions")
    )
    assert done == [1, 2, 4, 5], (
        "the keyed job ran once with its replaced payload; the future job waits"
    )
    assert scalar(db, "select task_identifier from graphile_worker.jobs") == "record"
    assert (
        scalar(
            db,
            "select count(*) from graphile_worker._private_job_queues where locked_by is not null",
        )
        == 0
    )


def test_node_worker_failure_uses_the_same_backoff_and_error_text(
    executions: psycopg.Connection, node_env, spawn
) -> None:
    db = executions
    job_id = scalar(db, "select id from graphile_worker.add_job('fail', '{}', max_attempts => 5)")
    spawn(node_cmd("worker"), node_env, "node")
    wait_until(
        lambda: (
            scalar(
                db, "select attempts from graphile_worker._private_jobs where id = %s", (job_id,)
            )
            == 1
            and scalar(
                db,
                "select locked_by is null from graphile_worker._private_jobs where id = %s",
                (job_id,),
            )
        ),
        60,
        "the Node failure",
    )
    job = rows(
        db,
        "select last_error, extract(epoch from run_at - (select started_at from public.executions limit 1)) as delay "
        "from graphile_worker._private_jobs where id = %s",
        (job_id,),
    )[0]
    assert job["last_error"] == "node failed 1"
    assert 2.0 < float(job["delay"]) < 4.0, "exp(1) seconds after the failure"
    assert json.loads(json.dumps(job["last_error"])) == "node failed 1"


def test_node_add_jobs_are_claimable_through_the_runner_api(
    db: psycopg.Connection, node_env
) -> None:
    specs = [
        {
            "identifier": "record",
            "payload": {"n": 1},
            "spec": {"jobKey": "nk", "queueName": "nq", "priority": 3},
        },
        {
            "identifier": "record",
            "payload": {"n": 2},
            "spec": {"jobKey": "nk", "queueName": "nq", "priority": 3},
        },
        {"identifier": "record", "payload": {"n": 3}, "spec": {"runAt": "2000-01-01T00:00:00Z"}},
    ]
    out = subprocess.run(
        node_cmd("add-jobs"),
        env=node_env,
        input=json.dumps(specs),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    created = json.loads(out.stdout.strip().splitlines()[-1])
    assert created[0]["id"] == created[1]["id"], "the second addJob replaced the keyed job"
    claimed = rows(
        db,
        "select id, queue_name, priority, payload from graphile_worker.get_jobs('py', array['record'], 10)",
    )
    assert [(c["queue_name"], c["priority"], c["payload"]) for c in claimed] == [
        (None, 0, {"n": 3}),
        ("nq", 3, {"n": 2}),
    ]
