"""Inputs that are accepted by design (documented in docs/security.md), and what happens."""

from __future__ import annotations

import json

import psycopg
import pytest

from tests.helpers import scalar, snapshot


def test_any_json_payload_is_stored_verbatim(db: psycopg.Connection) -> None:
    for text in ['"just a string"', "42", "null", "[1, 2, 3]", '{"b": 1, "a": 2, "a": 3}']:
        stored = scalar(
            db, "select payload::text from graphile_worker.add_job('t', %s::json)", (text,)
        )
        assert stored == text, "payload is json, not jsonb: text, key order and duplicates kept"


def test_large_payload_round_trips_through_claim(db: psycopg.Connection) -> None:
    big = json.dumps({"blob": "x" * 10_000_000})
    job_id = scalar(db, "select id from graphile_worker.add_job('t', %s::json)", (big,))
    claimed = db.execute(
        "select id, payload from graphile_worker.get_jobs('w', array['t'])"
    ).fetchone()
    assert claimed is not None and claimed[0] == job_id
    assert len(claimed[1]["blob"]) == 10_000_000


def test_deeply_nested_payload_is_accepted_up_to_postgresqls_own_limit(
    db: psycopg.Connection,
) -> None:
    nested = "[" * 500 + "]" * 500
    assert (
        scalar(
            db, "select json_typeof(payload) from graphile_worker.add_job('t', %s::json)", (nested,)
        )
        == "array"
    )
    before = snapshot(db)
    with pytest.raises(psycopg.Error) as exc:
        db.execute(
            "select graphile_worker.add_job('t', %s::json)", ("[" * 1_000_000 + "]" * 1_000_000,)
        )
    assert exc.value.sqlstate == "54001", (
        "the json input function stops it: stack depth limit exceeded"
    )
    assert snapshot(db) == before


@pytest.mark.parametrize("tasks", [None, [], ["no_such_task"]])
def test_get_jobs_without_known_tasks_claims_nothing(
    db: psycopg.Connection, tasks: list[str] | None
) -> None:
    db.execute("select graphile_worker.add_job('t')")
    before = snapshot(db)
    assert (
        db.execute(
            "select * from graphile_worker.get_jobs('w', %s::text[], 10)", (tasks,)
        ).fetchall()
        == []
    )
    assert snapshot(db) == before


def test_report_jobs_with_nothing_to_report_changes_nothing(db: psycopg.Connection) -> None:
    db.execute("select graphile_worker.add_job('t')")
    before = snapshot(db)
    assert db.execute("select * from graphile_worker.report_jobs('w', '{}', '[]')").fetchall() == []
    assert db.execute("select * from graphile_worker.report_jobs('w', null, null)").fetchall() == []
    assert snapshot(db) == before
