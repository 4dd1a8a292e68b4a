"""schedule_crontab / register_crontab: registration, upstream's cron.test.ts and
cron-timing.test.ts cases (backfill counts, clock reversal, skew, jobKey replacement), the
exactly-once guard under concurrent schedulers, catch-up, and the job that is produced."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from helpers import jobs, one, rows, scalar, snapshot


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def schedule(
    conn: psycopg.Connection, crontab: str, now: datetime, since: datetime | None = None
) -> list[dict[str, Any]]:
    return rows(
        conn,
        "select * from graphile_worker.schedule_crontab(%s, since => %s, now => %s)",
        (crontab, since, now),
    )


def known(conn: psycopg.Connection) -> dict[str, tuple[datetime, datetime | None]]:
    return {
        r["identifier"]: (r["known_since"], r["last_execution"])
        for r in rows(conn, "select * from graphile_worker._private_known_crontabs")
    }


def cron_ts(job: dict[str, Any]) -> tuple[str, bool]:
    return job["payload"]["_cron"]["ts"], job["payload"]["_cron"]["backfilled"]


EVERY_4H = "0 */4 * * * do_it ?fill=1d"


def test_register_crontab_records_new_items_once(db) -> None:
    now = at("2024-01-10 09:30:10")
    crontab = "0 */4 * * * do_it ?fill=1d\n@daily report ?id=daily_report"
    assert scalar(db, "select graphile_worker.register_crontab(%s, %s)", (crontab, now)) == 2
    assert scalar(db, "select graphile_worker.register_crontab(%s, %s)", (crontab, now)) == 0
    assert known(db) == {"do_it": (now, None), "daily_report": (now, None)}
    assert jobs(db) == []


def test_schedule_crontab_registers_identifiers_without_jobs(db) -> None:
    # cron.test.ts "registers identifiers"
    now = at("2024-01-10 09:30:10")
    assert schedule(db, EVERY_4H, now) == []
    assert known(db) == {"do_it": (now, None)}
    assert jobs(db) == []


def test_schedule_crontab_does_not_backfill_a_new_item(db) -> None:
    now = at("2024-01-10 09:30:10")
    schedule(db, "* * * * * every_minute ?fill=1w", now)
    [job] = jobs(db)
    # only the current minute, not a week of minutes before the item was known
    assert cron_ts(job) == ("2024-01-10T09:30:00.000Z", False)


@pytest.mark.parametrize(
    ("now", "last_execution", "expected"),
    [
        # cron.test.ts "backfills if identifier already registered (5h)": 1-2 jobs
        ("2024-01-10 09:30:10", "2024-01-10 04:30:10", ["2024-01-10T08:00:00.000Z"]),
        (
            "2024-01-10 08:10:00",
            "2024-01-10 03:10:00",
            ["2024-01-10T04:00:00.000Z", "2024-01-10T08:00:00.000Z"],
        ),
        # cron.test.ts "backfills if identifier already registered (25h)": 6-7 jobs
        (
            "2024-01-10 09:30:10",
            "2024-01-09 08:30:10",
            [f"2024-01-{d}T{h}:00:00.000Z" for d, h in [
                ("09", "12"), ("09", "16"), ("09", "20"), ("10", "00"), ("10", "04"),
                ("10", "08")]],
        ),
    ],
)
def test_schedule_crontab_backfills_known_item_within_fill(
    db, now: str, last_execution: str, expected: list[str]
) -> None:
    db.execute(
        "insert into graphile_worker._private_known_crontabs values ('do_it', %s, %s)",
        (at(now) - timedelta(days=14), at(last_execution)),
    )
    scheduled = schedule(db, EVERY_4H, at(now))
    assert [cron_ts(j) for j in jobs(db)] == [(ts, True) for ts in expected]
    assert [s["backfilled"] for s in scheduled] == [True] * len(expected)
    assert [s["job_id"] for s in scheduled] == [j["id"] for j in jobs(db)]
    assert known(db)["do_it"][1] == datetime.fromisoformat(expected[-1])


def test_schedule_crontab_backfill_of_25h_on_a_boundary_gives_seven(db) -> None:
    now = at("2024-01-10 08:00:00")
    db.execute(
        "insert into graphile_worker._private_known_crontabs values ('do_it', %s, %s)",
        (now - timedelta(days=14), now - timedelta(hours=25)),
    )
    schedule(db, EVERY_4H, now)
    assert [cron_ts(j) for j in jobs(db)] == [
        ("2024-01-09T08:00:00.000Z", True),
        ("2024-01-09T12:00:00.000Z", True),
        ("2024-01-09T16:00:00.000Z", True),
        ("2024-01-09T20:00:00.000Z", True),
        ("2024-01-10T00:00:00.000Z", True),
        ("2024-01-10T04:00:00.000Z", True),
        ("2024-01-10T08:00:00.000Z", False),
    ]


def test_schedule_crontab_backfills_from_known_since_when_never_run(db) -> None:
    now = at("2024-01-10 09:30:10")
    db.execute(
        "insert into graphile_worker._private_known_crontabs values ('do_it', %s, null)",
        (at("2024-01-10 02:00:00"),),
    )
    schedule(db, EVERY_4H, now)
    assert [cron_ts(j) for j in jobs(db)] == [
        ("2024-01-10T04:00:00.000Z", True),
        ("2024-01-10T08:00:00.000Z", True),
    ]


def test_schedule_crontab_without_fill_does_not_backfill(db) -> None:
    now = at("2024-01-10 09:30:10")
    db.execute(
        "insert into graphile_worker._private_known_crontabs values ('do_it', %s, %s)",
        (now - timedelta(days=14), now - timedelta(hours=25)),
    )
    assert schedule(db, "0 */4 * * * do_it", now) == []
    assert jobs(db) == []


def test_schedule_crontab_produces_upstream_job(db) -> None:
    # cron-timing.test.ts: fires at 4:00 (not 3:00) with _cron.ts exactly 4:00; payload merged
    crontab = (
        '0 4 * * * send_report ?max=3&queue=reports&priority=-2 {"to": "ops", "_cron": "mine"}'
    )
    assert schedule(db, crontab, at("2024-01-10 03:00:01")) == []
    [scheduled] = schedule(db, crontab, at("2024-01-10 04:00:01"))
    assert scheduled["identifier"] == "send_report"
    assert scheduled["task_identifier"] == "send_report"
    assert scheduled["scheduled_at"] == at("2024-01-10 04:00:00")
    assert scheduled["backfilled"] is False
    [job] = jobs(db)
    assert job["id"] == scheduled["job_id"]
    assert job["task_identifier"] == "send_report"
    assert job["payload"] == {
        "to": "ops", "_cron": {"ts": "2024-01-10T04:00:00.000Z", "backfilled": False}
    }
    assert job["run_at"] == at("2024-01-10 04:00:00")
    assert job["queue_name"] == "reports"
    assert job["max_attempts"] == 3
    assert job["priority"] == -2
    assert job["key"] is None
    assert job["flags"] is None
    assert known(db)["send_report"][1] == at("2024-01-10 04:00:00")


def test_schedule_crontab_repeated_or_earlier_minute_schedules_nothing(db) -> None:
    crontab = "* * * * * tick"
    assert len(schedule(db, crontab, at("2024-01-10 04:00:01"))) == 1
    # the same minute again (a second runner, or the timer firing twice)
    assert schedule(db, crontab, at("2024-01-10 04:00:40")) == []
    # cron-timing.test.ts "clock reversal": back to 3:00, then forward to 4:00 again
    assert schedule(db, crontab, at("2024-01-10 03:00:01")) == []
    assert schedule(db, crontab, at("2024-01-10 03:59:59")) == []
    assert schedule(db, crontab, at("2024-01-10 04:00:30")) == []
    assert len(schedule(db, crontab, at("2024-01-10 04:01:00"))) == 1
    assert [cron_ts(j)[0] for j in jobs(db)] == [
        "2024-01-10T04:00:00.000Z", "2024-01-10T04:01:00.000Z"]


def test_schedule_crontab_clock_skew_before_the_minute_never_fires(db) -> None:
    # cron-timing.test.ts "clock skew": 3:59:00 <-> 3:59:30 ten times, then 4:00:01
    crontab = "0 4 * * * do_it"
    for _ in range(10):
        assert schedule(db, crontab, at("2024-01-10 03:59:00")) == []
        assert schedule(db, crontab, at("2024-01-10 03:59:30")) == []
    assert len(schedule(db, crontab, at("2024-01-10 04:00:01"))) == 1
    assert len(jobs(db)) == 1


def test_schedule_crontab_job_key_replaces_previous_job(db) -> None:
    # cron-timing.test.ts: with ?jobKey=foo the 4:00 job is replaced in place at 8:00
    crontab = "0 */4 * * * do_it ?jobKey=foo"
    [first] = schedule(db, crontab, at("2024-01-10 04:00:01"))
    [second] = schedule(db, crontab, at("2024-01-10 08:00:01"))
    assert second["job_id"] == first["job_id"]
    [job] = jobs(db)
    assert job["key"] == "foo"
    assert job["revision"] == 1
    assert cron_ts(job) == ("2024-01-10T08:00:00.000Z", False)
    assert job["run_at"] == at("2024-01-10 08:00:00")


def test_schedule_crontab_job_key_mode_preserve_run_at(db) -> None:
    crontab = "0 */4 * * * do_it ?jobKey=foo&jobKeyMode=preserve_run_at"
    schedule(db, crontab, at("2024-01-10 04:00:01"))
    schedule(db, crontab, at("2024-01-10 08:00:01"))
    [job] = jobs(db)
    assert cron_ts(job) == ("2024-01-10T08:00:00.000Z", False)
    assert job["run_at"] == at("2024-01-10 04:00:00")


def test_schedule_crontab_catches_up_minutes_since_previous_call(db) -> None:
    crontab = "* * * * * tick\n*/2 * * * * tock ?fill=1h"
    schedule(db, crontab, at("2024-01-10 04:00:00.5"))
    # the runner was paused: its next call comes 5 minutes late and says when it last ran
    scheduled = schedule(db, crontab, at("2024-01-10 04:05:00.3"), since=at("2024-01-10 04:00:00.5"))
    assert [(s["identifier"], s["scheduled_at"].minute, s["backfilled"]) for s in scheduled] == [
        ("tick", 1, False), ("tick", 2, False), ("tick", 3, False), ("tick", 4, False),
        ("tick", 5, False), ("tock", 2, False), ("tock", 4, False),
    ]
    # without `since`, missed minutes are only recovered through fill (marked backfilled)
    scheduled = schedule(db, crontab, at("2024-01-10 04:09:00.3"))
    assert [(s["identifier"], s["scheduled_at"].minute, s["backfilled"]) for s in scheduled] == [
        ("tick", 9, False), ("tock", 6, True), ("tock", 8, True),
    ]


def test_schedule_crontab_accepts_items_parsed_once(db) -> None:
    db.execute(
        "create temp table items as "
        "select array(select i from graphile_worker.parse_crontab('0 4 * * * a\n0 5 * * * b') i)"
        " as items"
    )
    got = rows(
        db,
        "select s.* from items, graphile_worker.schedule_crontab(items.items, now => %s) s",
        (at("2024-01-10 05:00:10"),),
    )
    assert [g["identifier"] for g in got] == ["b"]
    assert set(known(db)) == {"a", "b"}


def test_schedule_crontab_bad_crontab_changes_nothing(db) -> None:
    schedule(db, "* * * * * tick", at("2024-01-10 04:00:01"))
    before = snapshot(db)
    with pytest.raises(psycopg.Error) as exc:
        schedule(db, "* * * * * tick\n* * * * * new_one\n61 * * * * bad", at("2024-01-10 04:01:01"))
    assert exc.value.sqlstate == "GWC02"
    assert snapshot(db) == before
    with pytest.raises(psycopg.Error) as exc:
        db.execute("select * from graphile_worker.schedule_crontab(null::text)")
    assert exc.value.sqlstate == "GWC09"
    with pytest.raises(psycopg.Error) as exc:
        db.execute("select * from graphile_worker.schedule_crontab('', now => null)")
    assert exc.value.sqlstate == "GWC09"


def test_schedule_crontab_three_runners_schedule_a_minute_once(db, connect) -> None:
    crontab = "* * * * * tick\n*/5 * * * * tock ?fill=1h"
    now = at("2024-01-10 04:05:00.2")
    db.execute(
        "insert into graphile_worker._private_known_crontabs values "
        "('tick', %s, null), ('tock', %s, %s)",
        (now - timedelta(days=1), now - timedelta(days=1), now - timedelta(minutes=30)),
    )
    runners = [connect(autocommit=False) for _ in range(3)]
    first = runners[0]
    got_first = schedule(first, crontab, now)  # holds the guard rows until it commits
    results: list[list[dict[str, Any]]] = []
    errors: list[BaseException] = []

    def run(conn: psycopg.Connection, now_: datetime) -> None:
        try:
            results.append(schedule(conn, crontab, now_))
            conn.commit()
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    threads = [
        threading.Thread(target=run, args=(conn, now + timedelta(seconds=i * 10)))
        for i, conn in enumerate(runners[1:], start=1)
    ]
    for t in threads:
        t.start()
    # both others wait for the first one's guard rows
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        waiting = scalar(
            db,
            "select count(*) from pg_stat_activity where wait_event_type = 'Lock' "
            "and datname = current_database()",
        )
        if waiting == 2:
            break
        time.sleep(0.05)
    assert waiting == 2
    assert all(t.is_alive() for t in threads)
    first.commit()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert results == [[], []]
    # tick: the current minute; tock: 04:05 now plus the backfilled 03:40 .. 04:00
    assert [(g["identifier"], g["scheduled_at"].strftime("%H:%M"), g["backfilled"])
            for g in got_first] == [
        ("tick", "04:05", False),
        ("tock", "03:40", True), ("tock", "03:45", True), ("tock", "03:50", True),
        ("tock", "03:55", True), ("tock", "04:00", True), ("tock", "04:05", False),
    ]
    assert len(jobs(db)) == 7


def test_schedule_crontab_identifier_shared_by_two_crontabs_fires_once(db) -> None:
    now = at("2024-01-10 04:00:01")
    schedule(db, "0 4 * * * a ?id=shared", now)
    assert schedule(db, "0 4 * * * b ?id=shared", now) == []
    assert [j["task_identifier"] for j in jobs(db)] == ["a"]


def test_schedule_crontab_in_a_time_zone_runs_once_per_local_day(db) -> None:
    # a runner calling every minute through both New York DST nights of 2024
    crontab = "30 2 * * * nightly ?tz=America/New_York\n0 * * * * hourly ?tz=America/New_York"
    for start in (at("2024-03-10 04:00:00"), at("2024-11-03 03:00:00")):
        schedule(db, crontab, start - timedelta(minutes=1))
        for minute in range(6 * 60):
            schedule(db, crontab, start + timedelta(minutes=minute, seconds=1))
    nightly = [j["run_at"] for j in jobs(db) if j["task_identifier"] == "nightly"]
    hourly = [j["run_at"] for j in jobs(db) if j["task_identifier"] == "hourly"]
    # spring: 02:30 does not exist, runs at 03:00 EDT; fall: 02:30 EST once
    assert nightly == [at("2024-03-10 07:00"), at("2024-11-03 07:30")]
    # every real hour in both nights, including both 01:00 in the fall
    assert hourly == [at("2024-03-10 04:00") + timedelta(hours=h) for h in range(6)] + [
        at("2024-11-03 03:00") + timedelta(hours=h) for h in range(6)
    ]


def test_schedule_crontab_payload_is_a_copy_per_job(db) -> None:
    db.execute(
        "insert into graphile_worker._private_known_crontabs values ('t', %s, null)",
        (at("2024-01-01 00:00"),),
    )
    # fill=3h reaches back to 01:00:01, so 02:00 and 03:00 are backfilled
    schedule(db, '0 * * * * t ?fill=3h {"n": [1, 2]}', at("2024-01-10 04:00:01"))
    got = [(j["payload"]["n"], cron_ts(j)) for j in jobs(db)]
    assert got == [
        ([1, 2], ("2024-01-10T02:00:00.000Z", True)),
        ([1, 2], ("2024-01-10T03:00:00.000Z", True)),
        ([1, 2], ("2024-01-10T04:00:00.000Z", False)),
    ]
    assert one(db, "select count(*) as n from graphile_worker._private_tasks")["n"] == 1
