"""parse_crontab: upstream's crontab.test.ts cases (expansion, options, payload, nested tasks,
each error), the extended grammar (names, steps on ranges, @ shorthands, tz) and one clear
error per bad line with its SQLSTATE."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from helpers import scalar

ALL_MINUTES = list(range(60))
ALL_HOURS = list(range(24))
ALL_DAYS = list(range(1, 32))
ALL_MONTHS = list(range(1, 13))
ALL_WEEKDAYS = list(range(7))

UPSTREAM_CRONTAB = """\
# ┌───────────── UTC minute (0 - 59)
# │ ┌───────────── UTC hour (0 - 23)
# │ │ ┌───────────── UTC day of the month (1 - 31)
# │ │ │ ┌───────────── UTC month (1 - 12)
# │ │ │ │ ┌───────────── UTC day of the week (0 - 6) (Sunday to Saturday)
# │ │ │ │ │
# * * * * * task ?opts {payload}

* * * * * simple
0 4 * * * every_day_at_4_am
0 4 * * 0 every_sunday_at_4_am
0 4 * * 7 every_sunday_at_4_am ?id=sunday_7
0 4 * * 1 every_monday_at_4_am {isMonday: true}
0 4 * * 1 every_monday_at_4_am ?id=monday_json {"isMonday": true}
*/10,7,56-59 1 1 1 1 one ?id=stuff&fill=4w3d2h1m&max=3&queue=my_queue&priority=3 {"myExtraPayload":{"stuff":"here with # hash char"}}
    *     *      *       *       *      lots_of_spaces{TRAILING}
