"""Cron in a mixed fleet: a Node graphile-worker 0.18 and a gw_runner with the same crontab
schedule every minute once (the `_private_known_crontabs` guard is shared)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.compat.conftest import log_of, node_cmd, py_cmd, wait_for
from tests.helpers import rows, scalar

# Syntax both accept (no month/day names, steps on ranges, @-shorthands or tz: see
# docs/compatibility.md); fill=10m lets both backfill at start, so they race right away.
CRONTAB = '* * * * * record ?id=compat_minute&fill=10m {"src": "cron"}\n'


def _iso(ts: datetime) -> str:
    """graphile-worker's `_cron.ts` format (UTC, milliseconds)."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.mark.slow
def test_node_and_gw_runner_with_one_crontab_schedule_each_minute_once(
    executions: psycopg.Connection, node_env: dict[str, str], spawn: Any, tmp_path: Path
) -> None:
    db = executions
    db.execute("set time zone 'UTC'")
    # Known since 10 minutes, last run 6 minutes ago: 5 minutes are missing, within `fill`.
    m0 = scalar(db, "select date_trunc('minute', now())")
    db.execute(
        "insert into graphile_worker._private_known_crontabs (identifier, known_since,"
        " last_execution) values ('compat_minute', %s, %s)",
        (m0 - timedelta(minutes=10), m0 - timedelta(minutes=6)),
    )
    crontab = tmp_path / "crontab"
    crontab.write_text(CRONTAB)
    # gw_runner first: its start call backfills the missing minutes (and schedules the current
    # one); then Node starts, runs its own backfill through the guard, and both race for the
    # next minute boundaries.
    procs = {
        "python": spawn(py_cmd("-j", "2", "--poll-interval", "0.5", "--crontab", str(crontab)),
                        node_env, "python"),
    }

    def alive() -> None:
        for name, proc in procs.items():
            assert proc.poll() is None, f"{name} exited:\n{log_of(tmp_path, name)}"

    def scheduled_by_python() -> list[str]:
        alive()
        return re.findall(r"cron: scheduled compat_minute for (\S+)", log_of(tmp_path, "python"))

    wait_for(scheduled_by_python, 60, "gw_runner's first cron call")
    procs["node"] = spawn(
        node_cmd("worker"), {**node_env, "CRONTAB": CRONTAB, "CONCURRENCY": "2"}, "node"
    )
    wait_for(lambda: alive() or "READY" in log_of(tmp_path, "node"), 60,
             "the Node worker to start")
    # The first minute boundary at least 5 s after both started: both are in their
    # boundary loops then, and race for it.
    boundary = scalar(db, "select date_trunc('minute', now() + interval '5 seconds')"
                          " + interval '1 minute'")

    def boundary_done() -> bool:
        alive()
        return bool(scalar(
            db,
            "select now() > %s + interval '3 seconds' and exists (select from public.executions"
            " where payload->'_cron'->>'ts' = %s)",
            (boundary, _iso(boundary)),
        ))

    wait_for(boundary_done, 100, f"the job of the {boundary:%H:%M} boundary to run")
    wait_for(lambda: scalar(db, "select count(*) from graphile_worker._private_jobs") == 0, 30,
             "every scheduled job to run")

    runs = rows(
        db,
        "select payload->'_cron'->>'ts' as ts, (payload->'_cron'->>'backfilled')::boolean as"
        " backfilled, payload->>'src' as src, info->>'run_at' as run_at, runner"
        " from public.executions order by 1",
    )
    stamps = [r["ts"] for r in runs]
    assert len(stamps) == len(set(stamps)), f"a minute was scheduled twice: {stamps}"
    first = m0 - timedelta(minutes=5)
    last = max(datetime.fromisoformat(s.replace("Z", "+00:00")) for s in stamps)
    assert last >= boundary
    expected = [_iso(first + timedelta(minutes=i))
                for i in range(int((last - first).total_seconds() // 60) + 1)]
    assert stamps == expected, "every minute since the last run, each once"
    for r in runs:
        ts = datetime.fromisoformat(r["ts"].replace("Z", "+00:00"))
        assert r["src"] == "cron"
        assert datetime.fromisoformat(r["run_at"].replace("Z", "+00:00")) == ts
        if ts < m0:
            assert r["backfilled"], r
        if ts == boundary:
            assert not r["backfilled"], r
    assert scalar(
        db, "select last_execution from graphile_worker._private_known_crontabs"
        " where identifier = 'compat_minute'",
    ) == last
    # Both took part: gw_runner scheduled the missed minutes at its start (it started
    # first; Node then read their last_execution and backfilled nothing more), and Node
    # scheduled the boundary minute too (the guard decided whose job it was).
    from_python = scheduled_by_python()
    assert {_iso(first + timedelta(minutes=i)) for i in range(5)} <= {
        _iso(datetime.fromisoformat(t)) for t in from_python
    }, from_python
    assert f"CRON scheduled {_iso(boundary)}" in log_of(tmp_path, "node")
    assert "cron: scheduling failed" not in log_of(tmp_path, "python")
