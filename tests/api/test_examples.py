"""The programs of examples/ run against the test's database and their jobs complete."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

from helpers import rows, scalar, wait_until

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example_env(dsn: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GW_RUNNER_")}
    env["DATABASE_URL"] = dsn
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_example(args: list[str], dsn: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=example_env(dsn),
        timeout=timeout, cwd=EXAMPLES.parent,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_fastapi_app_enqueues_in_the_request_transaction_and_its_worker_runs_the_jobs(
    db, dsn, monkeypatch
):
    from fastapi.testclient import TestClient

    monkeypatch.setenv("DATABASE_URL", dsn)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    spec = importlib.util.spec_from_file_location("fastapi_app_under_test",
                                                  EXAMPLES / "fastapi_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)

    with TestClient(module.app) as client:  # runs the lifespan: pool and worker start
        created = [client.post("/signups", json={"email": f"ada{i}@example.com"})
                   for i in range(2)]
        assert all(r.status_code == 201 for r in created), [r.text for r in created]
        assert client.post("/signups", json={"email": "nope"}).status_code == 422
        ids = [r.json()["id"] for r in created]
        deadline = time.monotonic() + 30
        while not all(client.get(f"/signups/{i}").json()["welcomed_at"] for i in ids):
            assert time.monotonic() < deadline, "welcome jobs not done within 30 s"
            time.sleep(0.05)
        health = client.get("/health")
        assert health.status_code == 200 and health.json()["ready"] is True
        # a job's handler has written welcomed_at before its success is reported (and
        # counted by the hooks): wait for the count, bounded
        succeeded = 'gw_jobs_succeeded_total{task="send_welcome"} 2.0'

        def counted() -> str | None:
            text = client.get("/metrics").text
            return text if succeeded in text else None

        metrics = wait_until(counted, 30, "the two successes to be counted")
        assert succeeded in metrics
        assert "gw_worker_up 1.0" in metrics
    # the lifespan's exit stopped the worker and closed the app's pool
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 0
    assert scalar(db, "select count(*) from signups where welcomed_at is not null") == 2
    # every connection was closed; a backend leaves pg_stat_activity a moment after its client
    # closed the connection, so wait for that (seconds at most) rather than read it at once
    wait_until(lambda: scalar(db, "select count(*) from pg_stat_activity where datname ="
                                  " current_database() and pid <> pg_backend_pid()") == 0,
               10, "the app's and the worker's connections to end")


def test_asyncio_program_runs_payload_class_jobs_and_stops(db, dsn):
    proc = run_example(["examples/asyncio_worker.py", "--until-done"], dsn)
    assert "10 jobs done; worker status 0" in proc.stdout, proc.stdout + proc.stderr
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 0
    assert "resized photo-4.jpg to 256 px" in proc.stderr


def test_sync_producer_enqueues_with_its_rows_and_the_cli_runs_the_jobs(db, dsn):
    out = run_example(["examples/sync_producer.py"], dsn).stdout
    assert "rolled back (payment declined): no order, no job" in out
    orders = rows(db, "select id, receipt_sent_at from orders order by id")
    assert len(orders) == 3  # the rolled-back order does not exist ...
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 3  # ... nor its job
    run_example(["-m", "gw_runner", "examples/sync_producer.py", "--once", "-c", dsn], dsn)
    assert scalar(db, "select count(*) from orders where receipt_sent_at is null") == 0
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 0


def test_make_run_examples_still_run(db, dsn):
    """examples/enqueue.py + examples/tasks.py (``make run``), drained with --once."""
    run_example(["examples/enqueue.py"], dsn)
    run_example(["-m", "gw_runner", "examples/tasks.py", "--once", "-c", dsn], dsn)
    left = {(r["task_identifier"], r["attempts"], r["max_attempts"]) for r in rows(
        db, "select task_identifier, attempts, max_attempts from graphile_worker.jobs")}
    # three emails sent; the bad address failed for good; flaky waits for its retry; the
    # report is scheduled 5 s ahead
    assert left == {("send_email", 25, 25), ("flaky_sync", 1, 5), ("nightly_report", 0, 25)}