* * * * * with_key ?jobKey=my_key
* * * * * with_key_and_mode ?jobKey=my_key&jobKeyMode=preserve_run_at
* * * * * one/two/three
""".replace("{TRAILING}", "   \t  ")


def _error(db: psycopg.Connection, crontab: str) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as exc:
        db.execute("select * from graphile_worker.parse_crontab(%s)", (crontab,))
    return exc.value


def test_parse_crontab_reads_upstream_example_with_strict_json(parse) -> None:
    # Upstream's example has a JSON5 payload ({isMonday: true}); we accept strict JSON only.
    crontab = UPSTREAM_CRONTAB.replace(
        "0 4 * * 1 every_monday_at_4_am {isMonday: true}\n", ""
    ).replace("?id=monday_json ", "")
    items = {i["identifier"]: i for i in parse(crontab)}
    assert list(items) == [
        "simple", "every_day_at_4_am", "every_sunday_at_4_am", "sunday_7",
        "every_monday_at_4_am", "stuff", "lots_of_spaces", "with_key", "with_key_and_mode",
        "one/two/three",
    ]
    simple = items["simple"]
    assert simple["task_identifier"] == "simple"
    assert (simple["minutes"], simple["hours"], simple["days"]) == (
        ALL_MINUTES, ALL_HOURS, ALL_DAYS)
    assert (simple["months"], simple["weekdays"]) == (ALL_MONTHS, ALL_WEEKDAYS)
    assert simple["dom_restricted"] is False and simple["dow_restricted"] is False
    assert simple["fill"] == timedelta(0)
    assert simple["payload"] is None
    assert simple["time_zone"] == "UTC"
    assert simple["line_number"] == 9

    assert items["every_day_at_4_am"]["minutes"] == [0]
    assert items["every_day_at_4_am"]["hours"] == [4]
    assert items["every_sunday_at_4_am"]["weekdays"] == [0]
    # 7 is Sunday too
    assert items["sunday_7"]["weekdays"] == [0]
    assert items["sunday_7"]["task_identifier"] == "every_sunday_at_4_am"
    assert items["every_monday_at_4_am"]["payload"] == {"isMonday": True}

    stuff = items["stuff"]
    assert stuff["task_identifier"] == "one"
    assert stuff["minutes"] == [0, 7, 10, 20, 30, 40, 50, 56, 57, 58, 59]
    assert (stuff["hours"], stuff["days"], stuff["months"], stuff["weekdays"]) == (
        [1], [1], [1], [1])
    assert stuff["fill"] == timedelta(weeks=4, days=3, hours=2, minutes=1)
    assert stuff["fill"] == timedelta(minutes=44761)
    assert stuff["max_attempts"] == 3
    assert stuff["queue_name"] == "my_queue"
    assert stuff["priority"] == 3
    assert stuff["payload"] == {"myExtraPayload": {"stuff": "here with # hash char"}}

    assert items["lots_of_spaces"]["minutes"] == ALL_MINUTES
    assert items["with_key"]["job_key"] == "my_key"
    assert items["with_key"]["job_key_mode"] == "replace"
    assert items["with_key_and_mode"]["job_key_mode"] == "preserve_run_at"
    assert items["one/two/three"]["task_identifier"] == "one/two/three"
    assert items["simple"]["job_key"] is None and items["simple"]["job_key_mode"] is None


def test_parse_crontab_skips_comments_and_blank_lines_and_accepts_crlf(parse) -> None:
    items = parse("# a comment\r\n\r\n   \t\r\n  # indented comment\r\n0 4 * * * a\r\n")
    assert [(i["identifier"], i["line_number"]) for i in items] == [("a", 5)]
    assert parse("") == []
    assert parse("# only a comment") == []


def test_parse_crontab_expands_names_steps_on_ranges_and_shorthands(parse) -> None:
    items = parse(
        "1-30/5 9-17/4 1-31/10 jan-MAR,Dec mon-fri a\n"
        "0 0 * * fri-sun b\n"
        "0 0 * * 5-7 c\n"
        "*/25 */7 * */5 */2 d\n"
        "0 0 * * SAT,sun e\n"
    )
    a, b, c, d, e = items
    assert a["minutes"] == [1, 6, 11, 16, 21, 26]
    assert a["hours"] == [9, 13, 17]
    assert a["days"] == [1, 11, 21, 31]
    assert a["months"] == [1, 2, 3, 12]
    assert a["weekdays"] == [1, 2, 3, 4, 5]
    assert b["weekdays"] == [0, 5, 6]
    assert c["weekdays"] == [0, 5, 6]
    assert d["minutes"] == [0, 25, 50]
    assert d["hours"] == [0, 7, 14, 21]
    assert d["months"] == [1, 6, 11]
    assert d["weekdays"] == [0, 2, 4, 6]
    assert e["weekdays"] == [0, 6]
    shorthands = parse(
        "@yearly y\n@annually an\n@monthly mo\n@weekly w\n@daily da\n@midnight mi\n@HOURLY h"
    )
    fields = {
        s["identifier"]: (s["minutes"], s["hours"], s["days"], s["months"], s["weekdays"])
        for s in shorthands
    }
    assert fields == {
        "y": ([0], [0], [1], [1], ALL_WEEKDAYS),
        "an": ([0], [0], [1], [1], ALL_WEEKDAYS),
        "mo": ([0], [0], [1], ALL_MONTHS, ALL_WEEKDAYS),
        "w": ([0], [0], ALL_DAYS, ALL_MONTHS, [0]),
        "da": ([0], [0], ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS),
        "mi": ([0], [0], ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS),
        "h": ([0], ALL_HOURS, ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS),
    }
    assert [s["fixed_time"] for s in shorthands] == [True] * 6 + [False]


def test_parse_crontab_marks_restricted_day_fields_and_fixed_time(parse) -> None:
    rows_ = parse(
        "0 4 1-31 * 0-6 full_ranges_are_unrestricted\n"
        "0 4 1 * 1-7 all_weekdays_spelled\n"
        "0 4 1,15 * mon both\n"
        "30 2 * * * fixed\n"
        "0-5 1,2 * * * fixed_lists\n"
        "0 */2 * * * stepped_hour\n"
        "0 1-23/2 * * * stepped_range\n"
        "*/15 3 * * * every_15_in_one_hour\n"
    )
    flags = {
        r["identifier"]: (r["dom_restricted"], r["dow_restricted"], r["fixed_time"]) for r in rows_
    }
    assert flags == {
        "full_ranges_are_unrestricted": (False, False, True),
        "all_weekdays_spelled": (True, False, True),
        "both": (True, True, True),
        "fixed": (False, False, True),
        "fixed_lists": (False, False, True),
        "stepped_hour": (False, False, False),
        "stepped_range": (False, False, False),
        "every_15_in_one_hour": (False, False, False),
    }


def test_parse_crontab_reads_time_zone_and_url_encoded_options(parse) -> None:
    [item] = parse(
        "30 2 * * * t ?tz=America/New_York&jobKey=a%2Fb+c&queue=q:1&priority=-7&fill=90s"
    )
    assert item["time_zone"] == "America/New_York"
    assert item["job_key"] == "a/b c"
    assert item["queue_name"] == "q:1"
    assert item["priority"] == -7
    assert item["fill"] == timedelta(seconds=90)
    [canonical] = parse("0 0 * * * t ?tz=europe/london")
    assert canonical["time_zone"] == "europe/london"
    [japan] = parse("0 0 * * * t ?tz=japan")
    assert japan["time_zone"] == "Japan"
    [plus] = parse("0 0 * * * t ?tz=Etc/GMT+5")
    assert plus["time_zone"] == "Etc/GMT+5"


def test_parse_crontab_error_names_line_field_and_problem(db) -> None:
    err = _error(db, "* * * * * ok\n\n# fine\n0 60 * * * bad")
    assert err.sqlstate == "GWC02"
    assert err.diag.message_primary == "crontab line 4: hour 60 is out of range (0-23)"
    assert err.diag.message_detail == "The hour field accepts 0-23."
    assert err.diag.message_hint


@pytest.mark.parametrize(
    ("line", "sqlstate", "message"),
    [
        # upstream's error cases
        ("* * * * too_few", "GWC01", "too few fields: expected 5 time fields and a task"),
        ("* * * *", "GWC01", "too few fields"),
        ("@daily", "GWC01", "too few fields: expected a schedule shorthand and a task"),
        ("* * * * * two words", "GWC01", "unexpected text 'words' after the task identifier"),
        ("60 * * * * task", "GWC02", "minute 60 is out of range (0-59)"),
        ("*/0 * * * * task", "GWC03", "minute step '*/0' is invalid: a step must be at least 1"),
        ("* * * * * task ?unknown=1", "GWC04", "unknown option 'unknown'"),
        ("* * * * * task {invalid json}", "GWC07", "the payload is not valid JSON"),
        # the other errors named by the issue
        ("* 24 * * * task", "GWC02", "hour 24 is out of range (0-23)"),
        ("* * 0 * * task", "GWC02", "day of month 0 is out of range (1-31)"),
        ("* * 32 * * task", "GWC02", "day of month 32 is out of range (1-31)"),
        ("* * * 13 * task", "GWC02", "month 13 is out of range (1-12, or jan-dec)"),
        ("* * * * 8 task", "GWC02", "day of week 8 is out of range"),
        ("0-60 * * * * task", "GWC02", "minute 60 is out of range"),
        ("99999999999 * * * * task", "GWC02", "minute 99999999999 is out of range"),
        ("5-3 * * * * task", "GWC03", "minute range '5-3' is invalid: its end is not after its"),
        ("5-5 * * * * task", "GWC03", "minute range '5-5' is invalid"),
        ("* * * * fri-mon task", "GWC03", "day of week range 'fri-mon' is invalid"),
        ("* 1-4/0 * * * task", "GWC03", "hour step '1-4/0' is invalid"),
        ("5/15 * * * * task", "GWC01", "minute step '5/15' needs * or a range before the /"),
        ("* * * jan-foo * task", "GWC01", "month value 'foo' is not a number or a month name"),
        ("mon * * * * task", "GWC01", "minute value 'mon' is not a number"),
        ("1,,2 * * * * task", "GWC01", "minute '' is not understood"),
        ("*-5 * * * * task", "GWC01", "minute '*-5' is not understood"),
        ("L * * * * task", "GWC01", "minute value 'l' is not a number"),
        ("@reboot task", "GWC01", "'@reboot' is not a supported schedule shorthand"),
        ("* * * * * 9task", "GWC01", "task identifier '9task' is invalid"),
        ("* * * * * task ?id=a&id=b", "GWC04", "option 'id' is given more than once"),
        ("* * * * * task ?fill=1d&fill=2d", "GWC04", "option 'fill' is given more than once"),
        ("* * * * * task ?Queue=x", "GWC04", "unknown option 'Queue'"),
        ("* * * * * task ?id=9x", "GWC05", "option id has an invalid value '9x'"),
        ("* * * * * task ?fill=1y", "GWC05", "option fill has an invalid value '1y'"),
        ("* * * * * task ?fill=", "GWC05", "option fill has an invalid value ''"),
        ("* * * * * task ?max=0", "GWC05", "option max has an invalid value '0'"),
        ("* * * * * task ?max=40000", "GWC05", "option max has an invalid value '40000'"),
        ("* * * * * task ?queue=a%20b", "GWC05", "option queue has an invalid value 'a b'"),
        ("* * * * * task ?priority=high", "GWC05", "option priority has an invalid value"),
        ("* * * * * task ?priority=99999", "GWC05", "option priority has an invalid value"),
        ("* * * * * task ?jobKey=", "GWC05", "option jobKey has an invalid value ''"),
        ("* * * * * t ?jobKeyMode=unsafe_dedupe", "GWC05", "option jobKeyMode has an invalid"),
        ("* * * * * task [1, 2]", "GWC01", "unexpected text '[1, 2]' after the task"),
        ("* * * * * task {'a': 1}", "GWC07", "the payload is not valid JSON"),
        ("* * * * * task {\"a\": 1,}", "GWC07", "the payload is not valid JSON"),
        ("* * * * * task ?tz=Mars/Olympus", "GWC08", "time zone 'Mars/Olympus' is not known"),
        ("* * * * * task ?tz=UTC+3", "GWC08", "time zone 'UTC+3' is not known"),
        ("* * * * * task ?tz=", "GWC08", "time zone '' is not known"),
    ],
)
def test_parse_crontab_rejects_bad_line(db, line: str, sqlstate: str, message: str) -> None:
    err = _error(db, f"# header\n{line}\n")
    assert err.sqlstate == sqlstate, err
    assert err.diag.message_primary.startswith("crontab line 2: "), err.diag.message_primary
    assert message in err.diag.message_primary
    assert err.diag.message_detail and err.diag.message_hint


def test_parse_crontab_payload_is_one_json_object_to_the_end_of_the_line(db, parse) -> None:
    [item] = parse('* * * * * task ?id=x {"a": {"b": [1, "} {"]}}  ')
    assert item["payload"] == {"a": {"b": [1, "} {"]}}
    err = _error(db, "* * * * * task ?id=x {}\n* * * * * other {\"a\": 1} [2]")
    assert err.sqlstate == "GWC07"
    assert err.diag.message_primary == "crontab line 2: the payload is not valid JSON"


def test_parse_crontab_rejects_duplicate_identifier(db) -> None:
    err = _error(db, "0 4 * * * send_report\n\n30 4 * * * send_report")
    assert err.sqlstate == "GWC06"
    assert err.diag.message_primary == (
        "crontab line 3: identifier 'send_report' is already used on line 1"
    )
    err = _error(db, "0 4 * * * a ?id=x\n0 5 * * * b ?id=x")
    assert err.sqlstate == "GWC06"


def test_parse_crontab_one_bad_line_rejects_everything(db, parse) -> None:
    good = "0 4 * * * a\n0 5 * * * b\n"
    assert len(parse(good)) == 2
    err = _error(db, good + "0 5 * * * c ?bogus=1\n")
    assert err.sqlstate == "GWC04"
    assert err.diag.message_primary.startswith("crontab line 3: ")


def test_parse_crontab_null_is_an_error(db) -> None:
    err = _error(db, None)  # type: ignore[arg-type]
    assert err.sqlstate == "GWC09"


def test_cron_schedule_text_functions_report_errors_without_line(db) -> None:
    with pytest.raises(psycopg.Error) as exc:
        db.execute("select graphile_worker.cron_matches('61 * * * *', now())")
    assert exc.value.sqlstate == "GWC02"
    assert exc.value.diag.message_primary == "cron schedule: minute 61 is out of range (0-59)"
    with pytest.raises(psycopg.Error) as exc:
        db.execute("select graphile_worker.cron_next_after('0 0 * * *', now(), 'Nowhere/City')")
    assert exc.value.sqlstate == "GWC08"
    assert scalar(db, "select graphile_worker.cron_matches('0 4 * * *', '2024-01-01 04:00Z')")
