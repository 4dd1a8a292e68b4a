"""``gw-admin`` / ``python -m gw_runner.admin``: operate graphile_worker from a shell.

The command is ``gw-admin [-c URL] NOUN VERB ...``: its first word is a noun (jobs, tasks,
queues, controls, workers, stats, cron, prune), never a file name, so it cannot be mistaken
for ``python -m gw_runner tasks.py`` (the runner), which is unchanged.

Exit codes: 0 done (also an empty answer: unknown ids, filters that match nothing); 1 some
jobs were not acted on (their state says why), the confirmation was declined, or the cron
item is unknown; 2 usage error (the message names the option); 3 database error (cannot
connect, the extension is missing, permission denied: the role lacks the level); 141 the
output's reader went away (``| head``), quietly.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import psycopg

from .. import __version__
from ..errors import (
    CheckViolation,
    CronItemUnknown,
    DatabaseError,
    GraphileWorkerError,
    InvalidFlowControlArgument,
    InvalidHistoryArgument,
    NumericOutOfRange,
    RunAtOutOfRange,
)
from . import _commands as c
from ._output import clean

PROG = "gw-admin"
EPILOG = (
    "Connection: -c/--database-url, else $DATABASE_URL, else libpq's PG* variables. Read-only "
    "commands need a role of the monitor level, actions the admin level "
    "(graphile_worker.grant_role). Exit codes: 0 done (an empty answer included), 1 some jobs "
    "not acted on / confirmation declined / unknown cron item, 2 usage error, 3 database or "
    "permission error, 141 the output's reader went away. See docs/operations.md."
)
_STATES = ("waiting", "scheduled", "running", "retrying", "failed", "completed", "cancelled")


class _Parser(argparse.ArgumentParser):
    """argparse, with hostile text escaped in its error messages."""

    def error(self, message: str) -> Any:
        self.print_usage(sys.stderr)
        self.exit(c.EXIT_USAGE, f"{self.prog}: error: {clean(message)}\n")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is below 1")
    return value


def _job_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a job id (a whole number)") from None
    if not -2**63 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"{value} is outside bigint")
    return value


def _common(json_help: str | None = "print JSON instead of a table") -> argparse.ArgumentParser:
    """Options every command takes (after its name too)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("-c", "--database-url", "--connection", dest="database_url",
                        metavar="URL", default=argparse.SUPPRESS,
                        help="connection string or URI (default: $DATABASE_URL, then PG*)")
    if json_help is not None:
        parent.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                            help=json_help)
    return parent


