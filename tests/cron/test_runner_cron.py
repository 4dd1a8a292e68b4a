"""Cron in the runner: `--crontab FILE` (or ./crontab) is checked at start and scheduled at
every minute boundary; two runners with the same crontab schedule each minute once; an
invalid crontab stops the runner with exit code 2 and the line-numbered message."""

from __future__ import annotations

import itertools
import signal
from datetime import UTC, datetime, timedelta

import pytest
from helpers import CALLS_TABLE, Runners, rows, scalar, wait_until

CRONTAB = "# every minute\n* * * * * cron_work ?id=every_minute {\"from\": \"crontab\"}\n"


def minutes_run(db) -> list[str]:
    return [r["note"] for r in rows(db, "select note from calls where task = 'cron_work'"
                                        " order by note")]


@pytest.mark.slow
def test_two_runners_schedule_each_minute_once_at_the_minute_boundary(db, dsn, tmp_path):
    db.execute(CALLS_TABLE)
    (tmp_path / "crontab").write_text(CRONTAB)
    runners = Runners(dsn, tmp_path)
    try:
        started = datetime.now(UTC)
        first = runners.start("--poll-interval", "0.5", "--log-level", "debug",
                              cwd=str(tmp_path))  # ./crontab
        second = runners.start("--crontab", str(tmp_path / "crontab"), "--poll-interval", "0.5",
                               "--log-level", "debug")
        for runner in (first, second):
            runner.wait_for_log("crontab", 30)
        # the minute the runners started in is run at once, the next one at its boundary
        wait_until(lambda: len(minutes_run(db)) >= 2, 80, "two minutes to be scheduled and run",
                   interval=0.5)
        # both runners have had their call at the boundary (their start call and one more)
        wait_until(lambda: all(r.log.count("cron: call ") >= 2 for r in (first, second)), 30,
                   "both runners' call at the minute boundary")
        notes = minutes_run(db)
        ts = [datetime.fromisoformat(n.split()[0].replace("Z", "+00:00")) for n in notes]
        assert len(set(ts)) == len(ts), notes  # each minute once
        assert all(n.endswith("backfilled=False") for n in notes), notes
        start_minute = started.replace(second=0, microsecond=0)
        assert start_minute <= ts[0] <= start_minute + timedelta(minutes=1), notes
        assert [(b - a).total_seconds() for a, b in itertools.pairwise(ts)] == [60.0] * (len(ts) - 1)
        assert scalar(db, "select last_execution from graphile_worker._private_known_crontabs"
                          " where identifier = 'every_minute'") == ts[-1]
        scheduled = sum(r.log.count("cron: scheduled every_minute") for r in (first, second))
        assert scheduled == len(ts), (first.log, second.log)
        assert scalar(db, "select count(*) from graphile_worker.jobs") == 0
        for runner in (first, second):
            runner.send(signal.SIGTERM)
        for runner in (first, second):
            assert runner.wait(30) == 0, runner.log
    finally:
        runners.close()


def test_an_invalid_crontab_stops_the_runner_with_exit_code_2(db, dsn, tmp_path):
    db.execute(CALLS_TABLE)
    job_id = scalar(db, "select id from graphile_worker.add_job('work', '{}')")
    crontab = tmp_path / "crontab"
    crontab.write_text("* * * * * cron_work\n61 * * * * cron_work ?id=late\n")
    runners = Runners(dsn, tmp_path)
    try:
        runner = runners.start("--crontab", str(crontab))
        assert runner.wait(30) == 2, runner.log
        log = runner.log
        assert f"crontab {crontab} is invalid: crontab line 2: minute 61 is out of range" in log
        assert "GWC02" in log
        # nothing was claimed, registered or scheduled
        job = rows(db, "select attempts, locked_by from graphile_worker.jobs where id = %s",
                   (job_id,))
        assert job == [{"attempts": 0, "locked_by": None}]
        assert scalar(db, "select count(*) from graphile_worker._private_known_crontabs") == 0
        assert scalar(db, "select count(*) from graphile_worker._private_workers") == 0
    finally:
        runners.close()


def test_once_does_not_run_cron(db, dsn, tmp_path):
    db.execute(CALLS_TABLE)
    (tmp_path / "crontab").write_text(CRONTAB)
    runners = Runners(dsn, tmp_path)
    try:
        runner = runners.start("--once", cwd=str(tmp_path))
        assert runner.wait(30) == 0, runner.log
        assert scalar(db, "select count(*) from graphile_worker._private_known_crontabs") == 0
        assert scalar(db, "select count(*) from graphile_worker.jobs") == 0
    finally:
        runners.close()
