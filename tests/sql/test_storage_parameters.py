"""The autovacuum settings the SQL sets on the queue's tables (0.1.6, docs/scaling.md "Hours of
volume"): vacuum comes to the jobs table after 1 % of its rows are dead, with a larger budget,
and to the small, often rewritten tables without pauses. Both install kinds."""

from __future__ import annotations

import psycopg
from helpers import rows

EXPECTED = {
    "_private_jobs": {
        "autovacuum_vacuum_scale_factor=0.01",
        "autovacuum_vacuum_threshold=1000",
        "autovacuum_analyze_scale_factor=0.02",
        "autovacuum_vacuum_cost_limit=2000",
    },
    "_private_job_queues": {"autovacuum_vacuum_cost_delay=0"},
    "_private_claim_floors": {"autovacuum_vacuum_cost_delay=0", "fillfactor=50"},
    "_private_claim_floor_log": {"autovacuum_vacuum_cost_delay=0"},
    "_private_claim_clock": {"autovacuum_vacuum_cost_delay=0"},
    "_private_workers": {"autovacuum_vacuum_cost_delay=0"},
    "_private_wait_marks": {"autovacuum_vacuum_cost_delay=0"},
}


def test_queue_tables_carry_their_autovacuum_settings(db: psycopg.Connection) -> None:
    found = {
        r["relname"]: set(r["reloptions"] or [])
        for r in rows(db, "select relname, reloptions from pg_class"
                          " where relnamespace = 'graphile_worker'::regnamespace"
                          " and relkind = 'r'")
    }
    assert {t: found.get(t) for t in EXPECTED} == EXPECTED
    # the tables of the graphile-worker contract that churn little keep the server's defaults
    assert found["_private_tasks"] == set() and found["_private_known_crontabs"] == set()
    assert found["migrations"] == set()

