"""Every statement the dashboard sends: each one call of one ``graphile_worker`` function
(or LISTEN), named parameters, rows as dicts. Reads take a connection of the read pool
(possibly a standby), actions one of the primary's."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

Row = dict[str, Any]

VERSION = "select graphile_worker.version()"

# --- reads (monitor level) ----------------------------------------------------------------------
QUEUE_STATS = "select * from graphile_worker.queue_stats()"
WORKER_STATS = "select * from graphile_worker.worker_stats()"
FLOW_CONTROLS = "select * from graphile_worker.flow_controls()"
RETENTION_SETTINGS = "select * from graphile_worker.retention_settings()"
CRON_ITEMS = "select * from graphile_worker.cron_items()"
STORAGE_STATS = "select * from graphile_worker.storage_stats()"
FINISHED_PER_MINUTE = (
    "select * from graphile_worker.finished_per_minute(since => %(since)s)"
)
JOB_DETAIL = "select * from graphile_worker.job_detail(%(id)s)"
LIST_JOBS = (
    "select * from graphile_worker.list_jobs(states => %(states)s,"
    " task_identifiers => %(tasks)s, queue_names => %(queues)s, job_key => %(key)s,"
    " min_id => %(min_id)s, max_id => %(max_id)s, before_id => %(before_id)s,"
    " max_rows => %(max_rows)s)"
)
COUNT_JOBS = (
    "select graphile_worker.count_jobs(states => %(states)s,"
    " task_identifiers => %(tasks)s, queue_names => %(queues)s, job_key => %(key)s,"
    " min_id => %(min_id)s, max_id => %(max_id)s) as n"
)
# Whether this role may act (to show or hide the buttons); the actions themselves are refused
# by the database anyway when it may not.
CAN_ACT = (
    "select pg_catalog.has_function_privilege("
    "'graphile_worker.retry_jobs(bigint[])', 'execute') as can_act"
)

# --- actions (admin level, always on the primary) ---------------------------------------------
RETRY_JOBS = "select job_id, retried as done, state from graphile_worker.retry_jobs(%(ids)s)"
CANCEL_JOBS = "select job_id, cancelled as done, state from graphile_worker.cancel_jobs(%(ids)s)"
DELETE_JOBS = "select job_id, deleted as done, state from graphile_worker.delete_jobs(%(ids)s)"
RUN_JOBS_AT = (
    "select job_id, rescheduled as done, state"
    " from graphile_worker.run_jobs_at(%(ids)s, %(run_at)s)"
)
PAUSE_TASKS = "select graphile_worker.pause_tasks(%(names)s) as changed"
RESUME_TASKS = "select graphile_worker.resume_tasks(%(names)s) as changed"
PAUSE_QUEUES = "select graphile_worker.pause_queues(%(names)s) as changed"
RESUME_QUEUES = "select graphile_worker.resume_queues(%(names)s) as changed"
SET_TASK_LIMITS = (
    "select graphile_worker.set_task_limits(%(task)s, %(max_running)s, %(rate_limit)s,"
    " %(rate_period)s)"
)
SET_RETENTION = "select graphile_worker.set_retention(%(task)s, %(keep)s)"
CLEAR_RETENTION = "select graphile_worker.clear_retention(%(task)s) as cleared"
RUN_CRON_ITEM = "select graphile_worker.run_cron_item(%(identifier)s) as job_id"

# --- live updates ---------------------------------------------------------------------------
LISTEN = (
    'LISTEN "jobs:insert"',
    'LISTEN "graphile_worker:control"',
    'LISTEN "graphile_worker:finished"',
)

JOB_ACTIONS = {
    "retry": RETRY_JOBS,
    "cancel": CANCEL_JOBS,
    "delete": DELETE_JOBS,
    "reschedule": RUN_JOBS_AT,
}


async def fetch(conn: psycopg.AsyncConnection[Any], statement: str,
                params: dict[str, Any] | None = None) -> list[Row]:
    """The rows of one statement (autocommit connections: each call is its own transaction)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(statement, params)
        return await cur.fetchall() if cur.description else []


def job_filter_params(states: list[str] | None, tasks: list[str] | None,
                      queues: list[str] | None, key: str | None, min_id: int | None,
                      max_id: int | None) -> dict[str, Any]:
    return {"states": states, "tasks": tasks, "queues": queues, "key": key,
            "min_id": min_id, "max_id": max_id}


def run_at_params(ids: list[int], run_at: datetime) -> dict[str, Any]:
    return {"ids": ids, "run_at": run_at}
