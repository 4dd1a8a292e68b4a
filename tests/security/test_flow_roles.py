"""Flow control (0.1.8) is admin-level: admins pause, limit and cancel; producers and runners
get permission denied (42501) and change nothing; no level reads the flow-control tables;
and the pauses and limits an admin sets hold for a runner role's claims."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from tests.helpers import scalar, snapshot
from tests.security.conftest import assert_denied

FLOW_CALLS = [
    "select graphile_worker.pause_tasks(array['t'])",
    "select graphile_worker.resume_tasks(array['t'])",
    "select graphile_worker.pause_queues(array['q'])",
    "select graphile_worker.resume_queues(array['q'])",
    "select graphile_worker.set_task_limits('t', 1, null, null)",
    "select * from graphile_worker.flow_controls()",
    "select * from graphile_worker.cancel_jobs(array[1]::bigint[])",
    "select * from graphile_worker.cancel_jobs_by_key(array['k'])",
]
FLOW_TABLES = ["_private_task_controls", "_private_queue_controls", "_private_cancel_requests"]


def test_admin_pauses_limits_and_cancels(
    make_role: Callable[[str], psycopg.Connection], db: psycopg.Connection
) -> None:
    admin = make_role("admin")
    waiting = scalar(db, "select id from graphile_worker.add_job('t', job_key => 'k')")
    running = scalar(db, "select id from graphile_worker.add_job('u')")
    db.execute("select * from graphile_worker.get_jobs('w', array['u'])")

    assert scalar(admin, "select graphile_worker.pause_tasks(array['t'])") == ["t"]
    assert scalar(admin, "select graphile_worker.pause_queues(array['q'])") == ["q"]
    admin.execute("select graphile_worker.set_task_limits('t', 2, 10, '1 minute')")
    assert admin.execute(
        "select kind, name, paused, max_running, rate_limit from graphile_worker.flow_controls()"
    ).fetchall() == [("task", "t", True, 2, 10), ("queue", "q", True, None, None)]
    assert scalar(admin, "select graphile_worker.resume_tasks(array['t'])") == ["t"]
    assert scalar(admin, "select graphile_worker.resume_queues(array['q'])") == ["q"]
    assert admin.execute(
        "select state from graphile_worker.cancel_jobs(array[%s]::bigint[])", (running,)
    ).fetchall() == [("running",)]
    assert admin.execute(
        "select job_id, state from graphile_worker.cancel_jobs_by_key(array['k'])"
    ).fetchall() == [(waiting, "waiting")]
    assert scalar(db, "select count(*) from graphile_worker._private_cancel_requests") == 1
    for table in FLOW_TABLES:
        assert_denied(admin, f"select * from graphile_worker.{table}")


@pytest.mark.parametrize("level", ["none", "producer", "runner"])
def test_levels_below_admin_are_denied_flow_control_and_change_nothing(
    make_role: Callable[[str], psycopg.Connection], db: psycopg.Connection, level: str
) -> None:
    conn = make_role(level)
    db.execute("select graphile_worker.add_job('t', job_key => 'k')")
    db.execute("select graphile_worker.pause_tasks(array['p'])")
    before = snapshot(db)
    for sql in FLOW_CALLS:
        assert_denied(conn, sql)
    for table in FLOW_TABLES:
        assert_denied(conn, f"select * from graphile_worker.{table}")
        assert_denied(conn, f"delete from graphile_worker.{table}")
    assert snapshot(db) == before


def test_revoke_role_takes_flow_control_back(
    make_role: Callable[[str], psycopg.Connection], db: psycopg.Connection
) -> None:
    admin = make_role("admin")
    db.execute("select graphile_worker.revoke_role(%s)", (admin.info.user,))
    for sql in FLOW_CALLS:
        assert_denied(admin, sql)


def test_a_runner_roles_claims_obey_an_admins_pauses_and_limits(
    make_role: Callable[[str], psycopg.Connection], db: psycopg.Connection
) -> None:
    admin, runner = make_role("admin"), make_role("runner")
    runner.execute("select graphile_worker.register_worker('w')")
    db.execute("select graphile_worker.add_jobs(array(select row(t, null, null, null, null,"
               " null, null, null)::graphile_worker.job_spec"
               " from unnest(array['held', 'held', 'capped', 'capped', 'capped']) as t))")
    admin.execute("select graphile_worker.pause_tasks(array['held'])")
    admin.execute("select graphile_worker.set_task_limits('capped', 2, null, null)")
    claimed = runner.execute(
        "select task_identifier from graphile_worker.get_jobs('w', array['held', 'capped'], 10)"
    ).fetchall()
    assert claimed == [("capped",), ("capped",)]
    assert runner.execute(
        "select graphile_worker.next_job_due_at(array['held'])").fetchone() == (None,)
    assert admin.execute(
        "select name, running from graphile_worker.flow_controls() where name = 'capped'"
    ).fetchall() == [("capped", 2)]
