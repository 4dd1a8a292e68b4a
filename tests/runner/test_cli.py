"""The command line: usage errors and task-file errors exit 2 with a clear message; a
database without the extension is a runtime failure (exit 1); the log formats escape what
job data can put in messages and tracebacks."""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path

import pytest

from gw_runner._cli import JsonFormatter, TextFormatter

HERE = Path(__file__).resolve().parent
BAD = HERE / "bad_tasks"
GOOD = str(HERE / "tasks" / "record.py")


def test_help_lists_every_option_with_its_environment_variable(cli):
    result = cli("--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for option, env in [
        ("--connection", "GW_RUNNER_CONNECTION"), ("--jobs", "GW_RUNNER_JOBS"),
        ("--once", "GW_RUNNER_ONCE"), ("--poll-interval", "GW_RUNNER_POLL_INTERVAL"),
        ("--no-listen", "GW_RUNNER_NO_LISTEN"), ("--crontab", "GW_RUNNER_CRONTAB"),
        ("--log-level", "GW_RUNNER_LOG_LEVEL"), ("--log-format", "GW_RUNNER_LOG_FORMAT"),
        ("--batch-size", "GW_RUNNER_BATCH_SIZE"),
        ("--shutdown-timeout", "GW_RUNNER_SHUTDOWN_TIMEOUT"),
        ("--local-queue-ttl", "GW_RUNNER_LOCAL_QUEUE_TTL"),
        ("--health-port", "GW_RUNNER_HEALTH_PORT"), ("--health-host", "GW_RUNNER_HEALTH_HOST"),
        ("--prune-interval", "GW_RUNNER_PRUNE_INTERVAL"),
    ]:
        assert option in text
        assert f"[env {env}]" in text
    assert "DATABASE_URL" in text


def test_version(cli):
    result = cli("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("gw-runner 0.")


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["-j", "0", GOOD], {}, "argument -j/--jobs: must be from 1 to 1000, got 0"),
        (["-j", "many", GOOD], {}, "argument -j/--jobs: expected an integer, got 'many'"),
        (["--poll-interval", "-1", GOOD], {}, "argument --poll-interval: must be a number"),
        (["--log-format", "xml", GOOD], {}, "expected one of text, json, got 'xml'"),
        (["--bogus", GOOD], {}, "unrecognized arguments: --bogus"),
        ([], {}, "the TASKS_FILE argument (or GW_RUNNER_TASKS_FILE) is required"),
        ([GOOD], {"GW_RUNNER_JOBS": "lots"},
         "environment variable GW_RUNNER_JOBS='lots': expected an integer, got 'lots'"),
        ([GOOD], {"GW_RUNNER_ONCE": "maybe"},
         "environment variable GW_RUNNER_ONCE='maybe': expected true/false"),
        (["--prune-interval", "0.001", GOOD], {},
         "argument --prune-interval: must be 0 (off) or a number of seconds >= 0.01, got "
         "'0.001'"),
        (["--prune-interval", "hourly", GOOD], {},
         "argument --prune-interval: expected a number of seconds, got 'hourly'"),
        ([GOOD], {"GW_RUNNER_PRUNE_INTERVAL": "-60"},
         "environment variable GW_RUNNER_PRUNE_INTERVAL='-60': must be 0 (off) or a number of "
         "seconds >= 0.01, got '-60'"),
        ([GOOD, "--crontab", "/nonexistent/crontab"], {},
         "crontab file /nonexistent/crontab: no such file"),
    ],
)
def test_usage_errors_exit_2(cli, args, env, message):
    result = cli(*args, env=env)
    assert result.returncode == 2, result
    assert message in result.stderr
    assert result.stderr.startswith("usage: gw-runner")


@pytest.mark.parametrize(
    ("file", "message"),
    [
        ("missing.py", "missing.py: no such file"),
        ("import_error.py", "No module named 'no_such_module_for_gw_tests'"),
        ("raises.py", "at line 9: CONFIG = {}[\"missing\"]"),
        ("empty.py", "registers no tasks: mark handlers with @task"),
        ("duplicate.py",
         "task identifier 'send_email' is registered twice: by send_email_v1() (line 4) "
         "and by send_email_v2() (line 9)"),
        ("wrong_shape.py",
         "task 'send_email': handler send_email() (line 4) requires 3 arguments "
         "(payload, ctx, extra)"),
        ("no_args.py", "task 'tick': handler tick() (line 4) takes no payload argument"),
        ("bad_mapping.py", "`tasks` lists 'not', which is not marked with @task"),
    ],
)
def test_task_file_errors_exit_2_naming_file_and_problem(cli, file, message):
    path = BAD / file
    result = cli(str(path), "-c", "dbname=unused")
    assert result.returncode == 2, result
    assert f"gw-runner: error: task file {path}" in result.stderr
    assert message in result.stderr, result.stderr


def test_syntax_error_names_the_line(cli, tmp_path):
    path = tmp_path / "syntax_error.py"  # written here: the linter cannot parse it
    path.write_text("from gw_runner import task\n\n\n@task\ndef broken(payload, ctx)\n    pass\n")
    result = cli(str(path), "-c", "dbname=unused")
    assert result.returncode == 2
    assert f"gw-runner: error: task file {path}: failed to import:" in result.stderr
    assert "line 5" in result.stderr and "SyntaxError" in result.stderr


