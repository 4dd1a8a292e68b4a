"""Every SQL statement gw_runner sends, in one place.

Each statement is a call of exactly one ``graphile_worker.*`` function (or LISTEN/UNLISTEN):
the runner holds no queue logic. ``tests/runner/test_sql_module.py`` checks this.
"""

from __future__ import annotations

from typing import Final

#: Columns of a claimed job, in the order :func:`gw_runner._db.job_from_claim_row` reads them.
GET_JOBS: Final = (
    "select id, task_identifier, queue_name, payload, priority, run_at, attempts, max_attempts,"
    " key, flags, revision, created_at, locked_at"
    " from graphile_worker.get_jobs(%s, %s::text[], %s, %s::text[])"
)

#: ``(worker_id, completed ids, failures json)``: a report without results, which extensions
#: older than 0.1.7 accept too.
REPORT_JOBS: Final = (
    "select job_id, outcome, attempts, max_attempts, run_at"
    " from graphile_worker.report_jobs(%s, %s::bigint[], %s::json)"
)

#: ``(worker_id, completed ids, failures json, results json)``: results is a JSON array
#: aligned with the completed ids (null entries for no result); extension 0.1.7 or later.
REPORT_JOBS_WITH_RESULTS: Final = (
    "select job_id, outcome, attempts, max_attempts, run_at"
    " from graphile_worker.report_jobs(%s, %s::bigint[], %s::json, results => %s::json)"
)

#: ``(max_rows,)`` -> finished jobs deleted (0 when another runner is pruning).
PRUNE_FINISHED_JOBS: Final = "select graphile_worker.prune_finished_jobs(%s)"

RETURN_JOBS: Final = "select graphile_worker.return_jobs(%s, %s::bigint[])"

#: After a claim whose result may have been lost: ``(worker_id, ids the worker holds)``.
RETURN_UNHELD_JOBS: Final = "select graphile_worker.return_unheld_jobs(%s, %s::bigint[])"

RESET_LOCKED: Final = "select graphile_worker.reset_locked()"

#: Marks the worker waiting (enqueuers notify while a runner waits) and returns the due time of
#: the next future job, with the database's clock.
WAIT_FOR_JOBS: Final = (
    "select due_at, now()"
    " from graphile_worker.wait_for_jobs(%s, %s::text[], %s::text[]) as due_at"
)

STOP_WAITING: Final = (
    "select count(*) from graphile_worker.wait_for_jobs(%s, %s::text[], null, false)"
)

#: The database's clock comes along, so the sleep is right even when clocks differ.
NEXT_JOB_DUE_AT: Final = (
    "select due_at, now()"
    " from graphile_worker.next_job_due_at(%s::text[], %s::text[]) as due_at"
)

#: Columns of an enqueued job, in the order :func:`gw_runner._db.job_from_enqueue_row` reads.
_ENQUEUED_COLUMNS: Final = (
    "id, key, payload, priority, run_at, attempts, max_attempts, flags, created_at,"
    " locked_at, revision, last_error"
)

ADD_JOB: Final = (
    f"select {_ENQUEUED_COLUMNS} from graphile_worker.add_job("
    "identifier => %s, payload => %s::json, queue_name => %s, run_at => %s::timestamptz,"
    " max_attempts => %s::integer, job_key => %s, priority => %s::integer, flags => %s::text[],"
    " job_key_mode => %s)"
)

#: The specs travel as one array literal of ``job_spec`` composites (see ``_enqueue``).
ADD_JOBS: Final = (
    f"select {_ENQUEUED_COLUMNS} from graphile_worker.add_jobs("
    "%s::graphile_worker.job_spec[], %s::boolean)"
)

#: The queue gauges of the metrics endpoint (admin level; extension 0.1.8).
QUEUE_STATS: Final = (
    "select task_identifier, queue_name, waiting, scheduled, running, permanently_failed,"
    " retrying, oldest_waiting_age from graphile_worker.queue_stats()"
)

LISTEN: Final = 'LISTEN "jobs:insert"'

#: Flow control (extension 0.1.8): ``{"op": "pause_tasks" | "resume_tasks" | "pause_queues" |
#: "resume_queues" | "limits", "names": [...]}`` and ``{"op": "cancel", "ids": [...]}``. On an
#: older extension nobody notifies it, and listening costs nothing.
LISTEN_CONTROL: Final = 'LISTEN "graphile_worker:control"'

