"""The actions (POST, only with ``actions=True``, each checked against forgery): retry, cancel,
delete and reschedule jobs on a selection or on every job matching a filter; pause and resume
tasks and queues; task limits and retention; run a cron item now. Each is one call of a
``graphile_worker`` function on the primary; what happened to each job is reported back."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import psycopg
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from . import _queries
from ._core import Dashboard, DashboardError, explain
from ._filters import JobFilter, parse_ids
from ._security import CSRF_COOKIE, CSRF_FIELD

CHUNK = 500
VERBS = {"retry": ("retried", "retry"), "cancel": ("cancelled", "cancel"),
         "delete": ("deleted", "delete"), "reschedule": ("rescheduled", "reschedule")}
MAX_DETAILS = 20


async def _form(request: Request) -> dict[str, list[str]]:
    body = await request.body()
    if len(body) > 1_000_000:
        raise DashboardError("the form is too large", status=413)
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


def _one(form: dict[str, list[str]], name: str) -> str:
    values = form.get(name) or [""]
    return values[-1]


async def _guard(request: Request) -> tuple[Dashboard, dict[str, list[str]]]:
    """The dashboard and the form of a genuine POST, else DashboardError (403)."""
    dash: Dashboard = request.app.state.dashboard
    if not dash.settings.actions:
        raise DashboardError("this dashboard is read-only: actions are off (start it with "
                             "--actions, or create_app(actions=True))", status=403)
    form = await _form(request)
    why = dash.csrf.check(request.cookies.get(CSRF_COOKIE), _one(form, CSRF_FIELD),
                          request.headers.get("origin"), request.headers.get("referer"),
                          request.headers.get("host"))
    if why:
        raise DashboardError(f"refused: {why}", status=403)
    return dash, form


def _back(dash: Dashboard, request: Request, form: dict[str, list[str]], default: str) -> str:
    base = dash.base(request)
    target = _one(form, "return")
    if not target.startswith(base + "/") or target.startswith("//") or "\\" in target:
        target = base + default
    return target


def _run_at(text: str) -> datetime:
    text = text.strip()
    if not text:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise DashboardError(f"run at must be a date and time like 2026-01-31T14:30 (UTC), "
                             f"not {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _summary(action: str, rows: list[dict[str, Any]], asked: int) -> tuple[str, str, list[str]]:
    done_word, verb = VERBS[action]
    done = sum(1 for r in rows if r["done"])
    left = [r for r in rows if not r["done"]]
    level = "ok" if not left else ("warning" if done else "error")
    message = f"{done_word.capitalize()} {done} of {asked} job{'s' if asked != 1 else ''}."
    details: list[str] = []
    if left:
        by_state = Counter(str(r["state"]) for r in left)
        message += " Not " + done_word + ": " + ", ".join(
            f"{n} {state}" for state, n in sorted(by_state.items())) + "."
        for r in left[:MAX_DETAILS]:
            details.append(f"job {r['job_id']}: {r['state']} (could not {verb} it)")
        if len(left) > MAX_DETAILS:
            details.append(f"and {len(left) - MAX_DETAILS} more")
    return level, message, details


async def _act(conn: psycopg.AsyncConnection[Any], action: str, ids: list[int],
               run_at: datetime | None) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"ids": ids, "run_at": run_at}
    return await _queries.fetch(conn, _queries.JOB_ACTIONS[action], params)


async def jobs_action(request: Request) -> Response:
    dash, form = await _guard(request)
    action = _one(form, "action")
    if action not in VERBS:
        raise DashboardError(f"action must be one of {', '.join(VERBS)}, not {action!r}")
    run_at = _run_at(_one(form, "run_at")) if action == "reschedule" else None
    scope = _one(form, "scope") or "selected"
    back = _back(dash, request, form, "/jobs")
    response = RedirectResponse(back, status_code=303)
    try:
        if scope == "selected":
            ids = parse_ids(form.get("id") or [])
            if not ids:
                return dash.flash(response, request, "warning",
                                  f"Nothing to {VERBS[action][1]}: no job was selected.")
            async with dash.writing() as conn:
                rows = []
                for start in range(0, len(ids), CHUNK):
                    rows += await _act(conn, action, ids[start:start + CHUNK], run_at)
            return dash.flash(response, request, *_summary(action, rows, len(ids)))
        if scope != "filter":
            raise DashboardError(f"scope must be selected or filter, not {scope!r}")
        flt = JobFilter.parse(form)
        if _one(form, "confirmed") != "yes":
            async with dash.writing() as conn:
                count = (await _queries.fetch(conn, _queries.COUNT_JOBS, flt.params()))[0]["n"]
            return await dash.render(request, "confirm.html", {
                "action": action, "verb": VERBS[action][1], "flt": flt, "count": count,
                "run_at": _one(form, "run_at"), "back": back})
        rows = await _act_on_filter(dash, action, flt, run_at)
        if not rows:
            return dash.flash(response, request, "warning",
                              f"No job matches {flt.describe()}: nothing to {VERBS[action][1]}.")
        return dash.flash(response, request, *_summary(action, rows, len(rows)))
    except psycopg.Error as exc:
        return dash.flash(response, request, "error", f"Nothing done: {explain(exc)}")


async def _act_on_filter(dash: Dashboard, action: str, flt: JobFilter,
                         run_at: datetime | None) -> list[dict[str, Any]]:
    """Walk the matching jobs by id (newest first, pages of CHUNK, on the primary) and act on
    each page; a job that changed meanwhile gets its row with ``done`` false and its state."""
    rows: list[dict[str, Any]] = []
    before: int | None = None
    async with dash.writing() as conn:
        while True:
            page = await _queries.fetch(conn, _queries.LIST_JOBS, {
                **flt.params(), "before_id": before, "max_rows": CHUNK})
            if not page:
                return rows
            ids = [r["id"] for r in page]
            rows += await _act(conn, action, ids, run_at)
            if len(page) < CHUNK:
                return rows
            before = ids[-1]


def _names(form: dict[str, list[str]], field: str) -> list[str]:
    names = [n for n in form.get(field) or [] if n != ""]
    if not names:
        raise DashboardError(f"{field} is missing: name the task or queue to act on")
    return names


def _int_or_none(form: dict[str, list[str]], field: str) -> int | None:
    text = _one(form, field).strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise DashboardError(f"{field.replace('_', ' ')} must be a whole number or empty, "
                             f"not {text!r}") from None


def _seconds(form: dict[str, list[str]], field: str) -> timedelta | None:
    text = _one(form, field).strip()
    if not text:
        return None
    try:
        return timedelta(seconds=float(text))
    except (ValueError, OverflowError):
        raise DashboardError(f"{field.replace('_', ' ')} must be a number of seconds, "
                             f"not {text!r}") from None


async def tasks_action(request: Request) -> Response:
    dash, form = await _guard(request)
    op = _one(form, "op")
    response = RedirectResponse(_back(dash, request, form, "/tasks"), status_code=303)
    try:
        async with dash.writing() as conn:
            if op in ("pause_tasks", "resume_tasks", "pause_queues", "resume_queues"):
                field = "task" if op.endswith("tasks") else "queue"
                names = _names(form, field)
                statement = getattr(_queries, op.upper())
                rows = await _queries.fetch(conn, statement, {"names": names})
                changed = rows[0]["changed"] or []
                verb = "Paused" if op.startswith("pause") else "Resumed"
                kind = field if len(names) == 1 else field + "s"
                if changed:
                    return dash.flash(response, request, "ok",
                                      f"{verb} {kind} {', '.join(changed)}.")
                return dash.flash(response, request, "warning",
                                  f"{kind.capitalize()} {', '.join(names)}: already "
                                  f"{verb.lower()}, nothing changed.")
            if op == "limits":
                task = _names(form, "task")[0]
                await _queries.fetch(conn, _queries.SET_TASK_LIMITS, {
                    "task": task, "max_running": _int_or_none(form, "max_running"),
                    "rate_limit": _int_or_none(form, "rate_limit"),
                    "rate_period": _seconds(form, "rate_period")})
                return dash.flash(response, request, "ok", f"Limits of task {task} set.")
            if op == "retention":
                keep_task = _one(form, "task") or None
                keep = _seconds(form, "keep")
                who = f"task {keep_task}" if keep_task else "the default"
                if keep is None:
                    rows = await _queries.fetch(conn, _queries.CLEAR_RETENTION,
                                                {"task": keep_task})
                    what = "cleared" if rows[0]["cleared"] else "had none: nothing changed"
                    return dash.flash(response, request, "ok", f"Retention of {who} {what}.")
                await _queries.fetch(conn, _queries.SET_RETENTION,
                                      {"task": keep_task, "keep": keep})
                return dash.flash(response, request, "ok", f"Retention of {who} set.")
    except psycopg.Error as exc:
        return dash.flash(response, request, "error", f"Nothing done: {explain(exc)}")
    raise DashboardError(f"unknown operation {op!r}")


async def cron_action(request: Request) -> Response:
    dash, form = await _guard(request)
    identifier = _one(form, "identifier")
    response = RedirectResponse(_back(dash, request, form, "/cron"), status_code=303)
    if not identifier:
        raise DashboardError("identifier is missing: name the cron item to run")
    try:
        async with dash.writing() as conn:
            rows = await _queries.fetch(conn, _queries.RUN_CRON_ITEM, {"identifier": identifier})
    except psycopg.Error as exc:
        return dash.flash(response, request, "error", f"Nothing done: {explain(exc)}")
    return dash.flash(response, request, "ok",
                      f"Cron item {identifier} enqueued now as job {rows[0]['job_id']}.")
