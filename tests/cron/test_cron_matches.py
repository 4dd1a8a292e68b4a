"""cron_matches / cron_next_after / cron_times_between in UTC: upstream's cronMatcher.test.ts
cases, the either-day rule, impossible schedules, leap days, month ends and interval bounds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from helpers import scalar


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def matches(db, schedule: str, at: str) -> bool:
    return bool(scalar(db, "select graphile_worker.cron_matches(%s, %s)", (schedule, utc(at))))


def next_after(db, schedule: str, after: str) -> datetime | None:
    return scalar(db, "select graphile_worker.cron_next_after(%s, %s)", (schedule, utc(after)))  # type: ignore[no-any-return]


def test_every_minute_matches_any_minute(db) -> None:
    for at in ["2024-01-01 00:00", "2024-02-29 13:37", "2031-12-31 23:59"]:
        assert matches(db, "* * * * *", at)


def test_weekday_range_matches_friday_and_saturday_only(db) -> None:
    # 2024-07-05 is a Friday
    got = [matches(db, "* * * * 5-6", f"2024-07-{d:02d} 12:00") for d in range(1, 8)]
    assert got == [False, False, False, False, True, True, False]


def test_both_day_fields_restricted_match_either(db) -> None:
    # cronMatcher.test.ts: 0-5 15 3-4 7 0-2 -> July 3rd/4th or a Sunday-Tuesday, 15:00-15:05
    schedule = "0-5 15 3-4 7 0-2"
    assert matches(db, schedule, "2024-07-03 15:00")  # Wednesday, day 3
    assert matches(db, schedule, "2024-07-04 15:05")  # Thursday, day 4
    assert matches(db, schedule, "2024-07-07 15:02")  # Sunday
    assert matches(db, schedule, "2024-07-09 15:00")  # Tuesday
    assert not matches(db, schedule, "2024-07-10 15:00")  # Wednesday, day 10
    assert not matches(db, schedule, "2024-07-03 15:06")
    assert not matches(db, schedule, "2024-07-03 14:00")
    assert not matches(db, schedule, "2024-08-04 15:00")  # Sunday, but August


def test_only_one_day_field_restricted_must_match_it(db) -> None:
    assert not matches(db, "0 0 1-31 * 1", "2024-07-02 00:00")  # 1-31 counts as *
    assert matches(db, "0 0 1-31 * 1", "2024-07-01 00:00")
    assert not matches(db, "0 0 13 * 0-7", "2024-07-12 00:00")  # 0-7 counts as *
    assert matches(db, "0 0 13 * 0-7", "2024-07-13 00:00")


def test_matches_uses_the_minute_containing_the_instant(db) -> None:
    assert matches(db, "0 4 * * *", "2024-01-01 04:00:59.999")
    assert not matches(db, "0 4 * * *", "2024-01-01 04:01:00")
    assert next_after(db, "0 4 * * *", "2024-01-01 03:59:59") == utc("2024-01-01 04:00")
    assert next_after(db, "0 4 * * *", "2024-01-01 04:00") == utc("2024-01-02 04:00")
    assert next_after(db, "0 4 * * *", "2024-01-01 04:00:30") == utc("2024-01-02 04:00")


@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        ("0 0 29 2 *", "2024-03-01 00:00", "2028-02-29 00:00"),
        ("0 0 29 2 *", "2096-03-01 00:00", "2104-02-29 00:00"),  # 2100 is not a leap year
        ("0 0 31 * *", "2024-01-31 00:00", "2024-03-31 00:00"),
        ("59 23 30,31 * *", "2024-02-01 00:00", "2024-03-30 23:59"),
        ("0 12 * * 1", "2024-12-30 12:00", "2025-01-06 12:00"),
        ("*/7 * * * *", "2024-12-31 23:56", "2025-01-01 00:00"),
        ("0 0 1 jan *", "2024-01-01 00:00", "2025-01-01 00:00"),
        ("@weekly", "2024-02-29 12:00", "2024-03-03 00:00"),
        ("0 0 29 2 mon", "2024-02-27 00:00", "2024-02-29 00:00"),  # either: 29th comes first
        ("0 0 29 2 mon", "2024-02-29 00:00", "2025-02-03 00:00"),  # then a February Monday
    ],
)
def test_next_after_jumps_over_months_and_years(db, schedule, after, expected) -> None:
    assert next_after(db, schedule, after) == utc(expected)


def test_impossible_schedule_never_fires(db, times_between) -> None:
    assert next_after(db, "0 0 30 2 *", "2024-01-01 00:00") is None
    assert next_after(db, "0 0 31 4,6,9,11 *", "2024-01-01 00:00") is None
    assert times_between("0 0 30 2 *", utc("2024-01-01"), utc("2034-01-01")) == []


def test_times_between_excludes_after_and_includes_until(times_between) -> None:
    got = times_between("0 * * * *", utc("2024-01-01 01:00"), utc("2024-01-01 04:00"))
    assert got == [utc("2024-01-01 02:00"), utc("2024-01-01 03:00"), utc("2024-01-01 04:00")]
    assert times_between("0 * * * *", utc("2024-01-01 04:00"), utc("2024-01-01 01:00")) == []
    assert len(times_between("* * * * *", utc("2024-02-28"), utc("2024-03-01"))) == 2 * 1440


def test_parsed_items_and_schedule_text_give_the_same_answers(db) -> None:
    row = db.execute(
        "select graphile_worker.cron_next_after(i, %s), graphile_worker.cron_matches(i, %s), "
        "graphile_worker.cron_next_after(%s, %s) "
        "from graphile_worker.parse_crontab(%s) i",
        (utc("2024-05-01"), utc("2024-05-06 09:00"), "0 9 * * mon-fri", utc("2024-05-01"),
         "0 9 * * mon-fri task"),
    ).fetchone()
    assert row == (utc("2024-05-01 09:00"), True, utc("2024-05-01 09:00"))
    assert scalar(db, "select graphile_worker.cron_matches(null::text, now())") is None


def test_infinite_instants_have_no_due_time(db) -> None:
    assert scalar(db, "select graphile_worker.cron_next_after('* * * * *', 'infinity')") is None
    assert scalar(db, "select graphile_worker.cron_next_after('* * * * *', '-infinity')") is None
