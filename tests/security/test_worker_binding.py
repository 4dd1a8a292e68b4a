"""A runner acts only for the workers it registered (issue 19, finding 2), with real roles,
real connections and real runner processes.

Two runner-level roles A and B: a worker registered by A belongs to A (the login role,
session_user). B can neither report, return, beat, re-register, deregister nor claim for it,
and below the admin level nobody moves the clock: `now` is the server's, and `reset_locked`
keeps the 4-hour rule. Admin-level roles act for anyone and keep `now` (tests move time with
it). On 0.1.2 every attack here succeeded: B's sweep with `now = 'infinity'` declared A lost
and left its jobs with `run_at = infinity`, B's reports failed A's jobs for good."""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from helpers import FAST_RECOVERY, Runners, rows, scalar, wait_until

FOREIGN_WORKER = "GWA05"
ADMIN_ONLY = "GWA06"

#: A task file for the runner processes: `hold` keeps its job (and its lock) until the test
#: creates the file named by GW_TEST_RELEASE. The runner role has no table of its own to
#: record into, so the handler touches nothing in the database.
HOLD_TASKS = """
import os
import time
from pathlib import Path

from gw_runner import task

RELEASE = Path(os.environ["GW_TEST_RELEASE"])


@task
def hold(payload, ctx):
    deadline = time.monotonic() + 120
    while not RELEASE.exists():
        if time.monotonic() > deadline:
            raise RuntimeError("not released within 120 s")
        time.sleep(0.02)
"""


class Role:
    """A login role of the test and a connection as that role."""

    def __init__(self, name: str, conn: psycopg.Connection) -> None:
        self.name = name
        self.conn = conn

    @property
    def dsn(self) -> str:
        info = self.conn.info
        return f"host={info.host} port={info.port} dbname={info.dbname} user={self.name}"

    def refused(self, sql: str, params: Any = None) -> str:
        """Run sql, which must fail; its SQLSTATE."""
        with pytest.raises(psycopg.Error) as exc:
            self.conn.execute(sql, params)
        return str(exc.value.sqlstate)