# -- job status and waiting (gw_runner._status) -------------------------------------------

_STATUS_COLUMNS: Final = (
    "id, task_identifier, queue_name, state, attempts, max_attempts, run_at, last_error,"
    " result, created_at, finished_at, errors, result_note"
)

#: ``(job_id,)`` -> one row; state ``unknown`` for an id no table knows.
JOB_STATUS: Final = f"select {_STATUS_COLUMNS} from graphile_worker.job_status(%s::bigint)"

#: ``(job_key,)`` -> one row; state ``unknown`` (id null) when no job has or had the key.
JOB_STATUS_BY_KEY: Final = (
    f"select {_STATUS_COLUMNS} from graphile_worker.job_status_by_key(%s::text)"
)

#: ``(job_id,)``: the job's finish is recorded and announced on graphile_worker:finished.
WATCH_JOB: Final = "select graphile_worker.watch_job(%s::bigint)"

#: ``(job_id,)``: ends this session's watch (null: all of them).
UNWATCH_JOB: Final = "select graphile_worker.unwatch_job(%s::bigint)"

#: Notifications ``{"id": ..., "outcome": ...}`` for the jobs this session watches.
LISTEN_FINISHED: Final = 'LISTEN "graphile_worker:finished"'

#: After a wait on the caller's own connection: stop listening.
UNLISTEN_FINISHED: Final = 'UNLISTEN "graphile_worker:finished"'

# -- flow control (gw_runner._flow): admin functions ------------------------------------------

#: ``(names text[],)`` -> the names whose state changed.
PAUSE_TASKS: Final = "select graphile_worker.pause_tasks(%s::text[])"
RESUME_TASKS: Final = "select graphile_worker.resume_tasks(%s::text[])"
PAUSE_QUEUES: Final = "select graphile_worker.pause_queues(%s::text[])"
RESUME_QUEUES: Final = "select graphile_worker.resume_queues(%s::text[])"

#: ``(task, max_running, rate_limit, rate_period)``; nulls: no limit.
SET_TASK_LIMITS: Final = (
    "select graphile_worker.set_task_limits(%s::text, %s::integer, %s::integer, %s::interval)"
)

FLOW_CONTROLS: Final = (
    "select kind, name, paused, max_running, running, rate_limit, rate_period, starts,"
    " updated_at from graphile_worker.flow_controls()"
)

#: ``(job_ids bigint[],)`` -> one row per id given, in order.
CANCEL_JOBS: Final = (
    "select job_id, cancelled, state from graphile_worker.cancel_jobs(%s::bigint[])"
)

#: ``(job_keys text[],)`` -> one row per key given, in order (job_id null for an unknown key).
CANCEL_JOBS_BY_KEY: Final = (
    "select job_key, job_id, cancelled, state"
    " from graphile_worker.cancel_jobs_by_key(%s::text[])"
)

# -- crash recovery (gw_runner._recovery) ---------------------------------------------------

#: ``(worker_id, stale_after interval, info jsonb)``: at start and after being swept.
REGISTER_WORKER: Final = (
    "select graphile_worker.register_worker(%s, %s::interval, %s::jsonb)"
)

#: ``(worker_id,)`` -> false when the worker is not registered (it was swept).
HEARTBEAT: Final = "select graphile_worker.heartbeat(%s)"

DEREGISTER_WORKER: Final = "select graphile_worker.deregister_worker(%s)"

#: ``(recovery_delay interval,)`` -> one row per lost worker released.
RECOVER_STALE_WORKERS: Final = (
    "select worker_id, last_heartbeat_at, jobs_recovered"
    " from graphile_worker.recover_stale_workers(%s::interval)"
)

# -- cron (gw_runner._cron) -------------------------------------------------------------------

#: ``(crontab text,)``: checks a crontab at start (an error names the line at fault).
PARSE_CRONTAB: Final = (
    "select identifier, task_identifier, schedule"
    " from graphile_worker.parse_crontab(%s::text)"
)

