"""Every SQL statement gw_runner sends, in one place.

Each statement is a call of exactly one ``graphile_worker.*`` function (or LISTEN): the
runner holds no queue logic. ``tests/runner/test_sql_module.py`` checks this.
"""

from __future__ import annotations

from typing import Final

#: Columns of a claimed job, in the order :func:`gw_runner._db.job_from_claim_row` reads them.
GET_JOBS: Final = (
    "select id, task_identifier, queue_name, payload, priority, run_at, attempts, max_attempts,"
    " key, flags, revision, created_at, locked_at"
    " from graphile_worker.get_jobs(%s, %s::text[], %s, %s::text[])"
)

REPORT_JOBS: Final = (
    "select job_id, outcome, attempts, max_attempts, run_at"
    " from graphile_worker.report_jobs(%s, %s::bigint[], %s::json)"
)

RETURN_JOBS: Final = "select graphile_worker.return_jobs(%s, %s::bigint[])"

RESET_LOCKED: Final = "select graphile_worker.reset_locked()"

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

LISTEN: Final = 'LISTEN "jobs:insert"'

#: Every statement, for the test that checks their shape.
ALL_STATEMENTS: Final = (
    GET_JOBS,
    REPORT_JOBS,
    RETURN_JOBS,
    RESET_LOCKED,
    NEXT_JOB_DUE_AT,
    ADD_JOB,
    ADD_JOBS,
    LISTEN,
)
