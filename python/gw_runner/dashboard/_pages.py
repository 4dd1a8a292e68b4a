"""The pages (GET): overview, jobs, job, tasks and queues, workers, cron; and the event stream.
Every read goes to the read pool (a standby when ``read_dsn`` is given)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from . import _queries
from ._core import Dashboard, DashboardError, log
from ._filters import JobFilter, _id

CHART_MINUTES = 60
CHART_TTL = 5.0  # per-minute bars: a few seconds old is fresh enough
COUNTS = ("waiting", "scheduled", "running", "retrying", "permanently_failed")
COUNTS_WAIT = 0.1  # a page waits this long for counts it does not have yet, then goes without


def _counts(rows: list[dict[str, Any]]) -> object:
    """What of queue_stats() a page shows but the ages (which grow by themselves): when it
    changes between two reads, open pages refresh."""
    return [(r["task_identifier"], r["queue_name"], *(r[n] for n in COUNTS)) for r in rows]


async def _queue_stats(dash: Dashboard, now: datetime
                       ) -> tuple[list[dict[str, Any]] | None, datetime | None]:
    """queue_stats() as shared between requests (Dashboard.shared: at most a few seconds old
    while pages are open), with the oldest waiting ages brought forward to ``now``; and when
    the counts were read. None when there are no counts yet and the read takes longer than
    COUNTS_WAIT: the page is shown without them and fetches itself again shortly."""
    try:
        rows = await dash.shared_read(_queries.QUEUE_STATS, signature=_counts, wait=COUNTS_WAIT)
    except TimeoutError:
        return None, None
    read_at = dash.read_at(_queries.QUEUE_STATS)
    late = max(now - read_at, timedelta(0)) if read_at is not None else timedelta(0)
    return [dict(r, oldest_waiting_age=r["oldest_waiting_age"] + late)
            if r["oldest_waiting_age"] is not None else r for r in rows], read_at


async def warm(dash: Dashboard) -> None:
    """Read the shared counts once (at start); a failure is only logged: pages show it."""
    try:
        await dash.shared_read(_queries.QUEUE_STATS, signature=_counts)
    except Exception as exc:  # pages show it
        log.warning("dashboard: could not read queue_stats() at start: %s", exc)


def _get(request: Request) -> dict[str, list[str]]:
    return parse_qs(request.url.query, keep_blank_values=False)


async def _paused(dash: Dashboard) -> tuple[dict[tuple[str, str], dict[str, Any]], str | None]:
    rows, why = await dash.optional_read(_queries.FLOW_CONTROLS)
    return {(r["kind"], r["name"]): r for r in rows}, why


def _chart(rows: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """Bars for the last hour: one per minute, completed above failed (inline SVG)."""
    end = now.replace(second=0, microsecond=0)
    by_minute = {r["minute"].astimezone(UTC).replace(second=0, microsecond=0): r for r in rows}
    bars: list[dict[str, Any]] = []
    peak = 1
    for i in range(CHART_MINUTES):
        minute = end - timedelta(minutes=CHART_MINUTES - 1 - i)
        row = by_minute.get(minute, {})
        completed = int(row.get("completed") or 0)
        failed = int(row.get("failed") or 0)
        peak = max(peak, completed + failed)
        bars.append({"minute": minute, "completed": completed, "failed": failed})
    height = 100.0
    for bar in bars:
        bar["h_completed"] = round(height * bar["completed"] / peak, 2)
        bar["h_failed"] = round(height * bar["failed"] / peak, 2)
    return {"bars": bars, "peak": peak, "height": height,
            "total_completed": sum(b["completed"] for b in bars),
            "total_failed": sum(b["failed"] for b in bars)}


async def _finished_per_minute(dash: Dashboard, now: datetime) -> list[dict[str, Any]]:
    """Completed and failed jobs per minute over the last hour (finished_per_minute(): the
    finished-jobs store through its finished_at index)."""
    return await dash.read(_queries.FINISHED_PER_MINUTE,
                           {"since": now - timedelta(minutes=CHART_MINUTES)})


async def overview(request: Request) -> Response:
    dash: Dashboard = request.app.state.dashboard
    now = datetime.now(UTC)
    # concurrently, each on a connection of its own: the page takes as long as the slowest
    ((read, read_at), workers, (controls, _), minutes) = await asyncio.gather(
        _queue_stats(dash, now), dash.read(_queries.WORKER_STATS),
        _paused(dash),
        dash.shared("chart", lambda: _finished_per_minute(dash, now), ttl=CHART_TTL))
    stats = read or []
    totals = {name: sum(int(r[name]) for r in stats) for name in COUNTS}
    oldest = max((r["oldest_waiting_age"] for r in stats if r["oldest_waiting_age"] is not None),
                 default=None)
    by_task: dict[str, dict[str, Any]] = defaultdict(lambda: dict.fromkeys(COUNTS, 0))
    for r in stats:
        agg = by_task[r["task_identifier"]]
        for name in COUNTS:
            agg[name] += int(r[name])
        age = r["oldest_waiting_age"]
        if age is not None and (agg.get("oldest") is None or age > agg["oldest"]):
            agg["oldest"] = age
    return await dash.render(request, "overview.html", {
        "stats": stats, "totals": totals, "oldest": oldest, "read_at": read_at,
        "counting": read is None,
        "by_task": sorted(by_task.items()), "controls": controls,
        "workers_alive": sum(1 for w in workers if w["alive"]),
        "workers_total": len(workers),
        "workers_unregistered": sum(1 for w in workers if not w["registered"]),
        "chart": _chart(minutes, now),
    })


async def jobs(request: Request) -> Response:
    dash: Dashboard = request.app.state.dashboard
    get = _get(request)
    search = (get.get("q") or [""])[-1].strip()
    if search:
        base = dash.base(request)
        if search.isascii() and search.isdigit():
            return RedirectResponse(f"{base}/jobs/{int(search)}", status_code=303)
        return RedirectResponse(f"{base}/jobs?{JobFilter(key=search).query()}", status_code=303)
    flt = JobFilter.parse(get)
    before = _id("before", (get.get("before") or [""])[-1])
    limit_raw = (get.get("limit") or [str(dash.settings.page_size)])[-1]
    if not (limit_raw.isascii() and limit_raw.isdigit()) or not 1 <= int(limit_raw) <= 1000:
        raise DashboardError(f"limit must be a whole number from 1 to 1000, not {limit_raw!r}")
    limit = int(limit_raw)
    rows = await dash.read(_queries.LIST_JOBS, {**flt.params(), "before_id": before,
                                                "max_rows": limit + 1})
    more = len(rows) > limit
    rows = rows[:limit]
    next_before = rows[-1]["id"] if more and rows else None
    return await dash.render(request, "jobs.html", {
        "rows": rows, "flt": flt, "before": before, "limit": limit,
        "next_query": flt.query(before=next_before, limit=limit if limit != 50 else None)
        if next_before else None,
        "first_query": flt.query(limit=limit if limit != 50 else None),
    })


async def job(request: Request) -> Response:
    dash: Dashboard = request.app.state.dashboard
    job_id = _id("job id", request.path_params["job_id"])
    rows = await dash.read(_queries.JOB_DETAIL, {"id": job_id})
    if not rows:
        return await dash.render(request, "job.html", {"job": None, "job_id": job_id},
                                 status=404)
    return await dash.render(request, "job.html", {"job": rows[0], "job_id": job_id})


async def tasks(request: Request) -> Response:
    dash: Dashboard = request.app.state.dashboard
    ((read, read_at), (controls, controls_missing), (retention, retention_missing)
     ) = await asyncio.gather(
        _queue_stats(dash, datetime.now(UTC)), _paused(dash),
        dash.optional_read(_queries.RETENTION_SETTINGS))
    stats = read or []
    task_rows: dict[str, dict[str, Any]] = {}
    queue_rows: dict[str, dict[str, Any]] = {}
    for r in stats:
        t = task_rows.setdefault(r["task_identifier"], dict.fromkeys(COUNTS, 0))
        for name in COUNTS:
            t[name] += int(r[name])
        if r["queue_name"] is not None:
            q = queue_rows.setdefault(r["queue_name"], dict.fromkeys(COUNTS, 0))
            for name in COUNTS:
                q[name] += int(r[name])
    for (kind, name) in controls:
        (task_rows if kind == "task" else queue_rows).setdefault(name, dict.fromkeys(COUNTS, 0))
    keep = {r["task_identifier"]: r for r in retention}
    for name in keep:
        if name is not None:
            task_rows.setdefault(name, dict.fromkeys(COUNTS, 0))
    return await dash.render(request, "tasks.html", {
        "task_rows": sorted(task_rows.items()), "queue_rows": sorted(queue_rows.items()),
        "read_at": read_at, "counting": read is None,
        "controls": controls, "controls_missing": controls_missing,
        "retention": keep, "retention_missing": retention_missing,
    })


async def workers(request: Request) -> Response:
    dash: Dashboard = request.app.state.dashboard
    rows = await dash.read(_queries.WORKER_STATS)
    return await dash.render(request, "workers.html", {"rows": rows})


async def cron(request: Request) -> Response:
    dash: Dashboard = request.app.state.dashboard
    rows, missing = await dash.optional_read(_queries.CRON_ITEMS)
    return await dash.render(request, "cron.html", {"rows": rows, "missing": missing})


async def storage(request: Request) -> Response:
    dash: Dashboard = request.app.state.dashboard
    rows, missing = await dash.optional_read(_queries.STORAGE_STATS)
    return await dash.render(request, "storage.html", {"rows": rows, "missing": missing})


async def events(request: Request) -> Response:
    dash: Dashboard = request.app.state.dashboard
    return StreamingResponse(dash.hub.stream(), media_type="text/event-stream",
                             headers={"x-accel-buffering": "no"})