#: ``(crontab text, since timestamptz)``: once a minute. One row whatever was scheduled:
#: the count, the database's ``now()`` (= the function's ``now``, the next call's ``since``)
#: and what was scheduled.
SCHEDULE_CRONTAB: Final = (
    "select count(*), now(), array_agg(identifier), array_agg(scheduled_at),"
    " array_agg(backfilled)"
    " from graphile_worker.schedule_crontab(%s::text, %s::timestamptz)"
)

# -- operations (gw_runner._ops, the admin CLI; extension 0.1.8) ------------------------------

#: ``(states, task_identifiers, queue_names, job_key, min_id, max_id, before_id, max_rows)``:
#: one page of jobs, newest id first (monitor level).
LIST_JOBS: Final = (
    "select * from graphile_worker.list_jobs(%s::text[], %s::text[], %s::text[], %s::text,"
    " %s::bigint, %s::bigint, %s::bigint, %s::integer)"
)
#: ``(states, task_identifiers, queue_names, job_key, min_id, max_id)`` -> one bigint.
COUNT_JOBS: Final = (
    "select graphile_worker.count_jobs(%s::text[], %s::text[], %s::text[], %s::text,"
    " %s::bigint, %s::bigint)"
)
#: ``(job_id,)`` -> one row, or none for an unknown id.
JOB_DETAIL: Final = "select * from graphile_worker.job_detail(%s::bigint)"
#: ``(job_ids,)`` -> one row per id given (admin level).
RETRY_JOBS: Final = "select * from graphile_worker.retry_jobs(%s::bigint[])"
DELETE_JOBS: Final = "select * from graphile_worker.delete_jobs(%s::bigint[])"
#: ``(job_ids, run_at)`` -> one row per id given.
RUN_JOBS_AT: Final = "select * from graphile_worker.run_jobs_at(%s::bigint[], %s::timestamptz)"
CRON_ITEMS: Final = "select * from graphile_worker.cron_items()"
#: ``(identifier,)`` -> the new job's id.
RUN_CRON_ITEM: Final = "select graphile_worker.run_cron_item(%s::text)"
STORAGE_STATS: Final = "select * from graphile_worker.storage_stats()"
QUEUE_STATS_ALL: Final = "select * from graphile_worker.queue_stats()"
WORKER_STATS: Final = "select * from graphile_worker.worker_stats()"
RETENTION_SETTINGS: Final = "select * from graphile_worker.retention_settings()"
#: ``(task_identifier or None for the default, keep)``.
SET_RETENTION: Final = "select graphile_worker.set_retention(%s::text, %s::interval)"
CLEAR_RETENTION: Final = "select graphile_worker.clear_retention(%s::text)"

#: Every statement, for the test that checks their shape.
ALL_STATEMENTS: Final = (
    GET_JOBS,
    REPORT_JOBS,
    REPORT_JOBS_WITH_RESULTS,
    PRUNE_FINISHED_JOBS,
    RETURN_JOBS,
    RETURN_UNHELD_JOBS,
    RESET_LOCKED,
    NEXT_JOB_DUE_AT,
    WAIT_FOR_JOBS,
    STOP_WAITING,
    ADD_JOB,
    ADD_JOBS,
    LISTEN,
    LISTEN_CONTROL,
    JOB_STATUS,
    JOB_STATUS_BY_KEY,
    WATCH_JOB,
    UNWATCH_JOB,
    LISTEN_FINISHED,
    UNLISTEN_FINISHED,
    PAUSE_TASKS,
    RESUME_TASKS,
    PAUSE_QUEUES,
    RESUME_QUEUES,
    SET_TASK_LIMITS,
    FLOW_CONTROLS,
    CANCEL_JOBS,
    CANCEL_JOBS_BY_KEY,
    LIST_JOBS,
    COUNT_JOBS,
    JOB_DETAIL,
    RETRY_JOBS,
    DELETE_JOBS,
    RUN_JOBS_AT,
    CRON_ITEMS,
    RUN_CRON_ITEM,
    STORAGE_STATS,
    QUEUE_STATS_ALL,
    WORKER_STATS,
    RETENTION_SETTINGS,
    SET_RETENTION,
    CLEAR_RETENTION,
    QUEUE_STATS,
    REGISTER_WORKER,
    HEARTBEAT,
    DEREGISTER_WORKER,
    RECOVER_STALE_WORKERS,
    PARSE_CRONTAB,
    SCHEDULE_CRONTAB,
)
