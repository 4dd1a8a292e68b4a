"""The commands of gw-admin: each reads its arguments, makes one or more calls of the
gw_runner operations API (each one call of a graphile_worker SQL function) and prints the
answer. Exit codes are those of :mod:`gw_runner.admin._cli`."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, TextIO

import psycopg

from .. import _flow, _ops
from ._output import cell, clean, fmt_bytes, table, to_json

EXIT_OK = 0
EXIT_NOT_ALL = 1
EXIT_USAGE = 2
EXIT_DATABASE = 3

#: ids gathered per list_jobs page, and acted on per call
CHUNK = 1000
#: per-id results printed as a table up to this many (all with --json)
TABLE_LIMIT = 100


class UsageError(Exception):
    """A malformed option or argument: exit 2 with this message (it names the option)."""


# --- parsing option values -------------------------------------------------------------------

_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, option: str) -> timedelta:
    """``90``, ``30s``, ``10m``, ``2h``, ``7d``, ``1w``, ``1d12h`` -> timedelta."""
    raw = text.strip()
    try:
        if re.fullmatch(r"\d+(\.\d+)?", raw):
            return timedelta(seconds=float(raw))
        if raw and _PART.sub("", raw) == "":
            return timedelta(seconds=sum(float(n) * _UNIT[u] for n, u in _PART.findall(raw)))
    except OverflowError:
        pass
    raise UsageError(f"{option}: {clean(text)!r} is not a duration (write e.g. 30s, 10m, 2h, "
                     "7d, 1w, 1d12h, or seconds)")


def parse_time(text: str, option: str) -> datetime:
    """``now``, or an ISO 8601 time (``2026-12-24T08:00:00Z``; without an offset: this
    machine's time zone)."""
    if text.strip().lower() == "now":
        return datetime.now().astimezone()
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{option}: {clean(text)!r} is not a time (write ISO 8601, e.g. "
                         "2026-12-24T08:00:00Z, or now)") from None
    return value if value.tzinfo is not None else value.astimezone()


# --- shared helpers ----------------------------------------------------------------------------


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    if args.min_id is not None and args.max_id is not None and args.min_id > args.max_id:
        raise UsageError(f"--min-id {args.min_id} is above --max-id {args.max_id}")
    return {"states": args.state, "task_identifiers": args.task, "queue_names": args.queue,
            "job_key": args.key, "min_id": args.min_id, "max_id": args.max_id}


def _has_filter(args: argparse.Namespace) -> bool:
    return any(v is not None for v in _filters(args).values())


def _describe(filters: dict[str, Any]) -> str:
    names = {"states": "state", "task_identifiers": "task", "queue_names": "queue",
             "job_key": "key", "min_id": "min id", "max_id": "max id"}
    parts = [f"{names[k]} {', '.join(map(str, v)) if isinstance(v, list) else v}"
             for k, v in filters.items() if v is not None]
    return clean("; ".join(parts)) if parts else "every job"


def _pages(conn: psycopg.Connection[Any], filters: dict[str, Any]) -> Iterator[list[int]]:
    """The ids matching the filters, newest first, a page of CHUNK at a time."""
    before = None
    while True:
        page = _ops.list_jobs(conn, **filters, before_id=before, max_rows=CHUNK)
        if not page:
            return
        yield [row.id for row in page]
        if len(page) < CHUNK:
            return
        before = page[-1].id


def _confirm(out: TextIO, question: str) -> bool:
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


# --- jobs ---------------------------------------------------------------------------------------

_JOB_HEADERS = ("ID", "TASK", "QUEUE", "STATE", "ATTEMPTS", "RUN AT", "FINISHED", "KEY",
                "LAST ERROR")


def jobs_list(conn: psycopg.Connection[Any], args: argparse.Namespace, out: TextIO) -> int:
    page = _ops.list_jobs(conn, **_filters(args), before_id=args.before, max_rows=args.limit)
    if args.json:
        print(to_json(page), file=out)
        return EXIT_OK
    if not page:
        print(f"no jobs match ({_describe(_filters(args))})", file=out)
        return EXIT_OK
    print(table(_JOB_HEADERS, [
        (r.id, r.task_identifier, r.queue_name, r.state, f"{r.attempts}/{r.max_attempts}",
         r.run_at, r.finished_at, r.key, r.last_error) for r in page]), file=out)
    if len(page) == args.limit:
        print(f"(more may follow: --before {page[-1].id})", file=out)
    return EXIT_OK


def jobs_count(conn: psycopg.Connection[Any], args: argparse.Namespace, out: TextIO) -> int:
    n = _ops.count_jobs(conn, **_filters(args))
    print(to_json({"count": n}) if args.json else n, file=out)
    return EXIT_OK


def jobs_show(conn: psycopg.Connection[Any], args: argparse.Namespace, out: TextIO) -> int:
    detail = _ops.job_detail(conn, args.id)
    if args.json:
        print(to_json(detail), file=out)
        return EXIT_OK
    if detail is None:
        print(f"no job {args.id} (not in the jobs table nor in the finished-jobs store)",
              file=out)
        return EXIT_OK
    d = detail
    fields = [
        ("state", d.state), ("task", d.task_identifier), ("queue", d.queue_name),
        ("attempts", f"{d.attempts}/{d.max_attempts}"), ("priority", d.priority),
        ("key", d.key), ("run at", d.run_at), ("created", d.created_at),
        ("first started", d.first_started_at), ("finished", d.finished_at),
        ("locked by", d.locked_by), ("locked at", d.locked_at), ("worker", d.worker_id),
        ("flags", d.flags), ("last error", d.last_error), ("result note", d.result_note),
        ("kept until", d.expires_at),
    ]
    print(f"job {d.id}", file=out)
    for name, value in fields:
        print(f"  {name:<14}{cell(value)}", file=out)
    print("payload:", file=out)
    print("  " + cell(d.payload), file=out)
    if d.result is not None:
        print("result:", file=out)
        print("  " + cell(d.result), file=out)
    print(f"attempts with errors ({len(d.errors)} recorded):", file=out)
    for entry in d.errors:
        e = {k: _when(v) for k, v in entry.items()} if isinstance(entry, dict) else {
            "error": entry}
        print(f"  #{cell(e.get('attempt'))} started {cell(e.get('started_at'))} failed "
              f"{cell(e.get('failed_at'))} worker {cell(e.get('worker_id'))}", file=out)
        print(f"    {cell(e.get('error'))}", file=out)
    return EXIT_OK


def _when(value: object) -> object:
    """An ISO 8601 time of a JSON document as a datetime (shown like the others)."""
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def _act(conn: psycopg.Connection[Any], ids: list[int], verb: str, run_at: datetime | None
         ) -> list[tuple[int, bool, str, int | None]]:
    if verb == "cancel":
        return [(r.job_id or 0, r.cancelled, r.state, None) for r in _flow.cancel_jobs(conn, ids)]
    if verb == "retry":
        results = _ops.retry_jobs(conn, ids)
    elif verb == "delete":
        results = _ops.delete_jobs(conn, ids)
    else:
        assert run_at is not None
        results = _ops.run_jobs_at(conn, ids, run_at)
    return [(r.job_id, r.done, r.state, r.new_job_id) for r in results]


_DONE = {"retry": "retried", "cancel": "cancelled", "delete": "deleted",
         "reschedule": "rescheduled"}


def jobs_action(conn: psycopg.Connection[Any], args: argparse.Namespace, out: TextIO) -> int:
    verb: str = args.verb
    run_at = None
    if verb == "reschedule":
        if (args.at is None) == (args.in_ is None):
            raise UsageError("jobs reschedule: give exactly one of --at TIME and --in DURATION")
        run_at = (parse_time(args.at, "--at") if args.at is not None
                  else datetime.now().astimezone() + parse_duration(args.in_, "--in"))
    if args.ids and args.all_matching:
        raise UsageError(f"jobs {verb}: give job ids or --all-matching with filters, not both")
    if not args.ids and not args.all_matching:
        raise UsageError(f"jobs {verb}: give job ids, or --all-matching with filters "
                         "(--state, --task, --queue, --key, --min-id, --max-id)")
    if args.ids and _has_filter(args):
        raise UsageError(f"jobs {verb}: the filters (--state, --task, ...) need --all-matching")
    filters = _filters(args)
    what = f"{len(set(args.ids))} job(s)" if args.ids else None
    if what is None:
        n = _ops.count_jobs(conn, **filters)
        if n == 0:
            print(f"no jobs match ({_describe(filters)}): nothing to {verb}", file=sys.stderr)
            if args.json:
                print("[]", file=out)
            return EXIT_OK
        what = f"{n} job(s) matching {_describe(filters)}"
    when = f" to run at {cell(run_at)}" if run_at is not None else ""
    print(f"{verb}: {what}{when}", file=sys.stderr)
    if not args.yes and not _confirm(out, f"{verb.capitalize()} {what}?"):
        print("nothing done", file=sys.stderr)
        return EXIT_NOT_ALL
    chunks: Iterator[list[int]] | list[list[int]]
    if args.ids:
        unique = list(dict.fromkeys(args.ids))
        chunks = [unique[i:i + CHUNK] for i in range(0, len(unique), CHUNK)]
    else:
        chunks = list(_pages(conn, filters))  # gathered first: an action moves jobs
    results: list[tuple[int, bool, str, int | None]] = []
    for chunk in chunks:
        results += _act(conn, chunk, verb, run_at)
    return _report(results, verb, args, out)


def _report(results: list[tuple[int, bool, str, int | None]], verb: str,
            args: argparse.Namespace, out: TextIO) -> int:
    done = sum(1 for r in results if r[1])
    if args.json:
        print(to_json([{"job_id": r[0], _DONE[verb]: r[1], "state": r[2]}
                       | ({"new_job_id": r[3]} if verb == "retry" else {})
                       for r in results]), file=out)
    else:
        if len(results) <= TABLE_LIMIT:
            headers: tuple[str, ...] = ("ID", _DONE[verb].upper(), "STATE WAS")
            rows: list[Sequence[object]] = [r[:3] for r in results]
            if verb == "retry":
                headers += ("NEW JOB",)
                rows = [r[:4] for r in results]
            print(table(headers, rows), file=out)
        left: dict[str, int] = {}
        for r in results:
            if not r[1]:
                left[r[2]] = left.get(r[2], 0) + 1
        tail = "; not " + _DONE[verb] + ": " + ", ".join(
            f"{n} {state}" for state, n in sorted(left.items())) if left else ""
        print(f"{_DONE[verb]} {done} of {len(results)}{tail}", file=out)
    return EXIT_OK if done == len(results) else EXIT_NOT_ALL


# --- tasks, queues, controls ---------------------------------------------------------------------


def pause_resume(conn: psycopg.Connection[Any], args: argparse.Namespace, out: TextIO) -> int:
    calls: dict[tuple[str, str], Callable[[psycopg.Connection[Any], list[str]], list[str]]] = {
        ("tasks", "pause"): _flow.pause_tasks, ("tasks", "resume"): _flow.resume_tasks,
        ("queues", "pause"): _flow.pause_queues, ("queues", "resume"): _flow.resume_queues,
    }
    changed = calls[(args.noun, args.verb)](conn, args.names)
    if args.json:
        print(to_json({"changed": changed}), file=out)
        return EXIT_OK
    past = "paused" if args.verb == "pause" else "resumed"
    same = [n for n in args.names if n not in changed]
    if changed:
        print(f"{past}: {', '.join(clean(n) for n in changed)}", file=out)
    if same:
        print(f"already {past}: {', '.join(clean(n) for n in same)}", file=out)
    return EXIT_OK


def task_limits(conn: psycopg.Connection[Any], args: argparse.Namespace, out: TextIO) -> int:
    given = [args.max_running, args.rate_limit, args.rate_period]
    if args.clear and any(v is not None for v in given):
        raise UsageError("tasks limits: --clear takes no other limit option")
    if not args.clear and all(v is None for v in given):
        raise UsageError("tasks limits: give --max-running, --rate-limit with --rate-period, "
                         "or --clear")
    period = None if args.rate_period is None else parse_duration(args.rate_period,
                                                                   "--rate-period")
    _flow.set_task_limits(conn, args.task, max_running=args.max_running,
                          rate_limit=args.rate_limit, rate_period=period)
    print(f"limits of {clean(args.task)}: " + ("none" if args.clear else ", ".join(
        p for p in (f"max running {args.max_running}" if args.max_running else "",
                    f"{args.rate_limit} starts per {cell(period)}" if args.rate_limit else "")
        if p)), file=out)
    return EXIT_OK


def task_retention(conn: psycopg.Connection[Any], args: argparse.Namespace, out: TextIO) -> int:
    if args.task is not None and args.default:
        raise UsageError("tasks retention: give a TASK or --default, not both")
    target = None if args.default else args.task
    if args.keep is not None and args.clear:
        raise UsageError("tasks retention: give --keep or --clear, not both")
    if args.keep is None and not args.clear:
        if args.task is not None or args.default:
            raise UsageError("tasks retention: with a TASK or --default, give --keep DURATION "
                             "or --clear (without them it lists the settings)")
        settings = _ops.retention_settings(conn)
        if args.json:
            print(to_json(settings), file=out)
        elif not settings:
            print("no retention set: finished jobs are not recorded", file=out)
        else:
            print(table(("TASK", "KEEP", "SET AT"), [
                (s.task_identifier or "(default)", s.keep, s.set_at) for s in settings]),
                file=out)
        return EXIT_OK
    if target is None and not args.default:
        raise UsageError("tasks retention: give a TASK or --default")
    name = "the default" if target is None else clean(target)
    if args.clear:
        found = _ops.clear_retention(conn, target)
        print(f"retention of {name} cleared" if found else f"{name} had no retention",
              file=out)
        return EXIT_OK
    keep = parse_duration(args.keep, "--keep")
    _ops.set_retention(conn, target, keep)
    print(f"finished jobs of {name} kept for {cell(keep)}", file=out)
    return EXIT_OK


def controls(conn: psycopg.Connection[Any], args: argparse.Namespace, out: TextIO) -> int:
    rows = _flow.flow_controls(conn)
    if args.json:
        print(to_json(rows), file=out)
    elif not rows:
        print("nothing is paused or limited", file=out)
    else:
        print(table(("KIND", "NAME", "PAUSED", "MAX RUNNING", "RUNNING", "RATE LIMIT", "PERIOD",
                     "STARTS", "UPDATED"), [
            (c.kind, c.name, c.paused, c.max_running, c.running, c.rate_limit, c.rate_period,
             c.starts, c.updated_at) for c in rows]), file=out)
    return EXIT_OK


# --- workers, stats, cron, prune -----------------------------------------------------------------


def workers(conn: psycopg.Connection[Any], args: argparse.Namespace, out: TextIO) -> int:
    rows = _ops.worker_stats(conn)
    if args.json:
        print(to_json(rows), file=out)
    elif not rows:
        print("no workers registered or holding jobs", file=out)
    else:
        print(table(("WORKER", "REGISTERED", "ALIVE", "LAST HEARTBEAT", "STALE AFTER",
                     "JOBS HELD", "OLDEST LOCK"), [
            (w.worker_id, w.registered, w.alive, w.last_heartbeat_at, w.stale_after,
             w.jobs_locked, w.oldest_lock_age) for w in rows]), file=out)
    return EXIT_OK


def stats(conn: psycopg.Connection[Any], args: argparse.Namespace, out: TextIO) -> int:
    queues = _ops.queue_stats(conn)
    storage = _ops.storage_stats(conn)
    if args.json:
        print(to_json({"queues": queues, "storage": storage}), file=out)
        return EXIT_OK
    if queues:
        print(table(("TASK", "QUEUE", "WAITING", "SCHEDULED", "RUNNING", "RETRYING", "FAILED",
                     "OLDEST WAITING"), [
            (q.task_identifier, q.queue_name, q.waiting, q.scheduled, q.running, q.retrying,
             q.permanently_failed, q.oldest_waiting_age) for q in queues]), file=out)
    else:
        print("no jobs in the jobs table", file=out)
    print(file=out)
    print(table(("RELATION", "KIND", "TABLE", "SIZE", "ROWS (EST.)", "DEAD", "LAST AUTOVACUUM"), [
        (s.relation, s.kind, s.table_name, fmt_bytes(s.total_bytes), s.rows_estimate,
         s.dead_tuples, s.last_autovacuum) for s in storage]), file=out)
    return EXIT_OK


def cron_list(conn: psycopg.Connection[Any], args: argparse.Namespace, out: TextIO) -> int:
    items = _ops.cron_items(conn)
    if args.json:
        print(to_json(items), file=out)
    elif not items:
        print("no cron items known", file=out)
    else:
        print(table(("ID", "TASK", "SCHEDULE", "OPTIONS", "LAST RUN", "NEXT RUN"), [
            (i.identifier, i.task_identifier, i.schedule,
             "&".join(f"{k}={v}" for k, v in (i.options or {}).items()) or None,
             i.last_execution, i.next_run) for i in items]), file=out)
        if any(i.task_identifier is None for i in items):
            print("(items without a task were scheduled by a Node worker or a runner before "
                  "0.1.8: their schedule is not stored)", file=out)
    return EXIT_OK


def cron_run(conn: psycopg.Connection[Any], args: argparse.Namespace, out: TextIO) -> int:
    job_id = _ops.run_cron_item(conn, args.identifier)
    print(to_json({"job_id": job_id}) if args.json else
          f"cron item {clean(args.identifier)}: job {job_id} enqueued", file=out)
    return EXIT_OK


def prune(conn: psycopg.Connection[Any], args: argparse.Namespace, out: TextIO) -> int:
    total = 0
    while True:
        n = _ops.prune_finished_jobs(conn, args.max_rows)
        total += n
        if not args.until_done or n < args.max_rows:
            break
    print(to_json({"deleted": total}) if args.json else
          f"deleted {total} finished job(s) past their retention", file=out)
    return EXIT_OK
