-- The size cap of a stored result (docs/history.md): the JSON text of a handler's return value
-- may be at most this many bytes; a larger one is not stored (the job still completes, and
-- result_note says why). gw_runner logs it. 64 KiB keeps a row of the store small enough for
-- lists and dashboards; larger outputs belong in a table or object store the result points to.
create function graphile_worker._private_result_cap()
returns integer
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select 65536;
$$;

comment on function graphile_worker._private_result_cap() is
  'The largest result stored with a finished job, in bytes of its JSON text (65536).';

-- How long a finished job of this task is kept: its own setting, else the default, else 0
-- (not recorded).
create function graphile_worker._private_keep_for(task_identifier text)
returns interval
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(
    (select r.keep from graphile_worker._private_retention as r
     where r.task_identifier = _private_keep_for.task_identifier),
    (select r.keep from graphile_worker._private_retention as r where r.task_identifier is null),
    interval '0');
$$;

comment on function graphile_worker._private_keep_for(text) is
  'The retention of a task''s finished jobs: its own setting, else the default, else 0 (none).';

-- Is anything recorded at all: a retention above zero, or a job someone waits for? The
-- functions that finish jobs call this once per call and do no history work when it is false,
-- so a database that never set a retention pays two probes of empty tables per report.
create function graphile_worker._private_history_on()
returns boolean
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select exists (select 1 from graphile_worker._private_retention as r where r.keep > interval '0')
    or exists (select 1 from graphile_worker._private_finish_watches);
$$;

comment on function graphile_worker._private_history_on() is
  'True when some task keeps finished jobs or some session waits for a job: only then do the functions that finish jobs record anything.';
