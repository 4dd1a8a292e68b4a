"""Bounded work for runner-level callers (issue 19, finding 5).

cron_times_between('* * * * *', '1900-01-01', '2200-01-01') asks for 157 million times and ran
until statement_timeout. cron_times_between (both forms) now returns at most max_results times
(default 10000, at most 1000000) and raises GWC10 beyond; schedule_crontab schedules at most
100000 minutes per item and call. Calls within the bounds return what they did.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from helpers import jobs, rows, scalar


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def runner(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> Iterator[psycopg.Connection]:
    """A connection of a runner-level role, with a statement_timeout so that a regression
    fails instead of running for hours."""
    name = f"gw_cron_runner_{uuid.uuid4().hex[:8]}"
    db.execute(f'create role "{name}" login')
    db.execute("select graphile_worker.grant_role(%s, 'runner')", (name,))
    conn = connect(user=name)
    conn.execute("set statement_timeout = '10s'")
    yield conn
    conn.close()
    db.execute(f'drop owned by "{name}"')
    db.execute(f'drop role "{name}"')


def _error(conn: psycopg.Connection, sql: str, params: tuple[object, ...] = ()) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(sql, params)
    return caught.value


def test_cron_times_between_of_three_centuries_fails_fast_with_gwc10(runner) -> None:
    started = time.monotonic()
    e = _error(runner, "select count(*) from graphile_worker.cron_times_between("
                       "'* * * * *', '1900-01-01', '2200-01-01')")
    assert e.sqlstate == "GWC10", e
    assert time.monotonic() - started < 5
    assert e.diag.message_primary == (
        "cron: schedule '* * * * *' is due more than 10000 times between "
        "1900-01-01 00:00:00+00 and 2200-01-01 00:00:00+00")
    assert e.diag.message_detail == (
        "cron_times_between returns at most max_results (10000) times; time "
        "1900-01-07 22:41:00+00 would be number 10001.")
    assert e.diag.message_hint is not None and "max_results" in e.diag.message_hint


def test_cron_times_between_of_a_parsed_item_is_bounded_too(runner) -> None:
    e = _error(runner, "select count(*) from graphile_worker.parse_crontab('* * * * * t') as i, "
                       "graphile_worker.cron_times_between(i, '2024-01-01', 'infinity') as t")
    assert e.sqlstate == "GWC10", e


def test_cron_times_between_within_the_bound_returns_every_time(runner) -> None:
    sql = ("select count(*) from graphile_worker.cron_times_between("
           "'* * * * *', '2024-02-28', '2024-03-01', max_results => %s)")
    assert scalar(runner, "select count(*) from graphile_worker.cron_times_between("
                          "'* * * * *', '2024-02-28', '2024-03-01')") == 2 * 1440
    assert scalar(runner, sql, (2880,)) == 2880
    assert _error(runner, sql, (2879,)).sqlstate == "GWC10"
    # a larger bound for a longer window: 90 days of minutes
    assert scalar(runner, "select count(*) from graphile_worker.cron_times_between("
                          "'* * * * *', '2024-01-01', '2024-03-31', 'Europe/Paris', "
                          "max_results => 200000)") == 90 * 1440
    # a sparse schedule over centuries stays within the default
    assert scalar(runner, "select count(*) from graphile_worker.cron_times_between("
                          "'0 0 1 1 *', '1900-01-01', '2200-01-01')") == 300


@pytest.mark.parametrize("max_results", [0, -1, 1000001])
def test_cron_times_between_rejects_a_bound_outside_1_to_1000000(runner, max_results) -> None:
    e = _error(runner, "select count(*) from graphile_worker.cron_times_between("
                       "'* * * * *', '2024-01-01', '2024-01-02', max_results => %s)",
               (max_results,))
    assert e.sqlstate == "GWA02", e
    assert e.diag.message_detail and e.diag.message_hint


def test_cron_times_between_keeps_its_calls_unambiguous(runner) -> None:
    # positional calls of both forms, with and without the time zone, resolve as before
    assert scalar(runner, "select count(*) from graphile_worker.cron_times_between("
                          "'0 * * * *', '2024-01-01', '2024-01-02')") == 24
    assert scalar(runner, "select count(*) from graphile_worker.cron_times_between("
                          "'0 * * * *', '2024-01-01', '2024-01-02', 'Asia/Kolkata')") == 24
    assert scalar(runner, "select count(*) from graphile_worker.parse_crontab('0 * * * * t') i, "
                          "graphile_worker.cron_times_between(i, '2024-01-01', '2024-01-02', 30) t"
                  ) == 24


def test_schedule_crontab_of_more_than_100000_minutes_fails_fast_and_schedules_nothing(
    db: psycopg.Connection, runner
) -> None:
    # Known for three years, never executed, a fill of 200 weeks: three years of minutes due.
    db.execute("insert into graphile_worker._private_known_crontabs values "
               "('every_minute', now() - interval '3 years', null)")
    started = time.monotonic()
    e = _error(runner, "select count(*) from graphile_worker.schedule_crontab("
                       "'* * * * * every_minute ?fill=200w')")
    assert e.sqlstate == "GWC10", e
    assert time.monotonic() - started < 5
    assert e.diag.message_primary.startswith(
        "cron: item 'every_minute' has more than 100000 due minutes to schedule from ")
    assert e.diag.message_hint == "Shorten the item's fill option, or pass a later since."
    assert jobs(db) == []
    assert scalar(db, "select last_execution from graphile_worker._private_known_crontabs") is None


def test_schedule_crontab_within_the_bound_backfills_as_before(db: psycopg.Connection) -> None:
    now = at("2024-01-10 09:30:10")
    db.execute("insert into graphile_worker._private_known_crontabs values ('every_minute', %s, %s)",
               (now - timedelta(days=14), now - timedelta(days=2)))
    scheduled = rows(db, "select * from graphile_worker.schedule_crontab(%s, now => %s)",
                     ("* * * * * every_minute ?fill=1d", now))
    assert len(scheduled) == 1440  # the minutes of the last day, the current one not backfilled
    assert [s["backfilled"] for s in scheduled].count(False) == 1
