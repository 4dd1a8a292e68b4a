"""The runner's Prometheus endpoint (--metrics-port): the real runner as a subprocess, scraped
over HTTP."""

from __future__ import annotations

import asyncio
import re
import socket
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from helpers import RunnerProcess, run, run_cli, wait_until
from prometheus_client.parser import text_string_to_metric_families

TASKS = Path(__file__).resolve().parent / "tasks" / "metrics_tasks.py"
P = "graphile_worker_"


def metrics_port(runner: RunnerProcess, timeout: float = 30) -> int:
    found = wait_until(
        lambda: re.search(r"metrics endpoint on http://127\.0\.0\.1:(\d+)/metrics",
                          runner.alive_log()),
        timeout, "the metrics endpoint's address in the log",
    )
    return int(found.group(1))


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample: (name, sorted labels) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def admin_role(db: psycopg.Connection) -> Iterator[str]:
    """A login role of the admin level (queue_stats), dropped afterwards."""
    name = f"gw_metrics_{uuid.uuid4().hex[:8]}"
    db.execute(f'create role "{name}" login')
    db.execute("select graphile_worker.grant_role(%s, 'admin')", (name,))
    yield name
    db.execute(f'drop owned by "{name}"')
    db.execute(f'drop role "{name}"')


def test_metrics_count_outcomes_and_show_queue_stats(
    db: psycopg.Connection, dsn: str, admin_role: str, start_runner: Callable[..., RunnerProcess]
) -> None:
    def add(task: str, **kw: object) -> int:
        sql = ("select id from graphile_worker.add_job(%s, '{}', queue_name => %s, "
               "max_attempts => %s, run_at => now() - %s::interval)")
        row = db.execute(sql, (task, kw.get("queue"), kw.get("max_attempts"),
                               kw.get("ago", "0 s"))).fetchone()
        assert row is not None
        return int(row[0])

    for _ in range(3):
        add("ok")
    add("later")
    add("fatal")
    add("boom", max_attempts=1)
    # jobs of a task the runner does not have: they wait, the oldest for an hour
    add("other", queue="q1", ago="1 hour")
    add("other", queue="q1", ago="1 minute")
    slow = add("slow")

    runner = start_runner(str(TASKS), "-j", "4", "--metrics-port", "0",
                          "--metrics-stats-interval", "0.2",
                          connection=f"{dsn} user={admin_role}")
    port = metrics_port(runner)

    def settled() -> dict | None:
        s = scrape(port)
        done = (value(s, P + "jobs_succeeded_total", task="ok") == 3
                and value(s, P + "jobs_permanently_failed_total", task="boom") == 1
                and value(s, P + "busy_slots") == 1
                and value(s, P + "queue_jobs", task="other", queue="q1", state="waiting") == 2
                # queue_stats() is read at most every 0.2 s: wait for one after the reports
                and value(s, P + "queue_jobs", task="later", queue="", state="scheduled") == 1
                and value(s, P + "queue_jobs", task="fatal", queue="", state="failed") == 1
                and value(s, P + "queue_jobs", task="boom", queue="", state="failed") == 1)
        return s if done else None

    s = wait_until(settled, 15, "the outcomes of the quick jobs in the metrics")
    assert value(s, P + "jobs_started_total", task="ok") == 3
    assert value(s, P + "jobs_failed_total", task="ok") is None
    assert value(s, P + "jobs_started_total", task="later") == 1
    assert value(s, P + "jobs_failed_total", task="later") == 1
    assert value(s, P + "jobs_permanently_failed_total", task="later") is None
    assert value(s, P + "jobs_failed_total", task="fatal") == 1
    assert value(s, P + "jobs_permanently_failed_total", task="fatal") == 1
    assert value(s, P + "jobs_failed_total", task="boom") == 1
    assert value(s, P + "jobs_started_total", task="slow") == 1
    assert value(s, P + "slots") == 4
    assert value(s, P + "local_queue_jobs") == 0
    # the job duration histogram: 3 successes of ok, each of at least 10 ms
    hist = P + "job_duration_seconds"
    assert value(s, hist + "_count", task="ok", outcome="succeeded") == 3
    assert value(s, hist + "_bucket", task="ok", outcome="succeeded", le="+Inf") == 3
    assert value(s, hist + "_bucket", task="ok", outcome="succeeded", le="0.005") == 0
    assert value(s, hist + "_sum", task="ok", outcome="succeeded") >= 0.03
    assert value(s, hist + "_count", task="fatal", outcome="failed") == 1
    # claims and reports: one observation per round trip, at least one of each
    for name in ("claim_duration_seconds", "report_duration_seconds"):
        count = value(s, P + name + "_count")
        assert count is not None and count >= 1
        assert value(s, P + name + "_bucket", le="+Inf") == count
    # the queue gauges, from queue_stats()
    assert value(s, P + "queue_stats_up") == 1
    assert value(s, P + "queue_stats_errors_total") == 0
    assert value(s, P + "queue_oldest_waiting_age_seconds", task="other", queue="q1") >= 3600
    assert value(s, P + "queue_jobs", task="later", queue="", state="scheduled") == 1
    assert value(s, P + "queue_retrying_jobs", task="later", queue="") == 1
    assert value(s, P + "queue_jobs", task="fatal", queue="", state="failed") == 1
    assert value(s, P + "queue_jobs", task="slow", queue="", state="running") == 1
    assert value(s, "process_resident_memory_bytes") > 0

    # cancel the running job: counted as cancelled, with its duration
    db.execute("select * from graphile_worker.cancel_jobs(array[%s]::bigint[])", (slow,))
    s = wait_until(
        lambda: (lambda s: s if value(s, P + "jobs_cancelled_total", task="slow") == 1
                 else None)(scrape(port)),
        15, "the cancelled job in the metrics",
    )
    assert value(s, hist + "_count", task="slow", outcome="cancelled") == 1
    assert value(s, P + "jobs_failed_total", task="slow") is None
    assert value(s, P + "busy_slots") == 0

    # queue_stats() refused from now on: the scrape still works, with the last values
    db.execute(f'revoke execute on function graphile_worker.queue_stats(timestamptz) '
               f'from "{admin_role}"')
    s = wait_until(
        lambda: (lambda s: s if value(s, P + "queue_stats_up") == 0 else None)(scrape(port)),
        15, "queue_stats_up 0 after the revoke",
    )
    assert value(s, P + "queue_stats_errors_total") >= 1
    assert value(s, P + "queue_jobs", task="other", queue="q1", state="waiting") == 2
    assert value(s, P + "queue_stats_age_seconds") >= 0
    runner.wait_for_log("cannot call graphile_worker.queue_stats")
    assert value(scrape(port), P + "queue_stats_errors_total") >= 1
    assert runner.terminate() == 0


