"""The runner holds no queue logic: every statement it sends is a call of one
graphile_worker function, or LISTEN (UNLISTEN after waiting for a job)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import gw_runner
from gw_runner import _sql

PACKAGE = Path(gw_runner.__file__).resolve().parent

CALL = re.compile(
    r"""^select\s+              # select ...
        (?:[\w\s,()*]+?\s+from\s+)?   # optional column list + from (when a set is returned)
        graphile_worker\.(\w+)\(     # exactly one graphile_worker function
        [^;]*\)                       # its arguments
        (?:\s+as\s+\w+)?$             # optional alias
    """,
    re.IGNORECASE | re.VERBOSE | re.DOTALL,
)
ALLOWED = {"get_jobs", "report_jobs", "return_jobs", "return_unheld_jobs", "reset_locked",
           "next_job_due_at", "wait_for_jobs",
           "add_job", "add_jobs", "register_worker", "heartbeat", "deregister_worker",
           "recover_stale_workers", "parse_crontab", "schedule_crontab",
           "prune_finished_jobs", "job_status", "job_status_by_key", "watch_job", "unwatch_job",
           "pause_tasks", "resume_tasks", "pause_queues", "resume_queues", "set_task_limits",
           "flow_controls", "cancel_jobs", "cancel_jobs_by_key", "queue_stats",
           # operations (gw_runner._ops, the admin CLI)
           "list_jobs", "count_jobs", "job_detail", "retry_jobs", "delete_jobs", "run_jobs_at",
           "cron_items", "run_cron_item", "storage_stats", "worker_stats",
           "retention_settings", "set_retention", "clear_retention"}


def test_every_statement_calls_one_graphile_worker_function_or_listens():
    assert len(_sql.ALL_STATEMENTS) >= 15
    seen = set()
    for statement in _sql.ALL_STATEMENTS:
        text = " ".join(statement.split())
        if text in ('LISTEN "jobs:insert"', 'LISTEN "graphile_worker:control"',
                    'LISTEN "graphile_worker:finished"', 'UNLISTEN "graphile_worker:finished"'):
            continue
        match = CALL.match(text)
        assert match, f"not a single graphile_worker call: {statement}"
        assert match.group(1) in ALLOWED, statement
        assert text.lower().count("graphile_worker.") - text.lower().count(
            "graphile_worker.job_spec") == 1, statement
        for keyword in ("insert ", "update ", "delete ", " join ", " where ", "union"):
            assert keyword not in text.lower(), statement
        seen.add(match.group(1))
    assert seen == ALLOWED


def test_statement_constants_are_all_listed():
    constants = {
        name: value for name, value in vars(_sql).items()
        if name.isupper() and isinstance(value, str) and not name.startswith("_")
    }
    assert set(constants.values()) == set(_sql.ALL_STATEMENTS)


def test_no_sql_text_outside_the_sql_module():
    """No other module builds SQL: string literals that look like statements live in _sql."""
    pattern = re.compile(
        r"^\s*(select\s.+\bfrom\b|select\s+\w+\.\w+\(|insert\s+into|update\s+\S+\s+set"
        r"|delete\s+from|(un)?listen\s+\"|notify\s|with\s+\w+\s+as\s*\()",
        re.IGNORECASE | re.DOTALL,
    )
    offenders = []
    for path in PACKAGE.glob("*.py"):
        if path.name == "_sql.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if pattern.match(node.value):
                    offenders.append(f"{path.name}:{node.lineno}: {node.value[:60]!r}")
    assert offenders == []
