"""Pruning: a runner deletes the finished jobs kept past their retention every
--prune-interval seconds (prune_finished_jobs, again at once while a call deletes a full
batch); 0 turns it off, --once never prunes, a role that may not prune is warned once."""

from __future__ import annotations

import re
import time
import uuid

import psycopg
import pytest
from helpers import scalar, wait_until

from gw_runner import WorkerSettings
from gw_runner._wakeups import PRUNE_BATCH
from gw_runner.errors import ConfigurationError


def finish_jobs(db: psycopg.Connection, count: int) -> list[int]:
    """``count`` jobs of task 'done', completed through report_jobs with a retention of one
    day: their ids, each with a row in the finished-jobs store."""
    db.execute("select graphile_worker.set_retention(null, '1 day')")
    db.execute(
        "select graphile_worker.add_jobs(array(select row('done', json_build_object('i', i),"
        " null, null, null, null, null, null)::graphile_worker.job_spec"
        " from generate_series(1, %s) i))", (count,),
    )
    ids: list[int] = []
    while True:
        claimed = scalar(db, "select coalesce(array_agg(id order by id), '{}') from"
                             " graphile_worker.get_jobs('test-finisher', array['done'], 10000)")
        if not claimed:
            break
        db.execute("select count(*) from graphile_worker.report_jobs('test-finisher', %s)",
                   (claimed,))
        ids += claimed
    assert scalar(db, "select count(*) from graphile_worker.finished_jobs") == count
    return ids


def expire(db: psycopg.Connection, ids: list[int]) -> None:
    db.execute("update graphile_worker._private_finished_jobs"
               " set expires_at = now() - interval '1 hour' where id = any(%s)", (ids,))


def stored(db: psycopg.Connection, ids: list[int]) -> int:
    return int(scalar(db, "select count(*) from graphile_worker.finished_jobs where id = any(%s)",
                      (ids,)))


def test_runner_prunes_expired_finished_jobs_and_keeps_the_others(db, start_runner):
    ids = finish_jobs(db, 30)
    old, kept = ids[:20], ids[20:]
    expire(db, old)
    runner = start_runner("results.py", "--prune-interval", "1")
    wait_until(lambda: runner.alive_log() and stored(db, old) == 0, 30, "the expired rows to go")
    runner.wait_for_log("pruned 20 finished job(s) past their retention in ")
    assert stored(db, kept) == 10
    # later rounds find nothing more to delete
    expire(db, kept[:3])
    wait_until(lambda: runner.alive_log() and stored(db, kept) == 7, 30, "the next round")
    runner.wait_for_log("pruned 3 finished job(s)")
    assert runner.terminate() == 0, runner.log


def test_a_round_calls_again_while_calls_delete_a_full_batch(db, start_runner):
    ids = finish_jobs(db, 2 * PRUNE_BATCH + 500)
    expire(db, ids)
    runner = start_runner("results.py", "--prune-interval", "1")
    runner.wait_for_log(f"pruned {2 * PRUNE_BATCH + 500} finished job(s) past their retention",
                        timeout=60)
    assert "(3 call(s))" in runner.log, runner.log
    assert stored(db, ids) == 0
    assert runner.terminate() == 0, runner.log


def test_prune_interval_0_does_not_prune(db, start_runner):
    ids = finish_jobs(db, 5)
    expire(db, ids)
    runner = start_runner("results.py", "--prune-interval", "0", "--log-level", "debug")
    job_id = scalar(db, "select id from graphile_worker.add_job('give', '{\"value\": 1}')")
    wait_until(lambda: runner.alive_log() and scalar(
        db, "select state from graphile_worker.job_status(%s)", (job_id,)) == "completed",
        30, "the job to complete")
    # at --prune-interval 1 the first round comes within 1.25 s (the test above): give it 3
    time.sleep(3)
    assert runner.alive(), runner.log
    assert stored(db, ids) == 5
    assert "prun" not in runner.log
    assert runner.terminate() == 0, runner.log