def test_metrics_port_without_prometheus_client_is_a_usage_error(tmp_path: Path) -> None:
    """A real runner process whose `import prometheus_client` fails (a sitecustomize hides
    it): exit status 2 and a message that names the extra to install."""
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'prometheus_client' or name.startswith('prometheus_client.'):\n"
        "            raise ImportError('hidden by the test')\n"
        "        return None\n"
        "sys.meta_path.insert(0, _Hide())\n"
    )
    done = run_cli(str(TASKS), "-c", "dbname=nowhere", "--metrics-port", "0",
                   env={"PYTHONPATH": str(tmp_path)})
    assert done.returncode == 2, done.stderr
    assert "pip install 'gw_runner[metrics]'" in done.stderr
    assert "prometheus_client" in done.stderr


@pytest.mark.parametrize(("args", "named"), [
    (("--metrics-port", "70000"), "--metrics-port"),
    (("--metrics-port", "x"), "--metrics-port"),
    (("--metrics-port", "0", "--metrics-host", " "), "--metrics-host"),
    (("--metrics-port", "0", "--metrics-stats-interval", "-1"), "--metrics-stats-interval"),
])
def test_bad_metrics_options_are_usage_errors(args: tuple[str, ...], named: str) -> None:
    done = run_cli(str(TASKS), "-c", "dbname=nowhere", *args)
    assert done.returncode == 2
    assert named in done.stderr


def test_metrics_port_in_use_ends_the_runner_with_status_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli(str(TASKS), "-c", "dbname=nowhere", "--metrics-port", str(port))
    assert done.returncode == 1, done.stderr
    assert f"cannot serve the metrics endpoint on 127.0.0.1:{port}" in done.stderr


def test_worker_embedded_with_a_pool_serves_metrics(db: psycopg.Connection, dsn: str) -> None:
    """The library API: Worker(metrics_port=0) on the caller's pool; worker.metrics_port is
    the bound port, queue_stats() is read with the pool's conninfo, and the endpoint is gone
    once the worker has stopped."""
    from psycopg_pool import AsyncConnectionPool

    from gw_runner import Worker, task

    @task
    async def embedded_ok(payload: object) -> None:
        return None

    db.execute("select graphile_worker.add_job('embedded_ok')")
    db.execute("select graphile_worker.add_job('elsewhere')")

    async def main() -> tuple[dict, int]:
        async with AsyncConnectionPool(dsn, open=False, min_size=1, max_size=4) as pool:
            async with Worker([embedded_ok], connection=pool, metrics_port=0,
                              metrics_stats_interval=0.1) as worker:
                port = worker.metrics_port
                assert port
                loop = asyncio.get_running_loop()

                def done() -> dict | None:
                    s = scrape(port)
                    return s if value(s, P + "jobs_succeeded_total", task="embedded_ok") == 1 \
                        else None

                s = await loop.run_in_executor(
                    None, lambda: wait_until(done, 15, "the embedded job in the metrics"))
        return s, port

    s, port = run(main())
    assert value(s, P + "queue_jobs", task="elsewhere", queue="", state="waiting") == 1
    assert value(s, P + "slots") == 1
    with pytest.raises(OSError):
        scrape(port)
