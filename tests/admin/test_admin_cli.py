"""gw-admin (docs/operations.md), run as `python -m gw_runner.admin` subprocesses against the
real server: each command, JSON output, confirmation, exit codes (0 done, 1 not all acted on,
2 usage, 3 database / permission), a monitor role that reads but cannot act, and hostile text
escaped. No runner is started: the jobs are moved through the SQL functions."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from helpers import add_job, call, call_scalar, get_jobs, report_jobs, runner_env, scalar

from gw_runner.admin._cli import build_parser

HOSTILE = "\x1b[31mRED\x1b]0;pwned\x07\nFAKE LINE\u202e\r"


def _run(dsn: str, *args: str, stdin: str = "", dsn_flag: bool = True
         ) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "gw_runner.admin", *(["-c", dsn] if dsn_flag else []), *args]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60,
                          env=runner_env())


def _assert_clean(text: str) -> None:
    """No control or invisible formatting character reaches the terminal raw."""
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    assert "\u202e" not in text


def _add(db: psycopg.Connection, task: str, **kwargs: Any) -> int:
    row = add_job(db, task, **kwargs)
    assert row is not None
    return int(row["id"])


def _fail(db: psycopg.Connection, task: str, message: str, **kwargs: Any) -> int:
    job_id = _add(db, task, max_attempts=1, **kwargs)
    assert [r["id"] for r in get_jobs(db, "w", [task], batch_size=1)] == [job_id]
    report_jobs(db, "w", failures=[{"id": job_id, "message": message}])
    return job_id


@pytest.fixture
def role_dsn(db: psycopg.Connection, dsn: str) -> Iterator[Callable[[str], str]]:
    """A login role of a level; returns a DSN connecting as it."""
    made: list[str] = []

    def _make(level: str) -> str:
        name = f"gw_admin_{level}_{uuid.uuid4().hex[:8]}"
        db.execute(f'create role "{name}" login')
        db.execute("select graphile_worker.grant_role(%s, %s)", (name, level))
        made.append(name)
        return f"{dsn} user={name}"

    yield _make
    for name in made:
        db.execute(f'drop owned by "{name}"')
        db.execute(f'drop role "{name}"')


# --- reading ------------------------------------------------------------------------------------


def test_jobs_list_filters_pages_and_json(db: psycopg.Connection, dsn: str) -> None:
    ids = [_add(db, "a") for _ in range(3)] + [_add(db, "b", queue_name="q")]
    failed = _fail(db, "c", "broken")
    out = _run(dsn, "jobs", "list", "--limit", "2")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:4] == ["ID", "TASK", "QUEUE", "STATE"]
    assert [line.split()[0] for line in lines[1:3]] == [str(failed), str(ids[3])]
    assert f"--before {ids[3]}" in lines[3]
    page = json.loads(_run(dsn, "jobs", "list", "--json", "--before", str(ids[3])).stdout)
    assert [r["id"] for r in page] == ids[2::-1]
    assert page[0]["state"] == "waiting" and page[0]["task_identifier"] == "a"
    rows = json.loads(_run(dsn, "jobs", "list", "--state", "failed", "--task", "c", "--json"
                           ).stdout)
    assert [(r["id"], r["last_error"]) for r in rows] == [(failed, "broken")]
    queue = json.loads(_run(dsn, "jobs", "list", "--queue", "q", "--json").stdout)
    assert [r["id"] for r in queue] == [ids[3]]
    counted = _run(dsn, "jobs", "count", "--task", "a", "--min-id", str(ids[1]))
    assert counted.stdout.strip() == "2"


def test_filters_that_match_nothing_exit_0_with_a_message(dsn: str) -> None:
    out = _run(dsn, "jobs", "list", "--task", "nope")
    assert out.returncode == 0 and out.stdout.startswith("no jobs match (task nope)")
    shown = _run(dsn, "jobs", "show", "424242")
    assert shown.returncode == 0 and "no job 424242" in shown.stdout
    assert json.loads(_run(dsn, "jobs", "show", "424242", "--json").stdout) is None


def test_jobs_show_gives_payload_errors_and_times(db: psycopg.Connection, dsn: str) -> None:
    call_scalar(db, "set_retention", None, timedelta(days=1))
    job_id = _add(db, "t", max_attempts=3, payload={"to": "ada"}, job_key="k1")
    get_jobs(db, "w", ["t"], batch_size=1)
    report_jobs(db, "w", failures=[{"id": job_id, "message": "smtp down"}])
    out = _run(dsn, "jobs", "show", str(job_id))
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "state         retrying" in text and "attempts      1/3" in text
    assert '{"to":"ada"}' in text and "key           k1" in text
    assert "attempts with errors (1 recorded):" in text and "smtp down" in text
    assert "worker w" in text
    detail = json.loads(_run(dsn, "jobs", "show", str(job_id), "--json").stdout)
    assert detail["payload"] == {"to": "ada"}
    assert [e["error"] for e in detail["errors"]] == ["smtp down"]


def test_hostile_text_is_escaped_in_every_text_output(db: psycopg.Connection, dsn: str) -> None:
    call_scalar(db, "set_retention", None, timedelta(days=1))
    job_id = _fail(db, "t", HOSTILE, payload={"html": HOSTILE},
                   job_key="k" + HOSTILE)
    db.execute("select graphile_worker.pause_queues(%s)", ([f"q{HOSTILE}"],))
    for args in (["jobs", "list"], ["jobs", "show", str(job_id)], ["controls"],
                 ["jobs", "list", "--key", "k" + HOSTILE]):
        out = _run(dsn, *args)
        assert out.returncode == 0, (args, out.stderr)
        _assert_clean(out.stdout)
        assert "\\x1b[31mRED" in out.stdout, args
    shown = _run(dsn, "jobs", "show", str(job_id)).stdout
    assert "\\nFAKE LINE\\u202e\\r" in shown and "FAKE LINE" not in shown.replace(
        "\\nFAKE LINE", "")
    as_json = _run(dsn, "jobs", "show", str(job_id), "--json")
    _assert_clean(as_json.stdout)
    assert json.loads(as_json.stdout)["last_error"] == HOSTILE
    bad = _run(dsn, "tasks", "pause", "")  # the SQL refuses an empty name; the message is clean
    assert bad.returncode == 2 and "GWF01" in bad.stderr
    odd = _run(dsn, "jobs", "show", HOSTILE)
    assert odd.returncode == 2
    _assert_clean(odd.stderr)


def test_stats_workers_and_storage(db: psycopg.Connection, dsn: str) -> None:
    _add(db, "a")
    db.execute("select graphile_worker.register_worker('w-1')")
    get_jobs(db, "w-1", ["a"], batch_size=1)
    stats = json.loads(_run(dsn, "stats", "--json").stdout)
    assert [(q["task_identifier"], q["running"]) for q in stats["queues"]] == [("a", 1)]
    assert "_private_jobs" in {s["relation"] for s in stats["storage"]}
    text = _run(dsn, "stats").stdout
    assert "RELATION" in text and "jobs_pkey1" in text
    workers = json.loads(_run(dsn, "workers", "--json").stdout)
    assert [(w["worker_id"], w["alive"], w["jobs_locked"]) for w in workers] == [("w-1", True, 1)]
    assert "w-1" in _run(dsn, "workers").stdout


# --- acting -------------------------------------------------------------------------------------


def test_retry_on_ids_shows_each_result_and_exits_1_when_not_all(
    db: psycopg.Connection, dsn: str
) -> None:
    failed = _fail(db, "t", "x")
    waiting = _add(db, "u")
    out = _run(dsn, "jobs", "retry", str(failed), str(waiting), "--yes")
    assert out.returncode == 1, out.stderr
    assert "retried 1 of 2; not retried: 1 waiting" in out.stdout
    assert scalar(db, "select attempts from graphile_worker._private_jobs where id = %s",
                  [failed]) == 0
    again = _run(dsn, "jobs", "retry", str(failed), "--yes", "--json")
    assert again.returncode == 1
    assert json.loads(again.stdout) == [
        {"job_id": failed, "retried": False, "state": "waiting", "new_job_id": None}]


def test_an_action_on_a_filter_counts_first_and_asks(db: psycopg.Connection, dsn: str) -> None:
    ids = [_add(db, "t") for _ in range(3)] + [_add(db, "keep")]
    declined = _run(dsn, "jobs", "delete", "--all-matching", "--task", "t", stdin="n\n")
    assert declined.returncode == 1
    assert "delete: 3 job(s) matching task t" in declined.stderr
    assert "nothing done" in declined.stderr
    assert call_scalar(db, "count_jobs") == 4
    done = _run(dsn, "jobs", "delete", "--all-matching", "--task", "t", stdin="y\n")
    assert done.returncode == 0, done.stderr
    assert "deleted 3 of 3" in done.stdout
    assert [r["id"] for r in call(db, "list_jobs")] == [ids[3]]
    none = _run(dsn, "jobs", "cancel", "--all-matching", "--task", "t", "--yes")
    assert none.returncode == 0 and "no jobs match" in none.stderr


def test_cancel_and_reschedule(db: psycopg.Connection, dsn: str) -> None:
    a, b = _add(db, "t"), _add(db, "t")
    out = _run(dsn, "jobs", "reschedule", str(a), "--at", "2030-01-02T03:04:05Z", "-y")
    assert out.returncode == 0, out.stderr
    assert scalar(db, "select run_at = '2030-01-02T03:04:05Z' from graphile_worker._private_jobs "
                      "where id = %s", [a])
    moved = _run(dsn, "jobs", "reschedule", "--all-matching", "--state", "scheduled",
                 "--in", "1h", "-y", "--json")
    assert json.loads(moved.stdout) == [{"job_id": a, "rescheduled": True, "state": "scheduled"}]
    cancelled = _run(dsn, "jobs", "cancel", str(b), "-y")
    assert cancelled.returncode == 0 and "cancelled 1 of 1" in cancelled.stdout
    assert call(db, "job_status", b)[0]["state"] == "unknown"  # no retention: not recorded


def test_tasks_queues_limits_retention_and_controls(db: psycopg.Connection, dsn: str) -> None:
    assert _run(dsn, "tasks", "pause", "a", "b").stdout.strip() == "paused: a, b"
    assert "already paused: a" in _run(dsn, "tasks", "pause", "a").stdout
    assert _run(dsn, "queues", "pause", "q").returncode == 0
    assert _run(dsn, "tasks", "limits", "a", "--max-running", "2", "--rate-limit", "10",
                "--rate-period", "1m").returncode == 0
    controls = json.loads(_run(dsn, "controls", "--json").stdout)
    by_name = {(c["kind"], c["name"]): c for c in controls}
    assert by_name[("task", "a")]["max_running"] == 2
    assert by_name[("task", "a")]["rate_period"] == 60.0
    assert by_name[("queue", "q")]["paused"] is True
    assert _run(dsn, "tasks", "resume", "a", "b").stdout.strip() == "resumed: a, b"
    assert _run(dsn, "tasks", "limits", "a", "--clear").returncode == 0
    assert _run(dsn, "queues", "resume", "q").returncode == 0
    assert "nothing is paused or limited" in _run(dsn, "controls").stdout
    assert _run(dsn, "tasks", "retention", "--default", "--keep", "7d").returncode == 0
    assert _run(dsn, "tasks", "retention", "a", "--keep", "1h").returncode == 0
    settings = json.loads(_run(dsn, "tasks", "retention", "--json").stdout)
    assert {(s["task_identifier"], s["keep"]) for s in settings} == {
        (None, 7 * 86400.0), ("a", 3600.0)}
    assert "cleared" in _run(dsn, "tasks", "retention", "a", "--clear").stdout
    assert json.loads(_run(dsn, "prune", "--json").stdout) == {"deleted": 0}


def test_cron_list_and_run(db: psycopg.Connection, dsn: str) -> None:
    db.execute("select graphile_worker.register_crontab(%s)",
               ["*/15 * * * * report ?id=rep&max=2 {\"a\": 1}"])
    items = json.loads(_run(dsn, "cron", "list", "--json").stdout)
    assert [(i["identifier"], i["task_identifier"], i["schedule"]) for i in items] == [
        ("rep", "report", "*/15 * * * *")]
    assert "rep" in _run(dsn, "cron", "list").stdout
    ran = _run(dsn, "cron", "run", "rep", "--json")
    assert ran.returncode == 0, ran.stderr
    job_id = json.loads(ran.stdout)["job_id"]
    assert call(db, "job_detail", job_id)[0]["task_identifier"] == "report"
    unknown = _run(dsn, "cron", "run", "nope")
    assert unknown.returncode == 1 and "GWO01" in unknown.stderr and "HINT" in unknown.stderr


# --- errors and roles ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["jobs", "list", "--state", "bogus"], "--state"),
        (["jobs", "list", "--limit", "0"], "--limit"),
        (["jobs", "list", "--min-id", "x"], "--min-id"),
        (["jobs", "list", "--min-id", "5", "--max-id", "4"], "--min-id"),
        (["jobs", "retry"], "--all-matching"),
        (["jobs", "retry", "1", "--task", "t"], "--all-matching"),
        (["jobs", "reschedule", "1", "--in", "10x"], "--in"),
        (["jobs", "reschedule", "1"], "--at"),
        (["tasks", "limits", "a"], "--max-running"),
        (["tasks", "retention", "a"], "--keep"),
        (["frobnicate"], "frobnicate"),
    ],
)
def test_malformed_options_exit_2_naming_the_option(dsn: str, args: list[str], names: str
                                                    ) -> None:
    out = _run(dsn, *args)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert names in out.stderr


def test_a_monitor_role_reads_but_cannot_act(db: psycopg.Connection, role_dsn: Any) -> None:
    job_id = _add(db, "t", payload={"p": 1})
    monitor = role_dsn("monitor")
    listed = _run(monitor, "jobs", "list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout)[0]["id"] == job_id
    assert _run(monitor, "jobs", "show", str(job_id)).returncode == 0
    assert _run(monitor, "stats").returncode == 0
    denied = _run(monitor, "jobs", "delete", str(job_id), "--yes")
    assert denied.returncode == 3
    assert "permission denied" in denied.stderr and "admin level" in denied.stderr
    assert _run(monitor, "tasks", "pause", "t").returncode == 3
    assert call_scalar(db, "count_jobs") == 1
    producer = role_dsn("producer")
    refused = _run(producer, "jobs", "list")
    assert refused.returncode == 3 and "monitor level" in refused.stderr


def test_database_url_from_the_environment_and_unreachable_servers(dsn: str) -> None:
    env = runner_env(None, {"DATABASE_URL": dsn})
    out = subprocess.run([sys.executable, "-m", "gw_runner.admin", "jobs", "count"],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0 and out.stdout.strip() == "0"
    down = _run(f"{dsn} dbname=gw_no_such_db_{uuid.uuid4().hex[:6]}", "jobs", "count")
    assert down.returncode == 3 and "cannot connect" in down.stderr


def test_help_is_complete_for_every_command() -> None:
    """Every command has a description and documents every option (argparse builds --help
    from them); the top-level help lists every noun and the exit codes."""
    parser = build_parser()
    seen = 0

    def walk(p: Any, path: list[str]) -> None:
        nonlocal seen
        text = p.format_help()
        assert "Exit codes" in text, path
        for action in p._actions:
            if action.dest != "help" and not isinstance(action.choices, dict):
                assert action.help, (path, action.dest)
            if hasattr(action, "choices") and isinstance(action.choices, dict):
                for name, child in action.choices.items():
                    walk(child, [*path, name])
        if len(path) > 0:
            assert p.description, path
        seen += 1

    walk(parser, [])
    assert seen >= 24
    top = subprocess.run([sys.executable, "-m", "gw_runner.admin", "--help"],
                         capture_output=True, text=True, timeout=60, env=runner_env())
    assert top.returncode == 0
    for noun in ("jobs", "tasks", "queues", "controls", "workers", "stats", "cron", "prune"):
        assert noun in top.stdout


def test_a_reader_that_goes_away_ends_the_command_quietly_with_141(
    db: psycopg.Connection, dsn: str
) -> None:
    """`gw-admin jobs list --limit 5000 | head -1`: far more output than a pipe holds, its
    reader gone after one line. The command stops with 141 and no traceback."""
    db.execute("select graphile_worker.add_jobs(array(select row('piped', '{}'::json, null,"
               " null, null, null, null, null)::graphile_worker.job_spec"
               " from generate_series(1, 5000)))")
    cmd = [sys.executable, "-m", "gw_runner.admin", "-c", dsn, "jobs", "list", "--limit", "5000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=runner_env())
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b"ID")
    proc.stdout.close()  # the reader goes away, as head does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, err
    assert err == ""
