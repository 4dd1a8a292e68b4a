"""queue_stats() and worker_stats(): what an operator asks of the queue."""

from __future__ import annotations

from datetime import timedelta

import psycopg

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