def test_once_does_not_prune(db, start_runner):
    ids = finish_jobs(db, 5)
    expire(db, ids)
    scalar(db, "select id from graphile_worker.add_job('give', '{\"value\": 1}')")
    runner = start_runner("results.py", "--once", "--prune-interval", "0.01",
                          "--log-level", "debug")
    assert runner.wait(60) == 0, runner.log
    assert stored(db, ids) == 5
    assert "prun" not in runner.log


def test_a_role_that_may_not_prune_is_warned_once_and_runs_on(db, start_runner):
    ids = finish_jobs(db, 5)
    expire(db, ids)
    role = f"gw_no_prune_{uuid.uuid4().hex[:8]}"
    db.execute(f'create role "{role}" login')
    try:
        db.execute("select graphile_worker.grant_role(%s, 'runner')", (role,))
        db.execute("revoke execute on function graphile_worker.prune_finished_jobs(integer,"
                   f' timestamptz) from "{role}"')
        info = db.info
        dsn = f"host={info.host} port={info.port} dbname={info.dbname} user={role}"
        runner = start_runner("results.py", "--prune-interval", "0.05", connection=dsn)
        runner.wait_for_log("not pruning finished jobs: cannot call "
                            "graphile_worker.prune_finished_jobs")
        job_id = scalar(db, "select id from graphile_worker.add_job('give', '{\"value\": 1}')")
        wait_until(lambda: runner.alive_log() and scalar(
            db, "select state from graphile_worker.job_status(%s)", (job_id,)) == "completed",
            30, "the job to complete")
        assert runner.log.count("not pruning finished jobs") == 1
        assert stored(db, ids) == 5
        assert runner.terminate() == 0, runner.log
    finally:
        db.execute(f'drop owned by "{role}"')
        db.execute(f'drop role "{role}"')


@pytest.mark.parametrize("value", [0.001, -1.0, float("nan"), float("inf"), True, None, "60"])
def test_settings_refuse_a_prune_interval_other_than_0_or_at_least_10_ms(value):
    with pytest.raises(ConfigurationError, match=r"^prune_interval must be 0 \(no pruning\) or "
                       r"a number of seconds >= 0.01, not "):
        WorkerSettings(prune_interval=value)


def test_settings_take_0_to_turn_pruning_off():
    assert WorkerSettings(prune_interval=0).prune_interval == 0
    assert WorkerSettings().prune_interval == 60


def test_rounds_that_fail_back_off(db, start_runner):
    """A prune the server refuses every time (a trigger here) is tried again after twice the
    wait each time, not every interval: at --prune-interval 0.05 for 4 s, about 7 rounds
    instead of about 80, each one logged with the longer wait."""
    ids = finish_jobs(db, 3)
    expire(db, ids)
    db.execute("""
        create function public.no_prune() returns trigger language plpgsql as $$
        begin raise exception 'pruning refused by a test trigger'; end $$;
        create trigger no_prune before delete on graphile_worker._private_finished_jobs
          for each statement execute function public.no_prune();
    """)
    runner = start_runner("results.py", "--prune-interval", "0.05")
    runner.wait_for_log("trying again in about 0.8 s", timeout=30)
    time.sleep(4)
    failures = runner.log.count("pruning finished jobs failed (pruning refused by a test trigger")
    assert 4 <= failures <= 12, runner.log
    waits = [float(w) for w in re.findall(r"trying again in about ([0-9.e+]+) s", runner.log)]
    assert waits[:5] == [0.1, 0.2, 0.4, 0.8, 1.6], waits
    assert stored(db, ids) == 3
    db.execute("drop trigger no_prune on graphile_worker._private_finished_jobs")
    runner.wait_for_log("pruned 3 finished job(s)", timeout=60)
    assert runner.terminate() == 0, runner.log
