"""The runner level can parse, match and schedule a crontab with EXECUTE rights only (the cron
functions are security definer); a producer cannot schedule cron jobs."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from helpers import scalar


@pytest.fixture
def role_connection(
    db: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> Iterator[Callable[[str], psycopg.Connection]]:
    created: list[str] = []

    def _make(level: str) -> psycopg.Connection:
        name = f"gw_cron_{level}_{uuid.uuid4().hex[:8]}"
        db.execute(f'create role "{name}" login')
        created.append(name)
        db.execute("select graphile_worker.grant_role(%s, %s)", (name, level))
        return connect(user=name)

    yield _make
    for name in created:
        db.execute(f'drop owned by "{name}"')
        db.execute(f'drop role "{name}"')


def test_runner_role_schedules_crontab_with_execute_rights_only(db, role_connection) -> None:
    runner = role_connection("runner")
    crontab = "0 4 * * * report ?tz=Europe/London&queue=q {\"a\": 1}"
    every_minute = "* * * * * report ?queue=q {\"a\": 1}"
    got = runner.execute(  # on the server's clock: due every minute
        "select identifier, backfilled from graphile_worker.schedule_crontab(%s)",
        (every_minute,),
    ).fetchall()
    assert got == [("report", False)]
    assert runner.execute(
        "select graphile_worker.cron_matches(i, '2024-07-10 03:00Z'), "
        "graphile_worker.cron_next_after('@daily', '2024-01-01', 'Asia/Tokyo') "
        "from graphile_worker.parse_crontab(%s) i",
        (crontab,),
    ).fetchone() == (True, datetime(2024, 1, 1, 15, 0, tzinfo=UTC))
    assert scalar(db, "select count(*) from graphile_worker._private_jobs") == 1
    with pytest.raises(psycopg.Error) as exc:
        runner.execute("select * from graphile_worker._private_known_crontabs")
    assert exc.value.sqlstate == "42501"


def test_producer_role_cannot_schedule_crontab(role_connection) -> None:
    producer = role_connection("producer")
    with pytest.raises(psycopg.Error) as exc:
        producer.execute("select * from graphile_worker.schedule_crontab('* * * * * a')")
    assert exc.value.sqlstate == "42501"


def test_runner_role_cannot_move_the_cron_clock(db, role_connection) -> None:
    """A future now would move each item's last_execution forward, and no runner would
    schedule it again until then: below the admin level it is refused (GWA06)."""
    runner = role_connection("runner")
    crontab = "* * * * * report"
    for sql in ("select * from graphile_worker.schedule_crontab(%s, now => '2100-01-01Z')",
                "select graphile_worker.register_crontab(%s, now => '2100-01-01Z')"):
        with pytest.raises(psycopg.Error) as exc:
            runner.execute(sql, (crontab,))
        assert exc.value.sqlstate == "GWA06"
    assert scalar(db, "select count(*) from graphile_worker._private_known_crontabs") == 0
    assert scalar(db, "select count(*) from graphile_worker._private_jobs") == 0
    admin = role_connection("admin")
    got = admin.execute(
        "select identifier from graphile_worker.schedule_crontab(%s, now => '2024-01-10 04:00Z')",
        (crontab,),
    ).fetchall()
    assert got == [("report",)]
