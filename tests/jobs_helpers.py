"""Call the extension's SQL functions from tests with keyword arguments, and read its tables.

Shared by tests/sql, tests/concurrency and tests/extension. Every helper runs plain SQL on the
connection it is given; nothing here hides or fakes database behaviour.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import psycopg
from helpers import one, rows, scalar
from psycopg.types.json import Json

# Arguments passed as JSON documents (psycopg adapts dicts and lists with Json()).
_JSON_ARGS = {"payload", "failures"}


def _arg(name: str, value: Any) -> Any:
    if name in _JSON_ARGS and value is not None:
        return Json(value)
    return value


def call(conn: psycopg.Connection, function: str, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """`select * from graphile_worker.<function>(args..., name => value, ...)` as dicts."""
    parts = ["%s"] * len(args) + [f"{name} => %s" for name in kwargs]
    params = list(args) + [_arg(name, value) for name, value in kwargs.items()]
    return rows(conn, f"select * from graphile_worker.{function}({', '.join(parts)})", params)


def call_scalar(conn: psycopg.Connection, function: str, *args: Any, **kwargs: Any) -> Any:
    """`select graphile_worker.<function>(...)` for functions returning one value."""
    parts = ["%s"] * len(args) + [f"{name} => %s" for name in kwargs]
    params = list(args) + [_arg(name, value) for name, value in kwargs.items()]
    return scalar(conn, f"select graphile_worker.{function}({', '.join(parts)})", params)


def add_job(conn: psycopg.Connection, identifier: str | None, **kwargs: Any) -> dict[str, Any] | None:
    """add_job(); returns the row, or None when the function returned a null row."""
    result = call(conn, "add_job", identifier, **kwargs)
    assert len(result) == 1, result
    return None if result[0]["id"] is None else result[0]


def _spec_json(spec: dict[str, Any]) -> dict[str, Any]:
    out = dict(spec)
    if isinstance(out.get("run_at"), datetime):
        out["run_at"] = out["run_at"].isoformat()
    return out


def add_jobs(
    conn: psycopg.Connection, specs: list[dict[str, Any]], preserve_run_at: bool | None = None
) -> list[dict[str, Any]]:
    """add_jobs() with specs built as Node builds them (json_populate_recordset into job_spec)."""
    doc = json.dumps([_spec_json(s) for s in specs])
    array = "array(select json_populate_recordset(null::graphile_worker.job_spec, %s::json))"
    if preserve_run_at is None:
        return rows(conn, f"select * from graphile_worker.add_jobs({array})", [doc])
    return rows(
        conn, f"select * from graphile_worker.add_jobs({array}, %s)", [doc, preserve_run_at]
    )


def get_jobs(
    conn: psycopg.Connection, worker_id: str, tasks: list[str], **kwargs: Any
) -> list[dict[str, Any]]:
    return call(conn, "get_jobs", worker_id, tasks, **kwargs)


def report_jobs(conn: psycopg.Connection, worker_id: str, **kwargs: Any) -> dict[int, dict[str, Any]]:
    """report_jobs(); returns its rows keyed by job id."""
    result = call(conn, "report_jobs", worker_id, **kwargs)
    by_id = {r["job_id"]: r for r in result}
    assert len(by_id) == len(result), result
    return by_id


def jobs(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Every job (private row plus task_identifier and queue_name), by id, like upstream's getJobs."""
    return rows(
        conn,
        "select j.*, t.identifier as task_identifier, q.queue_name "
        "from graphile_worker._private_jobs j "
        "join graphile_worker._private_tasks t on t.id = j.task_id "
        "left join graphile_worker._private_job_queues q on q.id = j.job_queue_id "
        "order by j.id",
    )


def job(conn: psycopg.Connection, job_id: int) -> dict[str, Any]:
    return one(conn, "select * from graphile_worker._private_jobs where id = %s", [job_id])


def job_queues(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Every queue row with its job count, by name, like upstream's getJobQueues."""
    return rows(
        conn,
        "select q.*, (select count(*) from graphile_worker._private_jobs j "
        "where j.job_queue_id = q.id) as job_count "
        "from graphile_worker._private_job_queues q order by q.queue_name",
    )


def seq_last_values(conn: psycopg.Connection) -> dict[str, Any]:
    """last_value and is_called of the three identity sequences."""
    out = {}
    for name in ("tasks_id_seq", "job_queues_id_seq", "jobs_id_seq1"):
        out[name] = conn.execute(
            f"select last_value, is_called from graphile_worker.{name}"
        ).fetchone()
    return out


def make_selection_of_jobs(conn: psycopg.Connection) -> dict[str, dict[str, Any]]:
    """Upstream's makeSelectionOfJobs: five future job3 jobs, one locked by 'test', one failed
    for good ('Failed forever'), two regular ones and one left untouched."""
    created = [
        add_job(conn, "job3", payload={"a": i}, run_at=_future(conn)) for i in range(1, 6)
    ]
    ids = [c["id"] for c in created if c is not None]
    assert len(ids) == 5
    conn.execute(
        "update graphile_worker._private_jobs set locked_by = 'test', locked_at = now() "
        "where id = %s",
        [ids[0]],
    )
    conn.execute(
        "update graphile_worker._private_jobs "
        "set attempts = max_attempts, last_error = 'Failed forever' where id = %s",
        [ids[1]],
    )
    names = ["locked", "failed", "regular1", "regular2", "untouched"]
    return {name: job(conn, job_id) for name, job_id in zip(names, ids, strict=True)}


def _future(conn: psycopg.Connection) -> datetime:
    value = scalar(conn, "select now() + interval '1 minute'")
    assert isinstance(value, datetime)
    return value