def _add_filters(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("filters (repeat an option for several values; none: every job)")
    g.add_argument("--state", action="append", choices=_STATES, help="job state")
    g.add_argument("--task", action="append", metavar="TASK", help="task identifier")
    g.add_argument("--queue", action="append", metavar="QUEUE", help="named queue")
    g.add_argument("--key", metavar="KEY", help="job key")
    g.add_argument("--min-id", type=_job_id, metavar="ID", help="lowest id (included)")
    g.add_argument("--max-id", type=_job_id, metavar="ID", help="highest id (included)")


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = _Parser(
        prog=PROG, parents=[_common()], epilog=EPILOG,
        description="Operate graphile_worker: list, show, retry, cancel, delete and reschedule "
        "jobs; pause, resume and limit tasks and queues; retention; workers; statistics; cron; "
        "pruning. Every action is one call of a graphile_worker SQL function.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    nouns = parser.add_subparsers(dest="noun", metavar="NOUN", required=True,
                                  parser_class=_Parser)

    def sub(group: Any, name: str, text: str, json_ok: bool = True) -> argparse.ArgumentParser:
        parent = common if json_ok else _common(None)
        p: argparse.ArgumentParser = group.add_parser(name, help=text, description=text,
                                                      parents=[parent], epilog=EPILOG)
        return p

    jobs = sub(nouns, "jobs", "list, count, show and act on jobs").add_subparsers(
        dest="verb", metavar="VERB", required=True, parser_class=_Parser)
    p = sub(jobs, "list", "one page of jobs, newest first (jobs table and finished-jobs store)")
    _add_filters(p)
    p.add_argument("--before", type=_job_id, metavar="ID",
                   help="the page below this id (the next page: --before the last id shown)")
    p.add_argument("--limit", type=_positive, default=50, metavar="N",
                   help="rows per page, 1..10000 (default 50)")
    p.set_defaults(run=c.jobs_list)
    p = sub(jobs, "count", "how many jobs match the filters")
    _add_filters(p)
    p.set_defaults(run=c.jobs_count)
    p = sub(jobs, "show", "everything about one job: payload, attempts and their errors, "
            "result, times, worker")
    p.add_argument("id", type=_job_id, metavar="ID", help="job id")
    p.set_defaults(run=c.jobs_show)
    actions = {
        "retry": "run failed and retrying jobs now with all their attempts again (a failed job "
                 "only in the finished-jobs store is enqueued again as a new job)",
        "cancel": "cancel jobs: waiting and scheduled ones are deleted and recorded as "
                  "cancelled, running ones are stopped by their runner",
        "delete": "delete jobs that are not running (nothing is recorded; running ones: cancel)",
        "reschedule": "move waiting, scheduled and retrying jobs to another time",
    }
    for verb, text in actions.items():
        p = sub(jobs, verb, f"{text}. The count is shown first and confirmed unless --yes.")
        p.add_argument("ids", nargs="*", type=_job_id, metavar="ID",
                       help="job ids (or --all-matching with filters)")
        p.add_argument("--all-matching", action="store_true",
                       help="act on every job matching the filters (gathered by pages, acted "
                       "on in chunks of 1000)")
        _add_filters(p)
        p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
        if verb == "reschedule":
            p.add_argument("--at", metavar="TIME",
                           help="ISO 8601 time (2026-12-24T08:00:00Z; no offset: local time), "
                           "or now")
            p.add_argument("--in", dest="in_", metavar="DURATION",
                           help="from now: 30s, 10m, 2h, 7d, 1w, 1d12h")
        p.set_defaults(run=c.jobs_action)

    for noun in ("tasks", "queues"):
        what = "task identifiers" if noun == "tasks" else "queue names"
        verbs = sub(nouns, noun, f"pause and resume {noun}" + (
            ", limits, retention" if noun == "tasks" else "")).add_subparsers(
            dest="verb", metavar="VERB", required=True, parser_class=_Parser)
        for verb in ("pause", "resume"):
            text = (f"{verb} {noun} fleet-wide: " + (
                "no runner claims their jobs; running jobs finish" if verb == "pause"
                else "their jobs are claimed again"))
            p = sub(verbs, verb, text)
            p.add_argument("names", nargs="+", metavar="NAME", help=what)
            p.set_defaults(run=c.pause_resume)
        if noun == "tasks":
            p = sub(verbs, "limits", "limit a task across every runner (set_task_limits)",
                    json_ok=False)
            p.add_argument("task", metavar="TASK", help="task identifier")
            p.add_argument("--max-running", type=_positive, metavar="N",
                           help="at most N of its jobs running at once")
            p.add_argument("--rate-limit", type=_positive, metavar="N",
                           help="at most N starts per --rate-period")
            p.add_argument("--rate-period", metavar="DURATION", help="1s to 7d, e.g. 1m")
            p.add_argument("--clear", action="store_true", help="remove the task's limits")
            p.set_defaults(run=c.task_limits)
            p = sub(verbs, "retention", "list retention settings, or keep a task's finished "
                    "jobs (set_retention / clear_retention)")
            p.add_argument("task", nargs="?", metavar="TASK",
                           help="task identifier (none: list the settings)")
            p.add_argument("--default", action="store_true",
                           help="the default, for every task without its own setting")
            p.add_argument("--keep", metavar="DURATION", help="how long, e.g. 7d")
            p.add_argument("--clear", action="store_true", help="remove the setting")
            p.set_defaults(run=c.task_retention)

    sub(nouns, "controls", "paused and limited tasks, paused queues (flow_controls)"
        ).set_defaults(run=c.controls)
    sub(nouns, "workers", "workers: alive, last heartbeat, jobs held (worker_stats)"
        ).set_defaults(run=c.workers)
    sub(nouns, "stats", "jobs per task and queue by state (queue_stats), table and index "
        "sizes (storage_stats)").set_defaults(run=c.stats)
    cron = sub(nouns, "cron", "cron items: list, run one now").add_subparsers(
        dest="verb", metavar="VERB", required=True, parser_class=_Parser)
    sub(cron, "list", "the known cron items with their schedule, last and next run"
        ).set_defaults(run=c.cron_list)
    p = sub(cron, "run", "enqueue a cron item's job now (its schedule is left as it is)")
    p.add_argument("identifier", metavar="ID", help="the item's identifier (cron list)")
    p.set_defaults(run=c.cron_run)
    p = sub(nouns, "prune", "delete finished jobs past their retention (prune_finished_jobs)")
    p.add_argument("--max-rows", type=_positive, default=10000, metavar="N",
                   help="per call, 1..1000000 (default 10000)")
    p.add_argument("--until-done", action="store_true", help="call again until none is left")
    p.set_defaults(run=c.prune)
    return parser


#: The exit status when the output's reader went away (128 + SIGPIPE, as shells report it).
EXIT_BROKEN_PIPE = 141


def _error(message: str, code: int) -> int:
    """Print the message (its DETAIL and HINT lines too, each escaped) to stderr."""
    lines = message.splitlines() or [""]
    print(f"{PROG}: {clean(lines[0])}", file=sys.stderr)
    for line in lines[1:]:
        print(f"  {clean(line)}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout
    args = build_parser().parse_args(argv)
    args.json = getattr(args, "json", False)
    url = getattr(args, "database_url", None)
    if url is None:
        url = os.environ.get("DATABASE_URL") or ""
    try:
        conn = psycopg.connect(url, autocommit=True, application_name=PROG)
    except psycopg.Error as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return _error(f"cannot connect to the database: {first}", c.EXIT_DATABASE)
    try:
        with conn:
            code: int = args.run(conn, args, out)
            return code
    except c.UsageError as e:
        return _error(f"error: {e}", c.EXIT_USAGE)
    except (InvalidFlowControlArgument, InvalidHistoryArgument, RunAtOutOfRange,
            NumericOutOfRange, CheckViolation) as e:
        return _error(f"error: {e}", c.EXIT_USAGE)
    except CronItemUnknown as e:
        return _error(str(e), c.EXIT_NOT_ALL)
    except DatabaseError as e:
        if e.sqlstate == "42501":
            level = "monitor" if args.run in _READS else "admin"
            return _error(f"permission denied: this command needs a role of the {level} level "
                          f"(graphile_worker.grant_role(role, '{level}'))\n{e}",
                          c.EXIT_DATABASE)
        return _error(f"database error: {e}", c.EXIT_DATABASE)
    except GraphileWorkerError as e:
        return _error(f"error: {e}", c.EXIT_DATABASE)
    except psycopg.Error as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return _error(f"database error: {first}", c.EXIT_DATABASE)
    except KeyboardInterrupt:
        return _error("interrupted", 130)
    except BrokenPipeError:
        # the reader went away (`gw-admin jobs list | head`): stop quietly, as a command killed
        # by SIGPIPE would, and keep the interpreter's last flush from failing again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


_READS = {c.jobs_list, c.jobs_count, c.jobs_show, c.controls, c.workers, c.stats, c.cron_list}
