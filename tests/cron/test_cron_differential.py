"""Differential tests of the due-time functions.

1. Against croniter (the oracle) in UTC: random expressions of the grammar both accept, random
   instants over several years (leap days and month ends favoured); cron_next_after and
   cron_matches must agree with croniter. croniter applies the either-day rule when a day field
   is a full set spelled out (`1-31`, `*/1`, `0-6`), upstream and we do not: such day fields are
   kept out (see docs/cron.md).
2. Against ourselves in time zones: cron_times_between (which jumps over fields and DST changes)
   must equal the minutes for which cron_matches is true, minute by minute, around real DST
   changes of several zones.

`make test` runs GW_CRON_EXAMPLES (default 2000) croniter cases, derandomized; set
GW_CRON_EXAMPLES=50000 for the large, randomized profile.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from croniter import CroniterBadDateError, croniter
from hypothesis import HealthCheck, assume, event, given, note, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("GW_CRON_EXAMPLES", "2000"))
LARGE = EXAMPLES > 2000
SETTINGS: dict[str, Any] = {
    "deadline": None,
    "derandomize": not LARGE,
    "database": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


@st.composite
def field(draw: st.DrawFn, low: int, high: int, names: list[str] | None = None) -> str:
    """One time field: a list of numbers, names, ranges, * and steps within [low, high]."""
    top = 7 if names is DAYS else high  # weekday 7 is Sunday

    def value(lo: int, hi: int) -> str:
        v = draw(st.integers(lo, hi))
        if names is not None and v <= high and draw(st.booleans()):
            name = names[v - low]
            return name.upper() if draw(st.booleans()) else name
        return str(v)

    parts = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["num", "num", "range", "star", "star_step", "range_step"]))
        span = high - low + 1
        if kind == "num":
            parts.append(value(low, top))
        elif kind == "star":
            parts.append("*")
        elif kind == "star_step":
            parts.append(f"*/{draw(st.integers(1, span))}")
        else:
            a = draw(st.integers(low, top - 1))
            b = draw(st.integers(a + 1, top))
            text = f"{value(a, a)}-{value(b, b)}"
            if kind == "range_step":
                text += f"/{draw(st.integers(1, span))}"
            parts.append(text)
    return ",".join(parts)


SHORTHANDS = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]

expressions = st.one_of(
    st.tuples(
        field(0, 59), field(0, 23), field(1, 31), field(1, 12, MONTHS), field(0, 6, DAYS)
    ).map(" ".join),
    # the common shapes, so that sparse and dense schedules are both frequent
    st.tuples(
        st.sampled_from(["0", "*/15", "30", "*", "0,30", "5-10"]),
        st.sampled_from(["*", "4", "*/4", "9-17", "0,12"]),
        st.sampled_from(["*", "1", "29", "31", "15", "28-31", "*/10"]),
        st.sampled_from(["*", "2", "feb", "*/3", "jan-jun"]),
        st.sampled_from(["*", "1", "mon-fri", "0", "7", "sat,sun", "5-7"]),
    ).map(" ".join),
    st.sampled_from(SHORTHANDS),
)

SPECIAL_DAYS = [
    datetime(y, m, d, tzinfo=UTC)
    for y in (2023, 2024, 2027, 2028, 2031)
    for m, d in [(1, 1), (1, 31), (2, 28), (3, 1), (4, 30), (6, 30), (12, 31)]
] + [datetime(2024, 2, 29, tzinfo=UTC), datetime(2028, 2, 29, tzinfo=UTC)]

instants = st.one_of(
    st.datetimes(
        min_value=datetime(2023, 1, 1), max_value=datetime(2031, 12, 31), timezones=st.just(UTC)
    ),
    st.builds(
        lambda day, minute, second: day + timedelta(minutes=minute, seconds=second),
        st.sampled_from(SPECIAL_DAYS),
        st.integers(-90, 24 * 60 + 90),
        st.sampled_from([0, 0, 30, 59]),
    ),
)

QUERY = """
select n, graphile_worker.cron_matches(%(s)s, date_trunc('minute', t, 'UTC')),
  graphile_worker.cron_matches(%(s)s, n), graphile_worker.cron_matches(%(s)s, n - interval '1 minute')
from unnest(%(t)s::timestamptz[]) with ordinality as u(t, i),
  lateral (select graphile_worker.cron_next_after(%(s)s, u.t) as n) as x
