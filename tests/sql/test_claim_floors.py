"""get_jobs claim floors (0.1.4): per task and priority, where the scans of jobs without a queue
start (_private_claim_floors), so that a claim does not walk the index entries of jobs claimed
before it. What must hold: the claim order (priority, run_at, id) and every job claimable,
whatever made it available below a floor (returned, unlocked, rescheduled, enqueued late, a
lower priority, committed late), with or without a snapshot held open by another session."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
from helpers import add_job, add_jobs, call, call_scalar, get_jobs, one, report_jobs, rows, scalar

FLOOR_SQL = (
    "select run_at, id from graphile_worker._private_claim_floors"
    " where task_id = (select id from graphile_worker._private_tasks where identifier = %s)"
    " and priority = %s"
)


def _old_jobs(db: psycopg.Connection, n: int, hours: int = 1, task: str = "job1") -> list[int]:
    """n jobs with run_ats one second apart, from `hours` ago; their ids in order."""
    base = scalar(db, "select now() - make_interval(hours => %s)", [hours])
    made = add_jobs(
        db, [{"identifier": task, "run_at": base + timedelta(seconds=i)} for i in range(n)]
    )
    return sorted(j["id"] for j in made)


def _position(job: dict[str, Any]) -> tuple[Any, ...]:
    return (job["priority"], job["run_at"], job["id"])


def _nothing_available_before(db: psycopg.Connection, batch: list[dict[str, Any]]) -> bool:
    """No job that is still available sorts before the last one of this (single-claimer) batch."""
    last = max(_position(j) for j in batch)
    return (
        scalar(
            db,
            "select count(*) from graphile_worker._private_jobs"
            " where is_available and job_queue_id is null and (priority, run_at, id) < (%s, %s, %s)",
            list(last),
        )
        == 0
    )


def test_claim_floor_moves_past_claimed_jobs_and_applies_the_log(db: psycopg.Connection) -> None:
    ids = _old_jobs(db, 3000)
    # enqueued with a run_at in the past: logged, so that no floor can pass them unseen
    assert scalar(db, "select count(*) from graphile_worker._private_claim_floor_log") == 3000
    claimed: list[dict[str, Any]] = []
    for _ in range(6):
        claimed += get_jobs(db, "w", ["job1"], batch_size=500)
    assert [j["id"] for j in claimed] == ids
    floor = one(db, FLOOR_SQL, ["job1", 0])
    assert floor["run_at"] is not None
    # the floor stands past most of what was claimed, and the log was applied
    assert (floor["run_at"], floor["id"] or 0) > (claimed[2000]["run_at"], claimed[2000]["id"])
    assert scalar(db, "select count(*) from graphile_worker._private_claim_floor_log") == 0
    assert get_jobs(db, "w", ["job1"], batch_size=500) == []


def test_claim_floor_a_job_made_available_below_it_is_claimed_first(
    db: psycopg.Connection,
) -> None:
    ids = _old_jobs(db, 3000, hours=2)
    early = get_jobs(db, "w", ["job1"], batch_size=500)
    for _ in range(3):
        get_jobs(db, "w", ["job1"], batch_size=500)
    assert one(db, FLOOR_SQL, ["job1", 0])["run_at"] is not None

    # returned: first in line again
    assert call_scalar(db, "return_jobs", "w", [early[0]["id"]]) == 1
    [first] = get_jobs(db, "w", ["job1"])
    assert first["id"] == early[0]["id"]

    # unlocked by force_unlock_workers (as a Node admin would)
    call(db, "force_unlock_workers", ["w"])
    batch = get_jobs(db, "w2", ["job1"], batch_size=5)
    assert [j["id"] for j in batch] == ids[:5]

    # rescheduled to an earlier run_at
    target = ids[2500]
    call(db, "reschedule_jobs", [target], run_at=early[0]["run_at"] - timedelta(hours=1))
    [first] = get_jobs(db, "w2", ["job1"])
    assert first["id"] == target

    # enqueued with an older run_at, and with a lower priority
    older = add_job(db, "job1", run_at=early[0]["run_at"] - timedelta(hours=5))
    urgent = add_job(db, "job1", priority=-5)
    assert older is not None and urgent is not None
    batch = get_jobs(db, "w2", ["job1"], batch_size=3)
    assert [j["id"] for j in batch[:2]] == [urgent["id"], older["id"]]
    assert _nothing_available_before(db, batch)


def test_claim_floor_is_not_moved_past_jobs_hidden_by_forbidden_flags(
    db: psycopg.Connection,
) -> None:
    base = scalar(db, "select now() - interval '1 hour'")
    flagged = add_job(db, "job1", run_at=base, flags=["slow"])
    assert flagged is not None
    add_jobs(
        db, [{"identifier": "job1", "run_at": base + timedelta(seconds=1 + i)} for i in range(2000)]
    )
    for _ in range(5):
        got = get_jobs(db, "w", ["job1"], batch_size=500, forbidden_flags=["slow"])
        assert flagged["id"] not in {j["id"] for j in got}
    [first] = get_jobs(db, "w2", ["job1"])
    assert first["id"] == flagged["id"]


def test_claim_floor_under_a_held_repeatable_read_snapshot_keeps_order_and_exactly_once(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    """Another session holds a snapshot open the whole time, so no entry of a claimed or
    deleted job can be removed or marked dead; jobs are claimed, completed, failed, returned
    and added below and above the floors, over three priorities."""
    holder = connect()
    holder.execute("begin isolation level repeatable read")
    holder.execute("select count(*) from graphile_worker._private_jobs")
    base = scalar(db, "select now() - interval '3 hours'")
    specs = [
        {
            "identifier": "job1",
            "priority": (0, 1, -1)[i % 3],
            "run_at": base + timedelta(seconds=i // 7),
        }
        for i in range(4000)
    ]
    made = {j["id"] for j in add_jobs(db, specs)}
    seen: list[int] = []
    step = 0
    while True:
        batch = get_jobs(db, "w", ["job1"], batch_size=150)
        if not batch:
            break
        step += 1
        positions = [_position(j) for j in batch]
        assert positions == sorted(positions)
        assert _nothing_available_before(db, batch)
        seen += [j["id"] for j in batch]
        if step % 4 == 1:
            # give three back and fail one (retried later): they come back below the floors
            assert call_scalar(db, "return_jobs", "w", [j["id"] for j in batch[:3]]) == 3
            report_jobs(
                db,
                "w",
                completed_job_ids=[j["id"] for j in batch[4:]],
                failures=[{"id": batch[3]["id"], "message": "once", "retry_delay": 0}],
            )
            seen = seen[: -len(batch)] + [j["id"] for j in batch[4:]]
        else:
            report_jobs(db, "w", completed_job_ids=[j["id"] for j in batch])
        if step == 5:
            late = add_jobs(
                db,
                [
                    {"identifier": "job1", "priority": p, "run_at": base - timedelta(minutes=1)}
                    for p in (-1, 0, 1)
                ],
            )
            made |= {j["id"] for j in late}
    # the failed ones are due again at once (retry_delay 0): claim them too
    while batch := get_jobs(db, "w", ["job1"], batch_size=150):
        seen += [j["id"] for j in batch]
        report_jobs(db, "w", completed_job_ids=[j["id"] for j in batch])
    holder.execute("rollback")
    assert len(seen) == len(set(seen))
    assert set(seen) == made
    assert scalar(db, "select count(*) from graphile_worker._private_jobs") == 0


def test_claim_floor_does_not_pass_a_job_committed_late(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    """A job written within 200 ms of its run_at is not logged; while its transaction is open,
    floors stop short of it (_private_claim_clock). The floor cap follows the server's clock
    (not get_jobs' now), so this test lets 0.3 s pass on it."""
    # the task exists (so the writer below creates no row that others would wait for), and a
    # first claim takes a first clock sample
    add_job(db, "job1")
    assert len(get_jobs(db, "w", ["job1"])) == 1
    writer = connect()
    writer.execute("begin")
    writer.execute("select graphile_worker.add_job('job1', payload => '{\"late\": true}')")
    db.execute("select pg_sleep(0.3)")
    later = add_jobs(db, [{"identifier": "job1"} for _ in range(3000)])
    db.execute("select pg_sleep(0.3)")
    claimed = []
    for _ in range(7):
        claimed += get_jobs(db, "w", ["job1"], batch_size=500)
    assert len(claimed) == len(later)
    writer.execute("commit")
    [first] = get_jobs(db, "w", ["job1"])
    assert first["payload"] == {"late": True}


def test_claim_floors_rows_are_written_by_get_jobs_only(db: psycopg.Connection) -> None:
    _old_jobs(db, 10)
    assert rows(db, "select * from graphile_worker._private_claim_floors") == []
    get_jobs(db, "w", ["job1"], batch_size=3)
    [floor] = rows(db, "select * from graphile_worker._private_claim_floors")
    assert floor["priority"] == 0
