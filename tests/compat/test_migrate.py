"""The migration of docs/compatibility.md: a database set up by Node graphile-worker 0.18 is
moved to the extension with its jobs, ids, locks and cron state; both runtimes carry on."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.compat.conftest import (
    ROOT,
    graphile_worker_cli,
    log_of,
    node_cmd,
    run_py_once,
    wait_for,
)
from tests.helpers import rows, scalar

DOC = ROOT / "docs" / "compatibility.md"
STANDALONE = ROOT / "build" / "graphile_worker-standalone.sql"
MARKER = "<!-- migrate-node-database"

STATE = {
    "tasks": "select id, identifier from graphile_worker._private_tasks order by id",
    "queues": "select id, queue_name, locked_at, locked_by from graphile_worker._private_job_queues"
              " order by id",
    "jobs": "select id, job_queue_id, task_id, payload::text, priority, run_at, attempts,"
            " max_attempts, last_error, created_at, updated_at, key, locked_at, locked_by,"
            " revision, flags, is_available from graphile_worker._private_jobs order by id",
    "crontabs": "select * from graphile_worker._private_known_crontabs order by identifier",
    "migrations": "select id, breaking from graphile_worker.migrations order by id",
}


def migration_sql() -> str:
    text = DOC.read_text()
    block = re.search(re.escape(MARKER) + r".*?```sql\n(.*?)```", text, re.S)
    assert block, f"no migration block after {MARKER!r} in {DOC}"
    return block.group(1)


def _state(db: psycopg.Connection) -> dict[str, list[dict[str, Any]]]:
    return {name: rows(db, sql) for name, sql in STATE.items()}


def _node(node_env: dict[str, str], specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = subprocess.run(node_cmd("add-jobs"), env=node_env, input=json.dumps(specs),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("install", ["extension", "standalone"])
def test_migrate_a_node_database(
    executions: psycopg.Connection, node_env: dict[str, str], spawn: Any, tmp_path: Path,
    install: str,
) -> None:
    """`standalone`: the same block with the standalone script in place of CREATE EXTENSION
    (built by `make standalone`, which `make test` runs)."""
    db = executions
    script = migration_sql()
    if install == "standalone":
        assert script.count("create extension graphile_worker;") == 1
        script = script.replace("create extension graphile_worker;", STANDALONE.read_text())
    # A database as Node leaves it: its own migrations made the schema.
    db.execute("drop extension graphile_worker cascade")
    db.execute("drop schema if exists graphile_worker cascade")
    out = subprocess.run([graphile_worker_cli(), "--schema-only"], env=node_env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert scalar(db, "select count(*) from pg_extension where extname = 'graphile_worker'") == 0
    assert scalar(db, "select max(id) from graphile_worker.migrations") == 20

    created = _node(node_env, [
        {"identifier": "record", "payload": {"n": 1},
         "spec": {"jobKey": "k1", "queueName": "qa", "priority": 2}},
        {"identifier": "record", "payload": {"n": 2}, "spec": {"queueName": "qa"}},
        {"identifier": "record", "payload": {"n": 3}, "spec": {"runAt": "2100-01-01T00:00:00Z"}},
        {"identifier": "fail", "payload": {"n": 4}, "spec": {"maxAttempts": 3}},
        {"identifier": "record", "payload": {"n": 5}, "spec": {"flags": ["f"]}},
        {"identifier": "record", "payload": {"n": 6}, "spec": {"queueName": "qb"}},
        {"identifier": "record", "payload": {"n": 7}, "spec": {"jobKey": "gone"}},
    ])
    ids = {i + 1: int(c["id"]) for i, c in enumerate(created)}
    # Job 4 failed once on Node; job 6 (and queue qb) is held by a Node worker that died
    # 5 hours ago; job 7 was removed (its id is used up); a crontab item ran at midnight.
    db.execute(
        "update graphile_worker._private_jobs set attempts = 1, last_error = 'node failed 1',"
        " run_at = now() - interval '1 minute' where id = %s", (ids[4],))
    db.execute(
        "update graphile_worker._private_jobs set attempts = 1, locked_by = 'pool-dead',"
        " locked_at = now() - interval '5 hours' where id = %s", (ids[6],))
    db.execute(
        "update graphile_worker._private_job_queues set locked_by = 'pool-dead',"
        " locked_at = now() - interval '5 hours' where queue_name = 'qb'")
    db.execute("select graphile_worker.remove_job('gone')")
    db.execute(
        "insert into graphile_worker._private_known_crontabs values"
        " ('nightly', '2024-01-01', date_trunc('day', now()))")
    before = _state(db)
    last_job_id = scalar(db, "select last_value from graphile_worker.jobs_id_seq1")
    assert last_job_id == ids[7]

    db.execute(script)  # type: ignore[call-overload]

    assert scalar(db, "select count(*) from pg_extension where extname = 'graphile_worker'") == (
        1 if install == "extension" else 0
    )
    assert scalar(db, "select count(*) from pg_namespace where nspname = 'graphile_worker_node'") == 0
    assert _state(db) == before, "every row kept as it was, with its id"
    new_id = scalar(db, "select id from graphile_worker.add_job('record', '{\"n\": 8}')")
    assert new_id == last_job_id + 1, "job ids continue after Node's last one"
    assert scalar(db, "select graphile_worker.version()") is not None

    # gw_runner: sweeps the dead Node worker's 5-hour-old lock, runs what is due, fails job 4
    # once more (attempt 2, counting Node's attempt).
    run_py_once(node_env, "--poll-interval", "0.2")
    done = {r["n"]: r for r in rows(
        db, "select (payload->>'n')::int as n, runner, attempt, prev_error"
            " from public.executions")}
    assert sorted(done) == [1, 2, 4, 5, 6, 8]
    assert (done[4]["attempt"], done[4]["prev_error"]) == (2, "node failed 1")
    assert done[6]["attempt"] == 2, "the swept job's attempt was used up, as Node's sweep does"
    assert scalar(db, "select last_error from graphile_worker._private_jobs where id = %s",
                  (ids[4],)) == "RuntimeError: python failed 2"

    # Node: its schema check finds migration 20 and changes nothing; its worker runs new jobs.
    out = subprocess.run([graphile_worker_cli(), "--schema-only"], env=node_env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert [m["id"] for m in rows(db, STATE["migrations"])] == list(range(1, 21))
    node_job = int(_node(node_env, [{"identifier": "record", "payload": {"n": 9}}])[0]["id"])
    spawn(node_cmd("worker"), node_env, "node")
    wait_for(lambda: scalar(db, "select count(*) from public.executions where job_id = %s",
                            (node_job,)) == 1, 60, "the Node worker to run a new job")
    assert scalar(db, "select runner from public.executions where job_id = %s",
                  (node_job,)) == "node", log_of(tmp_path, "node")
