"""Objects planted in `public` (and `pg_temp`) under the names of built-ins are never called."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg

from tests.helpers import one, rows, scalar

PLANT = """
create table public.planted_calls (name text, at timestamptz default clock_timestamp());
grant insert on public.planted_calls to public;
create function public.now() returns timestamptz language plpgsql as $$
  begin insert into public.planted_calls(name) values ('now'); return '2000-01-01'; end $$;
create function public.exp(double precision) returns double precision language plpgsql as $$
  begin insert into public.planted_calls(name) values ('exp'); return 1e9; end $$;
create function public.random() returns double precision language plpgsql as $$
  begin insert into public.planted_calls(name) values ('random'); return 0; end $$;
create function public.length(text) returns integer language plpgsql as $$
  begin insert into public.planted_calls(name) values ('length'); return 1; end $$;
create function public.json_typeof(json) returns text language plpgsql as $$
  begin insert into public.planted_calls(name) values ('json_typeof'); return 'array'; end $$;
create function public.hashtext(text) returns integer language plpgsql as $$
  begin insert into public.planted_calls(name) values ('hashtext'); return 1; end $$;
create function public.pg_notify(text, text) returns void language plpgsql as $$
  begin insert into public.planted_calls(name) values ('pg_notify'); end $$;
create function public.jsonb_object_agg_evil(state jsonb, k text, v boolean) returns jsonb language plpgsql as $$
  begin insert into public.planted_calls(name) values ('jsonb_object_agg'); return '{}'; end $$;
create aggregate public.jsonb_object_agg(text, boolean) (sfunc = public.jsonb_object_agg_evil, stype = jsonb);
create function public.greatest_evil(a timestamptz, b timestamptz) returns timestamptz language plpgsql as $$
  begin insert into public.planted_calls(name) values ('operator'); return '2000-01-01'; end $$;
create function public.text_eq_evil(a text, b text) returns boolean language plpgsql as $$
  begin insert into public.planted_calls(name) values ('operator ='); return true; end $$;
create operator public.= (leftarg = text, rightarg = text, function = public.text_eq_evil);
create function public.ts_plus_evil(a timestamptz, b interval) returns timestamptz language plpgsql as $$
  begin insert into public.planted_calls(name) values ('operator +'); return '2000-01-01'; end $$;
create operator public.+ (leftarg = timestamptz, rightarg = interval, function = public.ts_plus_evil);
create table public._private_jobs (id bigint);
"""


def test_planted_public_objects_are_never_called(db: psycopg.Connection, connect) -> None:
    db.execute(PLANT)
    attacker = connect()
    attacker.execute("set search_path = public, pg_catalog")
    attacker.execute(
        "create function pg_temp.now() returns timestamptz language sql as $$ select '2000-01-01'::timestamptz $$"
    )
    listener = connect()
    listener.execute('listen "jobs:insert"')

    start = datetime.now(UTC)
    job = one(
        attacker,
        "select * from graphile_worker.add_job('t', '[1]', job_key => 'k', queue_name => 'q')",
    )
    merged = one(
        attacker,
        "select * from graphile_worker.add_job('t', '[2]', job_key => 'k', queue_name => 'q')",
    )
    assert merged["id"] == job["id"]
    assert merged["payload"] == [1, 2]
    attacker.execute("select * from graphile_worker.add_job('other', '{}', flags => array['f'])")
    assert abs(job["run_at"] - start) < timedelta(minutes=1)

    claimed = rows(
        attacker,
        "select id, queue_name from graphile_worker.get_jobs('w', array['t', 'other'], 10)",
    )
    assert {c["id"] for c in claimed} >= {job["id"]}
    failed = one(
        attacker,
        "select * from graphile_worker.report_jobs('w', failures => json_build_array(json_build_object('id', %s::bigint, 'message', 'boom')))",
        (job["id"],),
    )
    assert failed["outcome"] == "failed"
    # backoff exp(1) seconds after the real now, not 1e9 seconds and not from 2000-01-01
    assert timedelta(seconds=2) < failed["run_at"] - start < timedelta(minutes=1)
    assert (
        scalar(attacker, "select graphile_worker.next_job_due_at(array['t'])") == failed["run_at"]
    )
    attacker.execute("select graphile_worker.remove_job('k')")

    notes = list(listener.notifies(timeout=2.0, stop_after=4))
    assert len(notes) == 4 and all(json.loads(n.payload)["r"] > 0 for n in notes[:3])
    assert scalar(db, "select count(*) from public.planted_calls") == 0
    assert scalar(db, "select count(*) from public._private_jobs") == 0
    # The plant works for code that does not pin its search_path (so the test can fail).
    attacker.execute("select now(), exp(1.0::float8), 'a' = 'b'")
    assert scalar(db, "select count(*) from public.planted_calls") == 3
