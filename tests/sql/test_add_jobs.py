"""add_jobs: the same key cases through the batch function (upstream's workerUtils.addJobs)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest
from helpers import add_jobs, get_jobs, job, jobs, scalar, seq_last_values


def test_add_jobs_inserts_one_row_per_spec(db: psycopg.Connection) -> None:
    specs = [
        {"identifier": "job3", "payload": {"a": 1}},
        {"identifier": "job3", "payload": {"a": 2}, "queue_name": "q"},
        {"identifier": "job4", "payload": {"a": 3}, "priority": 3},
        {"identifier": "job4", "payload": {"a": 4}, "max_attempts": 2},
        {"identifier": "job5", "payload": {"a": 5}, "flags": ["x", "y"]},
        {"identifier": "job5", "payload": {"a": 6}, "job_key": "k6"},
    ]
    returned = add_jobs(db, specs)
    assert len(returned) == 6
    stored = jobs(db)
    assert sorted(r["id"] for r in returned) == [s["id"] for s in stored]
    by_a = {s["payload"]["a"]: s for s in stored}
    assert by_a[1]["task_identifier"] == "job3" and by_a[1]["queue_name"] is None
    assert by_a[2]["queue_name"] == "q"
    assert by_a[3]["priority"] == 3
    assert by_a[4]["max_attempts"] == 2
    assert by_a[5]["flags"] == {"x": True, "y": True}
    assert by_a[6]["key"] == "k6"
    for s in stored:
        assert s["attempts"] == 0 and s["revision"] == 0


def test_add_jobs_same_key_four_times_leaves_one_job_revision_3(db: psycopg.Connection) -> None:
    for i in range(1, 5):
        add_jobs(db, [{"identifier": "job3", "payload": {"a": i}, "job_key": "UNIQUE"}])
    [stored] = jobs(db)
    assert stored["payload"] == {"a": 4}
    assert stored["revision"] == 3


def test_add_jobs_preserve_run_at_comes_from_second_argument(db: psycopg.Connection) -> None:
    base = scalar(db, "select date_trunc('second', now()) + interval '1 day'")
    run_at = [base + timedelta(minutes=i) for i in range(4)]
    spec = {"identifier": "job3", "job_key": "UNIQUE"}

    [first] = add_jobs(db, [{**spec, "payload": {"a": 1}, "run_at": run_at[1]}])
    assert (first["revision"], first["run_at"]) == (0, run_at[1])

    [second] = add_jobs(db, [{**spec, "payload": {"a": 2}, "run_at": run_at[2]}], True)
    assert second["id"] == first["id"]
    assert (second["revision"], second["run_at"], second["payload"]) == (1, run_at[1], {"a": 2})

    [third] = add_jobs(db, [{**spec, "payload": {"a": 3}, "run_at": run_at[3]}], False)
    assert third["id"] == first["id"]
    assert (third["revision"], third["run_at"], third["payload"]) == (2, run_at[3], {"a": 3})


def test_add_jobs_keyed_job_while_running_creates_new_job(db: psycopg.Connection) -> None:
    [first] = add_jobs(db, [{"identifier": "job3", "job_key": "k", "payload": {"n": 1}}])
    get_jobs(db, "w1", ["job3"])
    [second] = add_jobs(db, [{"identifier": "job3", "job_key": "k", "payload": {"n": 2}}])
    assert second["id"] != first["id"]
    running = job(db, first["id"])
    assert running["key"] is None and running["attempts"] == running["max_attempts"]
    assert second["key"] == "k"


def test_add_jobs_mixes_keyed_and_unkeyed_specs(db: psycopg.Connection) -> None:
    add_jobs(db, [{"identifier": "job3", "job_key": "k", "payload": [1]}])
    returned = add_jobs(
        db,
        [
            {"identifier": "job3", "payload": {"plain": 1}},
            {"identifier": "job3", "job_key": "k", "payload": [2]},
            {"identifier": "job3", "payload": {"plain": 2}},
        ],
    )
    assert len(returned) == 3
    stored = jobs(db)
    assert len(stored) == 3
    keyed = [s for s in stored if s["key"] == "k"]
    assert [k["payload"] for k in keyed] == [[1, 2]]
    assert keyed[0]["revision"] == 1


def test_add_jobs_array_payloads_with_same_key_are_concatenated(db: psycopg.Connection) -> None:
    for i in (1, 2, 3):
        add_jobs(db, [{"identifier": "job3", "payload": [{"a": i}], "job_key": "mykey"}])
    [stored] = jobs(db)
    assert stored["payload"] == [{"a": 1}, {"a": 2}, {"a": 3}]


def test_add_jobs_empty_or_null_array_returns_nothing(db: psycopg.Connection) -> None:
    assert add_jobs(db, []) == []
    empty = db.execute(
        "select count(*) from graphile_worker.add_jobs('{}'::graphile_worker.job_spec[])"
    ).fetchone()
    null = db.execute("select count(*) from graphile_worker.add_jobs(null)").fetchone()
    assert empty == (0,) and null == (0,)
    assert jobs(db) == []


def test_add_jobs_existing_tasks_and_queues_burn_no_identity_value(
    db: psycopg.Connection,
) -> None:
    specs = [
        {"identifier": "a", "queue_name": "q1"},
        {"identifier": "b", "queue_name": "q2", "job_key": "k"},
        {"identifier": "a"},
    ]
    add_jobs(db, specs)
    before = seq_last_values(db)
    add_jobs(db, specs)
    add_jobs(db, specs, True)
    after = seq_last_values(db)
    assert after["tasks_id_seq"] == before["tasks_id_seq"]
    assert after["job_queues_id_seq"] == before["job_queues_id_seq"]


# --- bad input changes nothing and burns no identity value (issue 13) -----------------------


def _raises(db: psycopg.Connection, specs: list[dict[str, Any]]) -> Any:
    with pytest.raises(psycopg.Error) as caught:
        add_jobs(db, specs)
    return caught.value


@pytest.mark.parametrize("count", [2, 3000])
def test_add_jobs_same_key_twice_raises_gwe02_before_anything_is_written(
    db: psycopg.Connection, count: int
) -> None:
    add_jobs(db, [{"identifier": "job1", "job_key": "k"}])
    before = seq_last_values(db)
    last_job_id = scalar(db, "select last_value from graphile_worker.jobs_id_seq1")
    specs = [{"identifier": "new_task", "queue_name": "new_q", "job_key": "other"}] + [
        {"identifier": "job1", "job_key": "k", "payload": [i]} for i in range(count)
    ]
    err = _raises(db, specs)
    assert err.sqlstate == "GWE02"
    positions = ", ".join(str(i) for i in range(2, count + 2))
    assert err.diag.message_primary == (
        f"job key 'k' is in more than one job spec (job specs {positions})"
    )
    assert "the job key 'k'" in err.diag.message_detail
    assert err.diag.message_hint.startswith("Send one spec per job key")
    assert seq_last_values(db) == before
    assert scalar(db, "select last_value from graphile_worker.jobs_id_seq1") == last_job_id
    assert [j["key"] for j in jobs(db)] == ["k"]
    assert scalar(db, "select count(*) from graphile_worker._private_tasks") == 1


def test_add_jobs_distinct_keys_in_one_call_are_accepted(db: psycopg.Connection) -> None:
    specs = [{"identifier": "job1", "job_key": f"k{i}"} for i in range(3)] + [
        {"identifier": "job1"}, {"identifier": "job1"}
    ]
    assert len(add_jobs(db, specs)) == 5


@pytest.mark.parametrize(
    "run_at", ["infinity", "-infinity", "0001-01-01T12:00:00Z", "9999-12-31T00:00:00Z"]
)
@pytest.mark.parametrize("key", [None, "k"])
def test_add_jobs_rejects_run_at_outside_python_range(
    db: psycopg.Connection, run_at: str, key: str | None
) -> None:
    before = seq_last_values(db)
    err = _raises(db, [{"identifier": "job1"}, {"identifier": "job1", "run_at": run_at,
                                                 "job_key": key}])
    assert err.sqlstate == "GWE01"
    assert err.diag.message_primary.startswith(
        "run_at must be between 0001-01-02 and 9999-12-30 UTC (job spec 2), not ")
    assert err.diag.message_detail and err.diag.message_hint
    assert jobs(db) == [] and seq_last_values(db) == before


@pytest.mark.parametrize("key", [None, "k"])
def test_add_jobs_rejects_payload_jsonb_cannot_hold(
    db: psycopg.Connection, key: str | None
) -> None:
    before = seq_last_values(db)
    # Built with row() (json_populate_recordset would already fail on \u0000 in a string).
    with pytest.raises(psycopg.Error) as caught:
        db.execute(
            "select graphile_worker.add_jobs(array["
            "row('job1', '[\"fine\"]', null, null, null, null, null, null), "
            "row('job1', %s::json, null, null, null, %s, null, null)"
            "]::graphile_worker.job_spec[])",
            ['{"a": "x\\u0000"}', key],
        )
    err: Any = caught.value
    assert err.sqlstate == "GWE03"
    assert err.diag.message_primary == (
        "payload cannot be converted to jsonb (job spec 2): unsupported Unicode escape sequence"
    )
    assert err.diag.message_detail and err.diag.message_hint
    assert jobs(db) == [] and seq_last_values(db) == before


def test_add_jobs_key_stays_replaceable_when_stored_payload_is_not_jsonb(
    db: psycopg.Connection,
) -> None:
    """After add_job('t', '["\\u0000"]', job_key => 'k') was possible (0.1.2) or a Node worker
    wrote such a row, the key can still be replaced: the arrays are joined as text."""
    [row] = add_jobs(db, [{"identifier": "job1", "payload": [0], "job_key": "k"}])
    db.execute(
        "update graphile_worker._private_jobs set payload = '[\"\\u0000\"]'::json where id = %s",
        [row["id"]],
    )
    [merged] = add_jobs(db, [{"identifier": "job1", "payload": [1], "job_key": "k"},
                             {"identifier": "job1", "payload": [2], "job_key": "j"}])[:1]
    assert merged["id"] == row["id"] and merged["revision"] == 1
    assert merged["payload"] == ["\x00", 1]
    assert scalar(
        db, "select payload::text from graphile_worker._private_jobs where id = %s", [row["id"]]
    ) == '["\\u0000", 1]'
