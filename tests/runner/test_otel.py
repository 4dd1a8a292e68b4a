"""OpenTelemetry tracing (--otel, enable_tracing): the enqueue spans of the Python API in this
process (an in-memory exporter), the process spans of the real runner (a subprocess whose task
file exports its spans to a JSON lines file), and the trace context carried by the job."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from helpers import RunnerProcess, run_cli, wait_until
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gw_runner import JobSpec, add_job, add_job_async, add_jobs, enable_tracing

TASKS = Path(__file__).resolve().parent / "tasks" / "otel_tasks.py"

class _Exporter(InMemorySpanExporter):
    """Keeps spans only during a test of this file: the provider stays installed in the
    pytest process (it can be set once), and other tests' spans must not pile up in it."""

    active = False

    def export(self, spans: Any) -> Any:
        return super().export(spans if self.active else [])


_EXPORTER = _Exporter()


def _span(span: ReadableSpan) -> dict[str, Any]:
    ctx = span.context
    assert ctx is not None
    return {
        "name": span.name, "kind": span.kind.name, "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}", "trace_flags": f"{ctx.trace_flags:02x}",
        "parent_id": f"{span.parent.span_id:016x}" if span.parent is not None else None,
        "attributes": dict(span.attributes or {}), "status": span.status.status_code.name,
    }


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """This process's spans: an SDK TracerProvider (set once per process) with an in-memory
    exporter, and enqueue tracing on for the test only."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        trace.set_tracer_provider(provider)
    _EXPORTER.clear()
    _EXPORTER.active = True
    enable_tracing()
    yield _EXPORTER
    enable_tracing(False)
    _EXPORTER.active = False
    _EXPORTER.clear()


def _traceparent(span: dict[str, Any]) -> str:
    """The flag that carries a span's context (a W3C traceparent)."""
    return f"traceparent:00-{span['trace_id']}-{span['span_id']}-{span['trace_flags']}"


def _flags(db: psycopg.Connection, job_id: int) -> dict[str, Any]:
    row = db.execute("select flags from graphile_worker.jobs where id = %s", (job_id,)).fetchone()
    assert row is not None
    return row[0] or {}