order by i
"""


def _croniter_next(expression: str, after: datetime) -> datetime | None:
    try:
        return croniter(expression, after).get_next(datetime)  # type: ignore[no-any-return]
    except CroniterBadDateError:
        return None


@settings(max_examples=EXAMPLES, **SETTINGS)
@given(expression=expressions, times=st.lists(instants, min_size=1, max_size=4))
def test_due_times_agree_with_croniter_in_utc(
    db: psycopg.Connection, expression: str, times: list[datetime]
) -> None:
    if not expression.startswith("@"):
        restricted = db.execute(
            "select dom_restricted, dow_restricted "
            "from graphile_worker.parse_crontab(%s || ' task')",
            (expression,),
        ).fetchone()
        assert restricted is not None
        dom, dow = expression.split()[2], expression.split()[4]
        # a day field that is the full set but not written `*` is read differently by croniter
        assume((restricted[0] or dom == "*") and (restricted[1] or dow == "*"))
    results = db.execute(QUERY, {"s": expression, "t": times}).fetchall()
    for t, (ours_next, ours_match, match_at_next, match_before_next) in zip(
        times, results, strict=True
    ):
        note(f"{expression!r} after {t.isoformat()}")
        expected = _croniter_next(expression, t)
        assert ours_next == expected
        minute = t.replace(second=0, microsecond=0)
        assert ours_match == croniter.match(expression, minute)
        if expected is not None:
            assert match_at_next is True
            before = expected - timedelta(minutes=1)
            assert match_before_next == croniter.match(expression, before)


# Real changes: spring-forward and fall-back in both hemispheres, a 30-minute DST (Lord Howe),
# DST at midnight (Sao Paulo 2018), a permanent offset change (Moscow 2014) and a skipped
# calendar day (Apia 2011-12-30).
TRANSITIONS = [
    ("Europe/London", datetime(2024, 3, 31, 1, tzinfo=UTC)),
    ("Europe/London", datetime(2024, 10, 27, 1, tzinfo=UTC)),
    ("America/New_York", datetime(2024, 3, 10, 7, tzinfo=UTC)),
    ("America/New_York", datetime(2024, 11, 3, 6, tzinfo=UTC)),
    ("Australia/Sydney", datetime(2024, 4, 6, 16, tzinfo=UTC)),
    ("Australia/Sydney", datetime(2024, 10, 5, 16, tzinfo=UTC)),
    ("Australia/Lord_Howe", datetime(2024, 4, 6, 15, tzinfo=UTC)),
    ("Australia/Lord_Howe", datetime(2024, 10, 5, 15, 30, tzinfo=UTC)),
    ("America/Sao_Paulo", datetime(2018, 11, 4, 3, tzinfo=UTC)),
    ("America/Sao_Paulo", datetime(2019, 2, 17, 2, tzinfo=UTC)),
    ("Europe/Moscow", datetime(2014, 10, 25, 22, tzinfo=UTC)),
    ("Pacific/Apia", datetime(2011, 12, 30, 10, tzinfo=UTC)),
]

tz_expressions = st.one_of(
    st.tuples(
        st.sampled_from(["0", "30", "*/15", "0,45", "59", "*", "10-20/5", "0-2"]),
        st.sampled_from(["*", "0", "1", "2", "3", "*/2", "1-3", "0,2", "23", "22-23"]),
        st.sampled_from(["*", "*", "30", "1-15", "*/2"]),
        st.just("*"),
        st.sampled_from(["*", "*", "sun", "mon-fri", "sat"]),
    ).map(" ".join),
    st.sampled_from(["@daily", "@hourly", "@weekly"]),
)


@settings(max_examples=max(150, EXAMPLES // 20), **SETTINGS)
@given(
    expression=tz_expressions,
    transition=st.sampled_from(TRANSITIONS),
    # windows that mostly contain the change: a few minutes to three days
    start_minutes=st.integers(-36 * 60, 0),
    length_minutes=st.sampled_from([3 * 1440, 2 * 1440, 1440, 720, 180, 60, 17]),
)
def test_jumping_search_equals_minute_by_minute_matching_across_dst(
    db: psycopg.Connection,
    expression: str,
    transition: tuple[str, datetime],
    start_minutes: int,
    length_minutes: int,
) -> None:
    zone, change = transition
    after = change + timedelta(minutes=start_minutes)
    until = after + timedelta(minutes=length_minutes)
    crontab = f"{expression} task ?tz={zone}"
    jumped = [
        r[0]
        for r in db.execute(
            "select t from graphile_worker.parse_crontab(%s) as i, "
            "graphile_worker.cron_times_between(i, %s, %s) as t",
            (crontab, after, until),
        )
    ]
    walked = [
        r[0]
        for r in db.execute(
            "select m from graphile_worker.parse_crontab(%s) as i, "
            "generate_series(%s::timestamptz + interval '1 minute', %s, interval '1 minute') as m "
            "where graphile_worker.cron_matches(i, m) order by m",
            (crontab, after, until),
        )
    ]
    note(f"{crontab!r} in ({after.isoformat()}, {until.isoformat()}]")
    assert jumped == walked
    event(f"runs in the window: {'none' if not walked else 'some'}")
