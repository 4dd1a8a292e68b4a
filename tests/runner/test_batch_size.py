"""The adaptive batch size: claims grow on a backlog of fast jobs, and only then.

The runner logs every change at debug level ("batch size 50 -> 100"). The margins: growing
takes a full claim less than 0.1 s after the previous full one, i.e. more than about 500 jobs a
second at the start size of 50 (no-op jobs run at well over 10,000 a second); the slow jobs
below allow at most 50 a second.
"""

from __future__ import annotations

import re

import psycopg
from helpers import scalar


def _enqueue(db: psycopg.Connection, task: str, n: int, payload: str = "{}",
             queues: int | None = None) -> None:
    queue = f"'q' || (i %% {queues})" if queues else "null"
    db.execute(
        f"select graphile_worker.add_jobs(array(select row(%s, %s::json, {queue}, null, null,"
        " null, null, null)::graphile_worker.job_spec from generate_series(1, %s) i))",
        (task, payload, n),
    )


def _sizes(log: str) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in re.findall(r"batch size (\d+) -> (\d+)", log)]


def test_a_backlog_of_fast_jobs_grows_the_batch_by_doubling_up_to_500(db, start_runner):
    _enqueue(db, "noop", 6000)
    runner = start_runner("noop.py", "--once", "-j", "10", "--log-level", "debug")
    assert runner.wait(120) == 0, runner.log
    assert "batch 50 (adaptive, up to 500)" in runner.log
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 0
    sizes = _sizes(runner.log)
    assert sizes, f"the batch size never changed:\n{runner.log[-3000:]}"
    assert sizes[0] == (50, 100), sizes
    # it doubles and never passes 500; growth steps double, shrink steps halve
    for before, after in sizes:
        assert after in (min(2 * before, 500), max(before // 2, 50)), sizes
    assert max(after for _, after in sizes) <= 500


def test_an_explicit_batch_size_is_kept(db, start_runner):
    _enqueue(db, "noop", 3000)
    runner = start_runner("noop.py", "--once", "-j", "10", "--batch-size", "50",
                          "--log-level", "debug")
    assert runner.wait(120) == 0, runner.log
    assert "batch 50, poll" in runner.log
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 0
    assert _sizes(runner.log) == []


def test_jobs_of_named_queues_keep_the_start_size(db, start_runner):
    """Big batches would hold the heads of many named queues away from the other runners."""
    _enqueue(db, "noop", 6000, queues=300)  # 300 queues: every claim of 50 comes back full
    runner = start_runner("noop.py", "--once", "-j", "10", "--log-level", "debug")
    assert runner.wait(180) == 0, runner.log
    assert scalar(db, "select count(*) from graphile_worker.jobs") == 0
    assert _sizes(runner.log) == []


def test_slow_jobs_keep_the_start_size(db, start_runner, runs_table):
    _enqueue(db, "sleepy", 150, payload='{"seconds": 0.2}')  # 10 slots: at most 50 a second
    runner = start_runner("record.py", "--once", "-j", "10", "--log-level", "debug")
    assert runner.wait(120) == 0, runner.log
    assert scalar(db, "select count(*) from runs where note = 'end'") == 150
    assert _sizes(runner.log) == []