@pytest.fixture
def make_role(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> Iterator[Callable[..., Role]]:
    """Create a login role with a privilege level ('none' for no grants); a connection as it."""
    created: list[str] = []

    def _make(level: str, member_of: tuple[str, ...] = ()) -> Role:
        name = f"gw_{level}_{uuid.uuid4().hex[:8]}"
        db.execute(f'create role "{name}" login')
        created.append(name)
        if level != "none":
            db.execute("select graphile_worker.grant_role(%s, %s)", (name, level))
        for other in member_of:
            db.execute(f'grant "{other}" to "{name}"')
        return Role(name, connect(user=name))

    yield _make
    for name in reversed(created):
        db.execute(f'drop owned by "{name}"')
        db.execute(f'drop role "{name}"')


@pytest.fixture
def runners(dsn: str, tmp_path: Path, make_role: Any) -> Iterator[Runners]:
    """Runner processes of HOLD_TASKS, killed before the roles are dropped."""
    tasks = tmp_path / "hold_tasks.py"
    tasks.write_text(HOLD_TASKS)
    started = Runners(dsn, tmp_path, tasks=tasks)
    yield started
    started.close()


def _jobs(db: psycopg.Connection) -> list[dict[str, Any]]:
    return rows(
        db,
        "select id, locked_by, locked_at, attempts, run_at, payload::text as payload,"
        " last_error from graphile_worker._private_jobs order by id",
    )


def _registration(db: psycopg.Connection, worker_id: str) -> list[dict[str, Any]]:
    """The worker's registration, without its heartbeat time (a live runner moves it)."""
    return rows(
        db,
        "select worker_id, registered_at, stale_after, registered_by::regrole::text as registered_by,"
        " last_heartbeat_at <= clock_timestamp() as beat_not_in_future"
        " from graphile_worker._private_workers where worker_id = %s",
        (worker_id,),
    )


def test_another_runner_role_cannot_act_for_a_running_workers_jobs(
    db: psycopg.Connection, make_role: Callable[..., Role], runners: Runners, tmp_path: Path
) -> None:
    a = make_role("runner")
    b = make_role("runner")
    release = tmp_path / "release"
    ids = [
        scalar(db, "select id from graphile_worker.add_job('hold', '{\"n\": 1}')") for _ in range(3)
    ]
    runner = runners.start(
        "-j", "3", *FAST_RECOVERY, connection=a.dsn, env={"GW_TEST_RELEASE": str(release)}
    )
    a_id = wait_until(
        lambda: scalar(
            db,
            "select min(worker_id) from graphile_worker._private_workers"
            " where registered_by = %s::regrole::oid",
            (a.name,),
        ),
        30,
        "runner A to register",
    )
    wait_until(
        lambda: (
            scalar(
                db,
                "select count(*) from graphile_worker._private_jobs where locked_by = %s",
                (a_id,),
            )
            == 3
        ),
        30,
        "runner A to hold its three jobs",
    )
    jobs_before = _jobs(db)
    registration_before = _registration(db, a_id)
    assert registration_before[0]["registered_by"] == a.name
    failures = json.dumps(
        [
            {"id": i, "message": "failed by B", "permanent": True, "payload": {"replaced": "by B"}}
            for i in ids
        ]
    )

    attacks = [
        # the sweeps with a clock of B's choosing
        ("select * from graphile_worker.recover_stale_workers('0', 'infinity')", None, ADMIN_ONLY),
        ("select graphile_worker.reset_locked('0', 'infinity')", None, ADMIN_ONLY),
        ("select graphile_worker.reset_locked('0')", None, ADMIN_ONLY),
        # outcomes, returns, heartbeats and registration for A's worker
        (
            "select * from graphile_worker.report_jobs(%s, %s::bigint[])",
            (a_id, ids),
            FOREIGN_WORKER,
        ),
        (
            "select * from graphile_worker.report_jobs(%s, null, %s::json)",
            (a_id, failures),
            FOREIGN_WORKER,
        ),
        ("select graphile_worker.return_jobs(%s, %s::bigint[])", (a_id, ids), FOREIGN_WORKER),
        ("select graphile_worker.return_unheld_jobs(%s, '{}')", (a_id,), FOREIGN_WORKER),
        ("select graphile_worker.heartbeat(%s, 'infinity')", (a_id,), ADMIN_ONLY),
        ("select graphile_worker.heartbeat(%s)", (a_id,), FOREIGN_WORKER),
        ("select graphile_worker.deregister_worker(%s)", (a_id,), FOREIGN_WORKER),
        ("select graphile_worker.register_worker(%s, '1 microsecond')", (a_id,), FOREIGN_WORKER),
        ("select * from graphile_worker.get_jobs(%s, array['hold'])", (a_id,), FOREIGN_WORKER),
        # taking A's waiting mark away (enqueuers would stop waking A), or setting it
        (
            "select graphile_worker.wait_for_jobs(%s, array['hold'], null, false)",
            (a_id,),
            FOREIGN_WORKER,
        ),
        ("select graphile_worker.wait_for_jobs(%s, array['hold'])", (a_id,), FOREIGN_WORKER),
    ]
    # A found nothing more to claim (it holds its three jobs) and marked itself waiting. Its
    # LISTEN connection may come up after that first mark: A then claims and marks itself
    # again (a producer may have taken the mark off while A could not hear it). So the mark
    # to compare against is one written after A's LISTEN completed; A writes no other.
    listening_since = wait_until(
        lambda: scalar(
            db, "select max(state_change) from pg_stat_activity"
            " where usename = %s and state = 'idle' and query like 'LISTEN%%'", (a.name,)),
        30,
        "runner A to listen",
    )
    wait_until(
        lambda: scalar(
            db, "select count(*) from graphile_worker._private_wait_marks"
            " where worker_id = %s and waiting and marked_at > %s", (a_id, listening_since)) == 1,
        30,
        "runner A to mark itself waiting",
    )
    marks_before = rows(db, "select * from graphile_worker._private_wait_marks order by 1")
    for sql, params, sqlstate in attacks:
        assert b.refused(sql, params) == sqlstate, sql
        assert _jobs(db) == jobs_before, f"{sql} changed A's jobs"
        assert _registration(db, a_id) == registration_before, f"{sql} changed A's registration"
        assert rows(db, "select * from graphile_worker._private_wait_marks order by 1") == (
            marks_before), f"{sql} changed A's waiting mark"

    # What B may still do runs on the server's clock and leaves a live worker alone.
    assert (
        b.conn.execute("select * from graphile_worker.recover_stale_workers('0')").fetchall() == []
    )
    assert scalar(b.conn, "select graphile_worker.reset_locked()") == 0
    assert _jobs(db) == jobs_before
    assert _registration(db, a_id) == registration_before

    # A's jobs then complete normally, and A deregisters at its clean shutdown.
    release.touch()
    wait_until(
        lambda: scalar(db, "select count(*) from graphile_worker._private_jobs") == 0,
        30,
        "A's jobs to complete",
    )
    runner.send(signal.SIGTERM)
    assert runner.wait(30) == 0, runner.log
    assert "NOT recorded" not in runner.log
    assert "GWA05" not in runner.log and "GWA06" not in runner.log
    assert scalar(db, "select count(*) from graphile_worker._private_workers") == 0
    # ... and takes its waiting mark away
    assert scalar(db, "select count(*) from graphile_worker._private_wait_marks") == 0


def test_runners_of_two_roles_recover_each_others_crashed_jobs(
    db: psycopg.Connection, make_role: Callable[..., Role], runners: Runners, tmp_path: Path
) -> None:
    """The sweep is not bound: on the server's clock, B releases the jobs of A's crashed
    runner (lost after 3 s without a heartbeat) and runs them."""
    a = make_role("runner")
    b = make_role("runner")
    release = tmp_path / "release"
    env = {"GW_TEST_RELEASE": str(release)}
    for _ in range(2):
        db.execute("select graphile_worker.add_job('hold')")
    runner_a = runners.start("-j", "2", *FAST_RECOVERY, connection=a.dsn, env=env)
    a_id = wait_until(
        lambda: scalar(
            db,
            "select case when count(locked_by) = 2 then min(locked_by) end"
            " from graphile_worker._private_jobs",
        ),
        30,
        "runner A to hold both jobs",
    )
    runner_a.send(signal.SIGKILL)
    assert runner_a.wait(10) == -signal.SIGKILL
    release.touch()

    runner_b = runners.start("-j", "2", *FAST_RECOVERY, connection=b.dsn, env=env)
    runner_b.wait_for_log(f"recovered 2 job(s) of lost worker {a_id}", 40)
    wait_until(
        lambda: scalar(db, "select count(*) from graphile_worker._private_jobs") == 0,
        30,
        "B to complete A's recovered jobs",
    )
    assert (
        scalar(
            db,
            "select count(*) from graphile_worker._private_workers where worker_id = %s",
            (a_id,),
        )
        == 0
    )
    runner_b.send(signal.SIGTERM)
    assert runner_b.wait(30) == 0, runner_b.log


def test_admin_acts_for_any_worker_and_moves_time(
    db: psycopg.Connection, make_role: Callable[..., Role]
) -> None:
    a = make_role("runner")
    admin = make_role("admin")
    for _ in range(3):
        db.execute("select graphile_worker.add_job('t')")
    a.conn.execute("select graphile_worker.register_worker('wa', interval '1 minute')")
    claimed = [
        r[0] for r in a.conn.execute("select id from graphile_worker.get_jobs('wa', array['t'], 3)")
    ]
    assert len(claimed) == 3

    # an admin reports and beats for A's worker, with a clock of its choosing
    outcome = scalar(
        admin.conn,
        "select outcome from graphile_worker.report_jobs('wa',"
        " array[%s]::bigint[], now => now() + interval '1 second')",
        (claimed[0],),
    )
    assert outcome == "completed"
    assert scalar(admin.conn, "select graphile_worker.heartbeat('wa', now() + interval '10 s')")
    # ... sweeps with a now for tests: A's worker is lost two minutes from now
    swept = admin.conn.execute(
        "select worker_id, jobs_recovered from graphile_worker.recover_stale_workers("
        "'0', now() + interval '2 minutes')"
    ).fetchall()
    assert swept == [("wa", 2)]
    jobs = rows(db, "select locked_by, attempts, last_error from graphile_worker._private_jobs")
    assert len(jobs) == 2
    for job in jobs:
        assert job["locked_by"] is None and job["attempts"] == 1
        assert job["last_error"].startswith("worker wa was lost")
    # ... and resets locks younger than 4 hours
    db.execute("select graphile_worker.add_job('u') from generate_series(1, 2)")
    a.conn.execute("select graphile_worker.register_worker('wa2')")
    assert (
        len(
            a.conn.execute(
                "select id from graphile_worker.get_jobs('wa2', array['u'], 2)"
            ).fetchall()
        )
        == 2
    )
    assert (
        scalar(admin.conn, "select graphile_worker.reset_locked('0', now() + interval '1 s')") == 2
    )
    assert scalar(admin.conn, "select graphile_worker.deregister_worker('wa2')") is True


@pytest.mark.parametrize(
    "sql",
    [
        "select * from graphile_worker.get_jobs('w', array['t'], now => now() + interval '1 h')",
        "select * from graphile_worker.get_jobs('w', array['t'], now => now() - interval '1 h')",
        "select * from graphile_worker.report_jobs('w', array[1]::bigint[], now => 'infinity')",
        "select graphile_worker.return_jobs('w', array[1]::bigint[], now() + interval '1 h')",
        "select graphile_worker.return_unheld_jobs('w', '{}', now() + interval '1 h')",
        "select graphile_worker.register_worker('w', now => 'infinity')",
        "select graphile_worker.heartbeat('w', now() + interval '1 h')",
        "select graphile_worker.heartbeat('w', now() - interval '1 h')",
        "select * from graphile_worker.recover_stale_workers(now => now() + interval '1 h')",
        "select graphile_worker.reset_locked(now => now() + interval '1 h')",
        "select graphile_worker.reset_locked(interval '3 hours 59 minutes')",
    ],
)
def test_a_runner_role_cannot_move_the_clock_even_for_its_own_worker(
    db: psycopg.Connection, make_role: Callable[..., Role], sql: str
) -> None:
    a = make_role("runner")
    a.conn.execute("select graphile_worker.register_worker('w')")
    db.execute("select graphile_worker.add_job('t')")
    a.conn.execute("select id from graphile_worker.get_jobs('w', array['t'])")
    before = _jobs(db)
    heartbeat_before = scalar(db, "select last_heartbeat_at from graphile_worker._private_workers")
    assert a.refused(sql) == ADMIN_ONLY
    assert _jobs(db) == before
    assert (
        scalar(db, "select last_heartbeat_at from graphile_worker._private_workers")
        == heartbeat_before
    )


def test_a_runner_role_passing_the_server_clock_is_accepted(
    db: psycopg.Connection, make_role: Callable[..., Role]
) -> None:
    a = make_role("runner")
    db.execute("select graphile_worker.add_job('t')")
    a.conn.execute("select graphile_worker.register_worker('w', now => now())")
    assert scalar(a.conn, "select graphile_worker.heartbeat('w', now())") is True
    assert scalar(a.conn, "select graphile_worker.heartbeat('w', null)") is True
    job_id = scalar(
        a.conn, "select id from graphile_worker.get_jobs('w', array['t'], now => now())"
    )
    assert scalar(a.conn, "select graphile_worker.reset_locked(interval '5 hours', now())") == 0
    assert (
        a.conn.execute("select * from graphile_worker.recover_stale_workers('0', now())").fetchall()
        == []
    )
    assert (
        scalar(
            a.conn,
            "select outcome from graphile_worker.report_jobs('w',"
            " array[%s]::bigint[], now => now())",
            (job_id,),
        )
        == "completed"
    )


def test_unregistered_worker_ids_keep_working_for_runner_roles(
    db: psycopg.Connection, make_role: Callable[..., Role]
) -> None:
    """Node workers and `gw_runner --no-recovery` never register: their ids are bound to no
    role (docs/security.md says what that leaves open)."""
    a = make_role("runner")
    for _ in range(2):
        db.execute("select graphile_worker.add_job('t')")
    ids = [
        r[0]
        for r in a.conn.execute("select id from graphile_worker.get_jobs('node-1', array['t'], 2)")
    ]
    assert len(ids) == 2
    assert (
        scalar(a.conn, "select graphile_worker.return_jobs('node-1', %s::bigint[])", (ids[1:],))
        == 1
    )
    assert (
        scalar(
            a.conn,
            "select outcome from graphile_worker.report_jobs('node-1', %s::bigint[])",
            (ids[:1],),
        )
        == "completed"
    )
    assert scalar(a.conn, "select graphile_worker.heartbeat('node-1')") is False
    assert scalar(a.conn, "select graphile_worker.deregister_worker('node-1')") is False


def test_the_binding_is_the_login_role_not_set_role(
    db: psycopg.Connection, make_role: Callable[..., Role]
) -> None:
    """A login that SETs ROLE to a runner role registers for itself (session_user): the runner
    role's own login cannot act for that worker, and the worker's login keeps it whatever role
    it switches to."""
    a = make_role("runner")
    b = make_role("runner")
    login = make_role("none", member_of=(a.name, b.name))
    login.conn.execute(f'set role "{a.name}"')
    login.conn.execute("select graphile_worker.register_worker('wl')")
    assert (
        scalar(
            db,
            "select registered_by::regrole::text from graphile_worker._private_workers"
            " where worker_id = 'wl'",
        )
        == login.name
    )
    assert a.refused("select graphile_worker.heartbeat('wl')") == FOREIGN_WORKER
    login.conn.execute(f'set role "{b.name}"')
    assert scalar(login.conn, "select graphile_worker.heartbeat('wl')") is True
    # and the other way round: a worker of login A is not the login's through SET ROLE
    a.conn.execute("select graphile_worker.register_worker('wa')")
    login.conn.execute(f'set role "{a.name}"')
    assert login.refused("select graphile_worker.deregister_worker('wa')") == FOREIGN_WORKER


def test_a_registration_without_a_role_is_bound_by_its_next_registration(
    db: psycopg.Connection, make_role: Callable[..., Role]
) -> None:
    """Registrations made by 0.1.2 have no role after the upgrade (registered_by is null):
    bound to no role until the worker registers again."""
    a = make_role("runner")
    b = make_role("runner")
    db.execute("select graphile_worker.register_worker('old')")
    db.execute("update graphile_worker._private_workers set registered_by = null")
    assert scalar(b.conn, "select graphile_worker.heartbeat('old')") is True
    a.conn.execute("select graphile_worker.register_worker('old')")
    assert (
        scalar(db, "select registered_by::regrole::text from graphile_worker._private_workers")
        == a.name
    )
    assert b.refused("select graphile_worker.heartbeat('old')") == FOREIGN_WORKER


def test_refusals_say_what_to_do(db: psycopg.Connection, make_role: Callable[..., Role]) -> None:
    a = make_role("runner")
    b = make_role("runner")
    a.conn.execute("select graphile_worker.register_worker('wa')")
    with pytest.raises(psycopg.Error) as exc:
        b.conn.execute("select graphile_worker.heartbeat('wa')")
    diag = exc.value.diag
    assert diag.message_primary == "heartbeat: worker wa is registered to another role"
    assert b.name in (diag.message_detail or "")
    assert "admin" in (diag.message_hint or "")
    with pytest.raises(psycopg.Error) as exc:
        b.conn.execute("select * from graphile_worker.recover_stale_workers(now => 'infinity')")
    diag = exc.value.diag
    assert diag.message_primary == (
        "recover_stale_workers: only admin-level roles may pass a now other than the server's clock"
    )
    assert "Leave now out" in (diag.message_hint or "")


def test_the_admin_level_counts_through_set_role(
    db: psycopg.Connection, make_role: Callable[..., Role]
) -> None:
    """A login that does not inherit its admin role's rights is admin once it SETs ROLE to
    it, and a runner role again after RESET ROLE."""
    admin = make_role("admin")
    login = make_role("none", member_of=(admin.name,))
    db.execute(f'alter role "{login.name}" noinherit')
    a = make_role("runner")
    a.conn.execute("select graphile_worker.register_worker('wa')")
    login.conn.execute(f'set role "{admin.name}"')
    assert scalar(login.conn, "select graphile_worker.heartbeat('wa', now() + interval '1 s')")
    login.conn.execute("reset role")
    assert login.refused("select graphile_worker.heartbeat('wa')") == "42501"  # no grants


def test_a_runner_whose_id_another_role_took_stops_instead_of_retrying_for_ever(
    db: psycopg.Connection, make_role: Callable[..., Role], runners: Runners, tmp_path: Path
) -> None:
    """A's registration is gone (as after a sweep) and B registered A's id: every call of A is
    refused (GWA05) from then on. Retrying cannot help, so A stops with status 1 and says why,
    instead of logging refused heartbeats and claims for ever while it looks healthy."""
    a = make_role("runner")
    b = make_role("runner")
    runner = runners.start("-j", "1", *FAST_RECOVERY, connection=a.dsn,
                           env={"GW_TEST_RELEASE": str(tmp_path / "release")})
    a_id = wait_until(
        lambda: scalar(db, "select min(worker_id) from graphile_worker._private_workers"
                           " where registered_by = %s::regrole", (a.name,)),
        30, "runner A to register",
    )
    db.execute("delete from graphile_worker._private_workers where worker_id = %s", (a_id,))
    b.conn.execute("select graphile_worker.register_worker(%s, '5 minutes', '{}')", (a_id,))
    assert runner.wait(60) == 1, runner.log
    assert "GWA05" in runner.log or "registered to another role" in runner.log
    assert "internal error" not in runner.log  # said as what it is, not as a crash