def test_options_come_from_the_environment(cli, dsn, db):
    db.execute("create table runs (job_id bigint, task text, attempt int, note text,"
               " started_at timestamptz default clock_timestamp())")
    db.execute("select graphile_worker.add_job('rec_async', '{}')")
    result = cli(env={
        "GW_RUNNER_TASKS_FILE": GOOD, "DATABASE_URL": dsn, "GW_RUNNER_ONCE": "yes",
        "GW_RUNNER_LOG_FORMAT": "json", "GW_RUNNER_JOBS": "3", "GW_TEST_DSN": dsn,
    })
    assert result.returncode == 0, result.stderr
    assert '"message": "worker gw-' in result.stderr and "concurrency 3" in result.stderr
    assert db.execute("select count(*) from runs").fetchone()[0] == 1


def test_command_line_wins_over_environment(cli, dsn, db):
    result = cli(GOOD, "-c", dsn, "--once", "-j", "2", env={
        "GW_RUNNER_JOBS": "5", "GW_TEST_DSN": dsn})
    assert result.returncode == 0, result.stderr
    assert "concurrency 2" in result.stderr


def test_database_without_the_extension_is_a_runtime_failure(cli, dsn, db):
    db.execute("create database gw_no_extension_for_cli_test")
    try:
        other = dsn.replace(f"dbname={db.info.dbname}", "dbname=gw_no_extension_for_cli_test")
        assert other != dsn
        result = cli(GOOD, "-c", other, "--once", env={"GW_TEST_DSN": dsn})
        assert result.returncode == 1, result.stderr
        assert "cannot start" in result.stderr and "graphile_worker" in result.stderr
    finally:
        db.execute("drop database gw_no_extension_for_cli_test")


def test_unknown_database_is_a_runtime_failure_not_a_retry_loop(cli, dsn):
    other = dsn.replace("dbname=", "dbname=gw_no_such_database_")
    result = cli(GOOD, "-c", other, "--once", env={"GW_TEST_DSN": dsn}, timeout=60)
    assert result.returncode == 1, result.stderr
    assert "does not exist" in result.stderr


# --- log injection (issue 19): job data in messages and tracebacks -----------------------------

# what an exception that quotes a payload can carry: a forged record, terminal escapes (CSI as
# ESC [ and as the C1 byte), a carriage return, a Unicode line separator, a bidi override
HOSTILE = "bad \x1b[31mred\x1b[0m\n2026-01-01 INFO fake\r\x9b2J\u2028sep\u202eevil"
ESCAPED = "bad \\x1b[31mred\\x1b[0m\\n2026-01-01 INFO fake\\r\\x9b2J\\u2028sep\\u202eevil"
RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _record(name: str = "gw_runner.worker", **extra: object) -> logging.LogRecord:
    try:
        raise ValueError(f"payload {HOSTILE}")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(name, logging.ERROR, __file__, 1, "job %d failed: %s",
                               (7, f"ValueError: payload {HOSTILE}"), exc_info)
    record.__dict__.update(extra)
    return record


def test_text_log_escapes_control_characters_in_messages_and_tracebacks():
    text = TextFormatter().format(_record())
    first, *traceback = text.split("\n")
    assert RECORD.match(first), first
    assert first.endswith(f"gw_runner.worker: job 7 failed: ValueError: payload {ESCAPED}")
    assert UNSAFE.search(text) is None, repr(text)
    # the traceback stays readable, on lines of its own, each indented: none passes for a
    # record (the forged one included)
    assert traceback[0] == "    Traceback (most recent call last):"
    assert all(line.startswith("    ") for line in traceback), traceback
    assert "    ValueError: payload bad \\x1b[31mred\\x1b[0m" in traceback
    assert "    2026-01-01 INFO fake\\r\\x9b2J\\u2028sep\\u202eevil" in traceback
    # the job tag of job records is escaped too
    job = TextFormatter().format(_record("gw_runner.job", job_id=7, task="t\x1b]0;x\x07"))
    assert "[job 7 t\\x1b]0;x\\x07] job 7 failed" in job.split("\n")[0]
    assert UNSAFE.search(job) is None


def test_json_log_escapes_control_characters_and_keeps_the_text():
    line = JsonFormatter().format(_record(job_id=7))
    assert "\n" not in line and UNSAFE.search(line) is None, repr(line)
    out = json.loads(line)
    assert out["message"] == f"job 7 failed: ValueError: payload {HOSTILE}"
    assert out["exc"].endswith(f"ValueError: payload {HOSTILE}")
    assert out["job_id"] == 7 and out["level"] == "error"


def test_text_log_of_a_real_runner_shows_hostile_error_messages_escaped(start_runner, db,
                                                                          tmp_path):
    """A handler's exception quotes its payload: the runner's text log shows one record line
    with escapes and an indented traceback, no raw escape codes and no forged record."""
    tasks = tmp_path / "leaky.py"
    tasks.write_text(
        "from gw_runner import task\n\n\n"
        "@task\ndef leak(payload, ctx):\n"
        "    raise ValueError(f\"cannot parse {payload['text']}\")\n"
    )
    db.execute("select graphile_worker.add_job('leak', %s, max_attempts => 1)",
               (json.dumps({"text": HOSTILE}),))
    runner = start_runner(str(tasks))
    runner.wait_for_log("failed permanently")
    runner.signal()
    assert runner.wait() == 0, runner.log
    raw = runner.log_path.read_bytes()
    assert b"\x1b" not in raw and b"\r" not in raw, raw
    text = raw.decode()
    assert UNSAFE.search(text) is None, text
    lines = text.splitlines()
    assert all(RECORD.match(line) or line.startswith("    ") for line in lines), text
    failed = [line for line in lines if "failed permanently" in line]
    assert len(failed) == 1 and RECORD.match(failed[0]), text
    assert "cannot parse bad \\x1b[31mred\\x1b[0m" in failed[0]
    assert not any(line.startswith("2026-01-01 INFO fake") for line in lines), text
    assert "    ValueError: cannot parse bad \\x1b[31mred\\x1b[0m" in lines  # the traceback
