"""Time zones and DST: Europe/London and America/New_York across both 2024 changes, for a daily
02:30 job (and 01:30, the time London skips and repeats), an hourly job and an every-15-minutes
job, with every expected run listed; and "once per local day" for fixed-time schedules over a
whole year in zones with DST at 01:00, 02:00, midnight and 30-minute shifts."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (schedule, zone, after, until, [(run in UTC, the same run in local time)])
CASES = [
    # London: 2024-03-31 01:00 GMT -> 02:00 BST; 2024-10-27 02:00 BST -> 01:00 GMT
    ("30 2 * * *", "Europe/London", "2024-03-30 00:00", "2024-04-02 00:00", [
        ("2024-03-30 02:30", "2024-03-30 02:30"),
        ("2024-03-31 01:30", "2024-03-31 02:30"),
        ("2024-04-01 01:30", "2024-04-01 02:30"),
    ]),
    ("30 2 * * *", "Europe/London", "2024-10-26 00:00", "2024-10-29 00:00", [
        ("2024-10-26 01:30", "2024-10-26 02:30"),
        ("2024-10-27 02:30", "2024-10-27 02:30"),
        ("2024-10-28 02:30", "2024-10-28 02:30"),
    ]),
    # 01:30 is skipped in spring (runs at 02:00 BST, the first minute after the gap) and
    # happens twice in the fall (runs at the first, BST, one only)
    ("30 1 * * *", "Europe/London", "2024-03-30 00:00", "2024-04-02 00:00", [
        ("2024-03-30 01:30", "2024-03-30 01:30"),
        ("2024-03-31 01:00", "2024-03-31 02:00"),
        ("2024-04-01 00:30", "2024-04-01 01:30"),
    ]),
    ("30 1 * * *", "Europe/London", "2024-10-26 00:00", "2024-10-29 00:00", [
        ("2024-10-26 00:30", "2024-10-26 01:30"),
        ("2024-10-27 00:30", "2024-10-27 01:30"),
        ("2024-10-28 01:30", "2024-10-28 01:30"),
    ]),
    ("0 * * * *", "Europe/London", "2024-03-30 22:00", "2024-03-31 04:00", [
        ("2024-03-30 23:00", "2024-03-30 23:00"),
        ("2024-03-31 00:00", "2024-03-31 00:00"),
        ("2024-03-31 01:00", "2024-03-31 02:00"),
        ("2024-03-31 02:00", "2024-03-31 03:00"),
        ("2024-03-31 03:00", "2024-03-31 04:00"),
        ("2024-03-31 04:00", "2024-03-31 05:00"),
    ]),
    ("0 * * * *", "Europe/London", "2024-10-26 22:00", "2024-10-27 04:00", [
        ("2024-10-26 23:00", "2024-10-27 00:00"),
        ("2024-10-27 00:00", "2024-10-27 01:00"),
        ("2024-10-27 01:00", "2024-10-27 01:00"),
        ("2024-10-27 02:00", "2024-10-27 02:00"),
        ("2024-10-27 03:00", "2024-10-27 03:00"),
        ("2024-10-27 04:00", "2024-10-27 04:00"),
    ]),
    ("*/15 * * * *", "Europe/London", "2024-03-31 00:30", "2024-03-31 01:30", [
        ("2024-03-31 00:45", "2024-03-31 00:45"),
        ("2024-03-31 01:00", "2024-03-31 02:00"),
        ("2024-03-31 01:15", "2024-03-31 02:15"),
        ("2024-03-31 01:30", "2024-03-31 02:30"),
    ]),
    ("*/15 * * * *", "Europe/London", "2024-10-27 00:30", "2024-10-27 01:30", [
        ("2024-10-27 00:45", "2024-10-27 01:45"),
        ("2024-10-27 01:00", "2024-10-27 01:00"),
        ("2024-10-27 01:15", "2024-10-27 01:15"),
        ("2024-10-27 01:30", "2024-10-27 01:30"),
    ]),
    # New York: 2024-03-10 02:00 EST -> 03:00 EDT; 2024-11-03 02:00 EDT -> 01:00 EST
    ("30 2 * * *", "America/New_York", "2024-03-09 00:00", "2024-03-12 12:00", [
        ("2024-03-09 07:30", "2024-03-09 02:30"),
        ("2024-03-10 07:00", "2024-03-10 03:00"),
        ("2024-03-11 06:30", "2024-03-11 02:30"),
        ("2024-03-12 06:30", "2024-03-12 02:30"),
    ]),
    ("30 2 * * *", "America/New_York", "2024-11-02 00:00", "2024-11-05 00:00", [
        ("2024-11-02 06:30", "2024-11-02 02:30"),
        ("2024-11-03 07:30", "2024-11-03 02:30"),
        ("2024-11-04 07:30", "2024-11-04 02:30"),
    ]),
    ("30 1 * * *", "America/New_York", "2024-11-02 00:00", "2024-11-05 00:00", [
        ("2024-11-02 05:30", "2024-11-02 01:30"),
        ("2024-11-03 05:30", "2024-11-03 01:30"),
        ("2024-11-04 06:30", "2024-11-04 01:30"),
    ]),
    ("0 * * * *", "America/New_York", "2024-03-10 04:00", "2024-03-10 10:00", [
        ("2024-03-10 05:00", "2024-03-10 00:00"),
        ("2024-03-10 06:00", "2024-03-10 01:00"),
        ("2024-03-10 07:00", "2024-03-10 03:00"),
        ("2024-03-10 08:00", "2024-03-10 04:00"),
        ("2024-03-10 09:00", "2024-03-10 05:00"),
        ("2024-03-10 10:00", "2024-03-10 06:00"),
    ]),
    ("0 * * * *", "America/New_York", "2024-11-03 03:00", "2024-11-03 09:00", [
        ("2024-11-03 04:00", "2024-11-03 00:00"),
        ("2024-11-03 05:00", "2024-11-03 01:00"),
        ("2024-11-03 06:00", "2024-11-03 01:00"),
        ("2024-11-03 07:00", "2024-11-03 02:00"),
        ("2024-11-03 08:00", "2024-11-03 03:00"),
        ("2024-11-03 09:00", "2024-11-03 04:00"),
    ]),
    ("*/15 * * * *", "America/New_York", "2024-03-10 06:30", "2024-03-10 07:30", [
        ("2024-03-10 06:45", "2024-03-10 01:45"),
        ("2024-03-10 07:00", "2024-03-10 03:00"),
        ("2024-03-10 07:15", "2024-03-10 03:15"),
        ("2024-03-10 07:30", "2024-03-10 03:30"),
    ]),
    ("*/15 * * * *", "America/New_York", "2024-11-03 05:30", "2024-11-03 06:30", [
        ("2024-11-03 05:45", "2024-11-03 01:45"),
        ("2024-11-03 06:00", "2024-11-03 01:00"),
        ("2024-11-03 06:15", "2024-11-03 01:15"),
        ("2024-11-03 06:30", "2024-11-03 01:30"),
    ]),
]


@pytest.mark.parametrize(
    ("schedule", "zone", "after", "until", "expected"),
    CASES,
    ids=[f"{c[1]}-{c[0]}-{c[2][:10]}" for c in CASES],
)
def test_dst_runs_are_the_listed_ones(
    db, times_between, schedule, zone, after, until, expected
) -> None:
    runs = [utc(u) for u, _ in expected]
    # the expectations themselves: each run is the listed local time
    tz = ZoneInfo(zone)
    assert [r.astimezone(tz).strftime("%Y-%m-%d %H:%M") for r in runs] == [lt for _, lt in expected]

    assert times_between(schedule, utc(after), utc(until), zone) == runs
    next_after = [
        db.execute(
            "select graphile_worker.cron_next_after(%s, %s, %s)", (schedule, previous, zone)
        ).fetchone()[0]
        for previous in [utc(after), *runs[:-1]]
    ]
    assert next_after == runs
    # matching minute by minute gives the same runs, and nothing else
    matched = [
        r[0]
        for r in db.execute(
            "select m from graphile_worker.parse_crontab(%s) as i, "
            "generate_series(%s::timestamptz + interval '1 minute', %s, interval '1 minute') m "
            "where graphile_worker.cron_matches(i, m) order by m",
            (f"{schedule} task ?tz={zone}", utc(after), utc(until)),
        )
    ]
    assert matched == runs


@pytest.mark.parametrize(
    ("zone", "year"),
    [
        ("Europe/London", 2024),
        ("America/New_York", 2024),
        ("Australia/Sydney", 2024),
        ("Australia/Lord_Howe", 2024),  # 30-minute DST at 02:00
        ("America/Sao_Paulo", 2018),  # DST at midnight: 00:00-00:59 skipped on 2018-11-04
        ("America/Santiago", 2024),  # changes at 24:00 / 00:00
    ],
)
def test_fixed_time_schedule_runs_once_per_local_day_for_a_year(
    times_between, zone: str, year: int
) -> None:
    tz = ZoneInfo(zone)
    start = datetime(year, 1, 1, tzinfo=tz).astimezone(UTC)
    end = datetime(year + 1, 1, 1, tzinfo=tz).astimezone(UTC) - timedelta(minutes=1)
    days = (date(year + 1, 1, 1) - date(year, 1, 1)).days
    for schedule in ["30 2 * * *", "30 1 * * *", "0 0 * * *", "59 23 * * *", "15 0,1,2 * * *"]:
        runs = times_between(schedule, start - timedelta(minutes=1), end, zone)
        per_day = Counter(r.astimezone(tz).date() for r in runs)
        per_run = len(schedule.split()[1].split(","))
        assert len(per_day) == days, schedule
        assert set(per_day.values()) == {per_run}, (
            schedule, {d: n for d, n in per_day.items() if n != per_run})


def test_time_zone_default_is_utc(times_between) -> None:
    assert times_between("30 2 * * *", utc("2024-03-31 00:00"), utc("2024-03-31 03:00")) == [
        utc("2024-03-31 02:30")
    ]
    assert times_between(
        "30 2 * * *", utc("2024-03-31 00:00"), utc("2024-03-31 03:00"), "UTC"
    ) == [utc("2024-03-31 02:30")]
    assert times_between(
        "30 2 * * *", utc("2024-03-31 00:00"), utc("2024-03-31 03:00"), "Europe/London"
    ) == [utc("2024-03-31 01:30")]