def test_enqueue_and_process_spans_are_linked_through_the_job(
    db: psycopg.Connection, dsn: str, spans: InMemorySpanExporter, tmp_path: Path,
    start_runner: Callable[..., RunnerProcess],
) -> None:
    tracer = trace.get_tracer("test")
    with psycopg.connect(dsn, autocommit=True) as conn:
        with tracer.start_as_current_span("request") as request:
            j1 = add_job(conn, "ok", {"child": True}, queue_name="q1")
            j2, j3 = add_jobs(conn, [JobSpec("sync_ok"), {"identifier": "bad", "max_attempts": 1,
                                                          "flags": ["mine"]}])
        with pytest.raises(TypeError):
            add_job(conn, "ok", flags="not-a-list")  # the usual checks, tracing or not

    async def enqueue_async() -> int:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as aconn:
            return (await add_job_async(aconn, "ok", {})).id

    j4 = asyncio.run(enqueue_async())
    j5 = db.execute("select id from graphile_worker.add_job('ok')").fetchone()[0]  # from SQL

    sent = [_span(s) for s in spans.get_finished_spans()]
    request_id = f"{request.get_span_context().span_id:016x}"
    one = next(s for s in sent if s["attributes"].get("messaging.message.id") == str(j1.id))
    [many] = [s for s in sent if s["name"] == "send"]
    for s in (one, many):
        assert s["kind"] == "PRODUCER"
        assert s["parent_id"] == request_id
        assert s["attributes"]["messaging.system"] == "graphile_worker"
        assert s["attributes"]["messaging.operation.type"] == "send"
    assert one["attributes"]["messaging.operation.name"] == "add_job"
    assert one["attributes"]["messaging.destination.name"] == "ok"
    assert one["attributes"]["messaging.message.id"] == str(j1.id)
    assert one["attributes"]["graphile_worker.job.queue_name"] == "q1"
    assert many["attributes"]["messaging.operation.name"] == "add_jobs"
    assert many["attributes"]["messaging.batch.message_count"] == 2
    assert "messaging.destination.name" not in many["attributes"]  # two tasks
    # a send span that failed: status ERROR, no job
    failed = [s for s in sent if s["status"] == "ERROR"]
    assert [s["attributes"]["error.type"] for s in failed] == ["TypeError"]
    # the creation context travels in a flag; a job's own flags stay
    assert _flags(db, j1.id) == {_traceparent(one): True}
    assert _flags(db, j3.id) == {"mine": True, _traceparent(many): True}
    assert j2.flags == {_traceparent(many): True}
    async_send = next(s for s in map(_span, spans.get_finished_spans())
                      if s["attributes"].get("messaging.message.id") == str(j4))
    assert len(spans.get_finished_spans()) == 5  # request, 2 sends, the failed one, async
    assert async_send["parent_id"] is None
    assert _flags(db, j5) == {}

    # the runner: one process span per attempt
    out = tmp_path / "spans.jsonl"
    runner = start_runner(str(TASKS), "-j", "2", "--otel", env={"GW_TEST_SPANS": str(out)})

    def processed() -> dict[str, dict[str, Any]] | None:
        if not out.exists():
            return None
        found = [json.loads(line) for line in out.read_text().splitlines()]
        by_job = {s["attributes"]["messaging.message.id"]: s for s in found
                  if s["name"].startswith("process ")}
        return {"all": found, **by_job} if len(by_job) == 7 else None  # 5 jobs + 2 leaves

    got = wait_until(processed, 30, "7 process spans in the runner's span file")
    assert runner.terminate() == 0
    p1 = got[str(j1.id)]
    assert p1["name"] == "process ok"
    assert p1["kind"] == "CONSUMER"
    assert p1["trace_id"] == one["trace_id"] and p1["parent_id"] == one["span_id"]
    assert p1["links"] == [{"trace_id": one["trace_id"], "span_id": one["span_id"]}]
    assert p1["status"] == "UNSET"
    attrs = p1["attributes"]
    assert attrs["messaging.system"] == "graphile_worker"
    assert attrs["messaging.operation.type"] == "process"
    assert attrs["messaging.destination.name"] == "ok"
    assert attrs["graphile_worker.job.attempt"] == 1
    assert attrs["graphile_worker.job.max_attempts"] == 25
    assert attrs["graphile_worker.job.queue_name"] == "q1"
    assert attrs["graphile_worker.job.outcome"] == "completed"
    for job in (j2, j3):
        assert got[str(job.id)]["parent_id"] == many["span_id"]
        assert got[str(job.id)]["trace_id"] == many["trace_id"]
    p3 = got[str(j3.id)]
    assert p3["status"] == "ERROR"
    assert p3["description"] == "ValueError: bad payload <script>"
    assert p3["attributes"]["error.type"] == "ValueError"
    assert p3["attributes"]["graphile_worker.job.outcome"] == "permanently_failed"
    assert [e["name"] for e in p3["events"]] == ["exception"]
    assert p3["events"][0]["attributes"]["exception.type"] == "ValueError"
    assert got[str(j4)]["parent_id"] == async_send["span_id"]
    # enqueued from SQL: the root of a new trace, no link
    p5 = got[str(j5)]
    assert p5["parent_id"] is None and p5["links"] == []
    assert p5["trace_id"] not in {one["trace_id"], many["trace_id"], async_send["trace_id"]}
    # ctx.add_job (async handler) and ctx.add_job_sync (sync handler, on its thread): the send
    # span is a child of the job's process span, and the leaf's process span of that send span
    for parent_job in (str(j1.id), str(j2.id)):
        process = got[parent_job]
        send = next(s for s in got["all"] if s["name"] == "send leaf"
                    and s["parent_id"] == process["span_id"])
        assert send["trace_id"] == process["trace_id"]
        leaf = next(s for s in got["all"] if s["name"] == "process leaf"
                    and s["parent_id"] == send["span_id"])
        assert leaf["attributes"]["graphile_worker.job.outcome"] == "completed"


def test_enqueue_without_tracing_adds_no_span_and_no_flag(
    db: psycopg.Connection, dsn: str, spans: InMemorySpanExporter
) -> None:
    enable_tracing(False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        job = add_job(conn, "ok", {})
    assert spans.get_finished_spans() == ()
    assert _flags(db, job.id) == {}


def test_otel_without_opentelemetry_is_a_usage_error(tmp_path: Path) -> None:
    """A real runner process whose `import opentelemetry` fails: exit status 2 and a message
    that names the extra to install."""
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'opentelemetry' or name.startswith('opentelemetry.'):\n"
        "            raise ImportError('hidden by the test')\n"
        "        return None\n"
        "sys.meta_path.insert(0, _Hide())\n"
    )
    tasks = tmp_path / "plain_tasks.py"
    tasks.write_text("from gw_runner import task\n\n@task\ndef ok(payload):\n    pass\n")
    done = run_cli(str(tasks), "-c", "dbname=nowhere", "--otel",
                   env={"PYTHONPATH": str(tmp_path)})
    assert done.returncode == 2, done.stderr
    assert "pip install 'gw_runner[otel]'" in done.stderr
