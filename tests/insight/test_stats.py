"""queue_stats() and worker_stats(): what an operator asks of the queue."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from tests.helpers import rows


def test_queue_stats_counts_each_state_per_task_and_queue(db: psycopg.Connection) -> None:
    db.execute(
        """
        select graphile_worker.add_job('mail', run_at => now() - interval '10 minutes');
        select graphile_worker.add_job('mail');
        select graphile_worker.add_job('mail', queue_name => 'q');
        select graphile_worker.add_job('mail', run_at => now() + interval '1 hour');
        select graphile_worker.add_job('pdf', max_attempts => 1);
        """
    )
    # one mail job running (locked), one pdf job permanently failed, one mail job retrying
    db.execute("select * from graphile_worker.get_jobs('w', array['mail'], 1)")
    pdf = db.execute("select id from graphile_worker.get_jobs('w', array['pdf'], 1)").fetchone()
    db.execute(
        "select * from graphile_worker.report_jobs('w', failures => json_build_array(json_build_object('id', %s::bigint, 'message', 'x')))",
        (pdf[0],),
    )
    stats = {
        (r["task_identifier"], r["queue_name"]): r
        for r in rows(db, "select * from graphile_worker.queue_stats()")
    }
    mail = stats[("mail", None)]
    assert (mail["waiting"], mail["scheduled"], mail["running"], mail["permanently_failed"]) == (
        1,
        1,
        1,
        0,
    )
    assert stats[("mail", "q")]["waiting"] == 1
    assert stats[("pdf", None)]["permanently_failed"] == 1
    assert stats[("pdf", None)]["waiting"] == 0
    # the oldest waiting mail job (10 minutes late) was claimed first; the other waits ~0 s
    assert mail["oldest_waiting_age"] < timedelta(minutes=1)
    assert stats[("mail", "q")]["oldest_waiting_age"] >= timedelta(0)


def test_worker_stats_shows_registered_and_unregistered_lockers(db: psycopg.Connection) -> None:
    db.execute("select graphile_worker.register_worker('alive', interval '1 minute')")
    db.execute(
        "select graphile_worker.register_worker('dead', interval '1 minute', now => now() - interval '2 minutes')"
    )
    db.execute("select graphile_worker.add_job('t'); select graphile_worker.add_job('t')")
    db.execute("select * from graphile_worker.get_jobs('alive', array['t'], 1)")
    db.execute("select * from graphile_worker.get_jobs('node-pool', array['t'], 1)")
    stats = {r["worker_id"]: r for r in rows(db, "select * from graphile_worker.worker_stats()")}
    assert stats["alive"]["alive"] is True and stats["alive"]["jobs_locked"] == 1
    assert stats["dead"]["alive"] is False and stats["dead"]["jobs_locked"] == 0
    assert stats["node-pool"]["registered"] is False and stats["node-pool"]["alive"] is None
    assert stats["node-pool"]["jobs_locked"] == 1


def test_queue_stats_equals_the_counts_of_each_jobs_row(db: psycopg.Connection) -> None:
    """queue_stats counts per task and queue id and joins the names after (0.1.8): the same
    numbers as counting every row of the jobs view by its names."""
    db.execute(
        """
        select graphile_worker.add_jobs(array(
          select row(t, '{}'::json, q, now() + (i % 3 - 1) * interval '1 hour', 2, null, null,
                     null)::graphile_worker.job_spec
          from unnest(array['a', 'b', 'c']) as t,
               unnest(array[null, 'q1', 'q2']) as q,
               generate_series(1, 7) as i));
        update graphile_worker._private_jobs set attempts = 1 where id % 5 = 0;
        update graphile_worker._private_jobs set attempts = 2 where id % 7 = 0;
        update graphile_worker._private_jobs set locked_at = now(), locked_by = 'w'
          where id % 11 = 0;
        """
    )
    now = db.execute("select now()").fetchone()[0]
    got = rows(db, "select * from graphile_worker.queue_stats(%s)", (now,))
    want = rows(
        db,
        """
        select task_identifier, queue_name,
          count(*) filter (where locked_at is null and attempts < max_attempts
                           and run_at <= %(now)s) as waiting,
          count(*) filter (where locked_at is null and attempts < max_attempts
                           and run_at > %(now)s) as scheduled,
          count(*) filter (where locked_at is not null) as running,
          count(*) filter (where locked_at is null and attempts < max_attempts
                           and attempts > 0) as retrying,
          count(*) filter (where locked_at is null and attempts >= max_attempts)
            as permanently_failed,
          %(now)s - min(run_at) filter (where locked_at is null and attempts < max_attempts
                                      and run_at <= %(now)s) as oldest_waiting_age
        from graphile_worker.jobs
        group by task_identifier, queue_name
        order by task_identifier, queue_name nulls first
        """,
        {"now": now},
    )
    assert len(got) == 9
    assert got == want


FINISHED = """
insert into graphile_worker._private_finished_jobs (id, task_identifier, payload, priority,
  attempts, max_attempts, outcome, created_at, first_started_at, finished_at, expires_at)
values (%s, 't', '{}', 0, 1, 25, %s, %s, %s, %s, %s + interval '1 day')
"""


def test_finished_per_minute_counts_each_outcome_per_utc_minute(db: psycopg.Connection) -> None:
    base = db.execute("select date_trunc('minute', now() - interval '30 minutes')").fetchone()[0]
    done = [  # (seconds after base, outcome)
        (0, "completed"), (59.999, "completed"), (30, "failed"), (60, "cancelled"),
        (61, "completed"), (300, "failed"), (3600 + 60, "completed"),
    ]
    for i, (seconds, outcome) in enumerate(done, start=1):
        at = base + timedelta(seconds=seconds)
        db.execute(FINISHED, (i, outcome, at, at, at, at))
    db.execute("set timezone = 'Asia/Kathmandu'")  # +05:45: minutes are UTC minutes anyway
    got = rows(db, "select * from graphile_worker.finished_per_minute(%s, %s)",
               (base, base + timedelta(hours=1)))
    assert [(r["minute"] - base, r["completed"], r["failed"], r["cancelled"]) for r in got] == [
        (timedelta(0), 2, 1, 0),
        (timedelta(minutes=1), 1, 0, 1),
        (timedelta(minutes=5), 0, 1, 0),
    ]  # [since, now): the job finished at base + 1 h 1 min is after `now`
    # the defaults: the last hour before now()
    assert sum(r["completed"] for r in rows(
        db, "select * from graphile_worker.finished_per_minute()")) == 3


@pytest.mark.parametrize("args", ["null, now()", "now(), null", "now(), now() - interval '1 s'"])
def test_finished_per_minute_refuses_bad_bounds_with_gwf01(
    db: psycopg.Connection, args: str
) -> None:
    with pytest.raises(psycopg.Error) as err:
        db.execute(f"select * from graphile_worker.finished_per_minute({args})")
    assert err.value.sqlstate == "GWF01"
    assert err.value.diag.message_detail and err.value.diag.message_hint
