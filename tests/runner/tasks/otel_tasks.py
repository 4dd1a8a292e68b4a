"""Tasks of tests/runner/test_otel.py. Importing this file installs an OpenTelemetry SDK
TracerProvider whose exporter writes each finished span as one JSON line to $GW_TEST_SPANS,
as an application would configure its own exporter in its task file."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from gw_runner import JobContext, task

SPANS = os.environ["GW_TEST_SPANS"]


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """A finished span as plain JSON (ids as 32/16 hex digits)."""
    ctx = span.context
    assert ctx is not None
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "parent_id": f"{span.parent.span_id:016x}" if span.parent is not None else None,
        "attributes": dict(span.attributes or {}),
        "status": span.status.status_code.name,
        "description": span.status.description,
        "events": [{"name": e.name, "attributes": dict(e.attributes or {})} for e in span.events],
        "links": [{"trace_id": f"{link.context.trace_id:032x}",
                   "span_id": f"{link.context.span_id:016x}"} for link in span.links],
    }


class JsonLinesExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with open(SPANS, "a") as out:
            for span in spans:
                out.write(json.dumps(span_record(span)) + "\n")
        return SpanExportResult.SUCCESS


provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter()))
trace.set_tracer_provider(provider)


@task
async def ok(payload: Any, ctx: JobContext) -> None:
    if payload.get("child"):
        await ctx.add_job("leaf", {"from": ctx.job_id})


@task
def sync_ok(payload: Any, ctx: JobContext) -> None:
    ctx.add_job_sync("leaf", {"from": ctx.job_id})


@task
def bad(payload: Any, ctx: JobContext) -> None:
    raise ValueError("bad payload <script>")


@task
async def leaf(payload: Any, ctx: JobContext) -> None:
    return None
