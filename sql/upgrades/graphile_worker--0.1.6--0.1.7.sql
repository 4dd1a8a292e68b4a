-- graphile_worker 0.1.6 -> 0.1.7: the finished-jobs store (docs/history.md).
--  * new tables _private_retention, _private_finished_jobs, _private_attempt_errors and
--    _private_finish_watches (unlogged), with their storage parameters, and the view
--    finished_jobs;
--  * new functions: set_retention, clear_retention, retention_settings (admin level),
--    prune_finished_jobs (runner level), job_status, job_status_by_key, watch_job, unwatch_job
--    (producer level), and private helpers (revoked from public, granted to no level);
--  * report_jobs gains a last argument, results json default null: dropped and created again;
--    the roles that could execute it keep that right (the DO block at the end);
--  * complete_jobs, permanently_fail_jobs (now PL/pgSQL), remove_job and
--    recover_stale_workers record what they finish when history is on; same signatures,
--    results and errors;
--  * grant_role and revoke_role know the new functions and the view. Roles granted a level
--    before this upgrade get the new functions of their level from the DO block at the end.
-- 0.1.7 also corrects a source comment of _private_wait_marks (not stored in the database).

-- from sql/src/20_tables/82_private_finished_jobs.sql
-- History of finished jobs (0.1.7; docs/history.md). Not part of the graphile-worker schema:
-- Node workers never read or write these tables (a job a Node worker completes leaves no row).
--
-- _private_retention: how long a finished job is kept, per task identifier, with one default
-- row (task_identifier null) for every task without its own. No row at all means nothing is
-- recorded, which is the default: report_jobs then does no extra work.
create table graphile_worker._private_retention (
  task_identifier text,
  keep interval not null,
  set_at timestamptz not null default now(),
  constraint retention_task_identifier_check check (length(task_identifier) between 1 and 128),
  constraint retention_keep_check check (keep >= interval '0')
);

create unique index retention_task_index on graphile_worker._private_retention (task_identifier)
  where task_identifier is not null;
create unique index retention_default_index on graphile_worker._private_retention ((true))
  where task_identifier is null;

alter table graphile_worker._private_retention enable row level security;

comment on table graphile_worker._private_retention is
  'How long finished jobs are kept (set_retention()): one row per task with its own setting, and the default (task_identifier null). No row: nothing is recorded.';

-- _private_finished_jobs: one row per job that completed, failed for good or was cancelled
-- through the extension's functions, written in the same transaction as the job's change.
-- A permanently failed job stays in the jobs table too (graphile-worker keeps it); its row here
-- says when it failed and with which errors. expires_at = finished_at + the task's retention;
-- prune_finished_jobs() deletes past it in batches (docs/history.md says why batches and not
-- dropped partitions).
create table graphile_worker._private_finished_jobs (
  id bigint not null,
  task_identifier text not null,
  queue_name text,
  payload json not null,
  key text,
  priority smallint not null,
  flags jsonb,
  attempts smallint not null,
  max_attempts smallint not null,
  outcome text not null,
  result jsonb,
  result_note text,
  last_error text,
  errors jsonb not null default '[]'::jsonb,
  created_at timestamptz not null,
  first_started_at timestamptz,
  finished_at timestamptz not null,
  worker_id text,
  expires_at timestamptz not null,
  constraint finished_jobs_pkey primary key (id),
  constraint finished_jobs_outcome_check check (outcome in ('completed', 'failed', 'cancelled'))
);

create index finished_jobs_expires_at_index on graphile_worker._private_finished_jobs (expires_at);
create index finished_jobs_key_index on graphile_worker._private_finished_jobs (key, finished_at)
  where key is not null;
create index finished_jobs_finished_at_index on graphile_worker._private_finished_jobs
  (finished_at, id);

alter table graphile_worker._private_finished_jobs enable row level security;

-- extension-only:begin
select pg_catalog.pg_extension_config_dump('graphile_worker._private_retention', '');
select pg_catalog.pg_extension_config_dump('graphile_worker._private_finished_jobs', '');
-- extension-only:end

comment on table graphile_worker._private_finished_jobs is
  'Finished jobs kept for their task''s retention: outcome (completed, failed, cancelled), result, the errors of every attempt, times and worker. Read through job_status() and the finished_jobs view; pruned by prune_finished_jobs().';

-- _private_attempt_errors: the errors of a job's failed attempts while it is still in the
-- jobs table (it retries, or failed for good), newest last and at most 25 (the bounded list of
-- docs/history.md), for tasks with a retention. Moved into the job's finished row when it
-- completes or is cancelled; rows of jobs deleted by other means (a Node worker, an admin's
-- delete) are removed by prune_finished_jobs().
create table graphile_worker._private_attempt_errors (
  job_id bigint not null,
  first_started_at timestamptz,
  errors jsonb not null,
  constraint attempt_errors_pkey primary key (job_id)
);

alter table graphile_worker._private_attempt_errors enable row level security;

-- extension-only:begin
select pg_catalog.pg_extension_config_dump('graphile_worker._private_attempt_errors', '');
-- extension-only:end

comment on table graphile_worker._private_attempt_errors is
  'Errors of the failed attempts of jobs still in the jobs table (tasks with a retention): [{"attempt","started_at","failed_at","worker_id","error"}], newest last, at most 25.';

-- _private_finish_watches: jobs someone waits for (watch_job(), gw_runner's wait_for_job).
-- When such a job finishes, the function that finishes it notifies graphile_worker:finished
-- and records it for at least 10 minutes even without a retention; jobs nobody waits for cost
-- no notification. Unlogged: waiters reconnect and watch again after a crash.
create unlogged table graphile_worker._private_finish_watches (
  job_id bigint not null,
  backend_pid integer not null,
  watched_at timestamptz not null,
  constraint finish_watches_pkey primary key (job_id, backend_pid)
);

alter table graphile_worker._private_finish_watches enable row level security;

comment on table graphile_worker._private_finish_watches is
  'Jobs a session waits for (watch_job()): finishing one notifies graphile_worker:finished with {"id","outcome"}.';

-- from sql/src/20_tables/90_storage_parameters.sql (the 0.1.7 part)
-- 0.1.7: the finished-jobs store is appended to in finished_at order and pruned from the
-- other end in batches; vacuum after 1 % + 1,000 dead rows keeps its size level
-- (docs/history.md, "Pruning").
alter table graphile_worker._private_finished_jobs set (
  autovacuum_vacuum_scale_factor = 0.01,
  autovacuum_vacuum_threshold = 1000,
  autovacuum_vacuum_cost_limit = 2000
);
alter table graphile_worker._private_attempt_errors set (autovacuum_vacuum_cost_delay = 0);
alter table graphile_worker._private_finish_watches set (autovacuum_vacuum_cost_delay = 0);

-- from sql/src/30_functions/07_history/00_private_history_basics.sql
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

revoke all on function graphile_worker._private_result_cap() from public;
revoke all on function graphile_worker._private_keep_for(text) from public;
revoke all on function graphile_worker._private_history_on() from public;

-- from sql/src/30_functions/07_history/10_private_record_attempt_errors.sql
-- Append the error of a failed attempt to each job's list (_private_attempt_errors), for jobs
-- still locked by worker_id whose task keeps history or that someone waits for. The rows are
-- locked first, so a concurrent sweep cannot release a job between the check and the write.
-- started_at is the attempt's start (the job's locked_at). The list keeps the newest 25
-- entries; an error text is kept up to 8,000 characters (the job's last_error keeps it whole).
create function graphile_worker._private_record_attempt_errors(
  worker_id text,
  job_ids bigint[],
  messages text[],
  now timestamptz
)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  insert into graphile_worker._private_attempt_errors as e (job_id, first_started_at, errors)
  select x.id,
    case when x.attempts <= 1 then x.locked_at end,
    jsonb_build_array(jsonb_build_object(
      'attempt', x.attempts,
      'started_at', x.locked_at,
      'failed_at', _private_record_attempt_errors.now,
      'worker_id', _private_record_attempt_errors.worker_id,
      'error', left(x.message, 8000)))
  from (
    select jobs.id, jobs.attempts, jobs.locked_at, m.message
    from rows from (pg_catalog.unnest(job_ids), pg_catalog.unnest(messages)) as m(id, message)
    join graphile_worker._private_jobs as jobs on jobs.id = m.id
    join graphile_worker._private_tasks as tasks on tasks.id = jobs.task_id
    left join graphile_worker._private_retention as own on own.task_identifier = tasks.identifier
    where jobs.locked_by = _private_record_attempt_errors.worker_id
      -- the retention as _private_keep_for() computes it (joined, not called per job)
      and (coalesce(own.keep,
          (select d.keep from graphile_worker._private_retention as d
           where d.task_identifier is null),
          interval '0') > interval '0'
        or exists (select 1 from graphile_worker._private_finish_watches as w where w.job_id = jobs.id))
    order by jobs.id
    for update of jobs
  ) as x
  on conflict (job_id) do update
  set errors = (
    select jsonb_agg(a.v order by a.o)
    from jsonb_array_elements(e.errors || excluded.errors) with ordinality as a(v, o)
    where a.o > jsonb_array_length(e.errors) + 1 - 25
  );
end;
$$;

comment on function graphile_worker._private_record_attempt_errors(text, bigint[], text[], timestamptz) is
  'History: append each failed attempt''s error (attempt, started_at, failed_at, worker_id, error) to the job''s list, newest 25 kept, for jobs still locked by worker_id whose task keeps history or that someone waits for.';

revoke all on function graphile_worker._private_record_attempt_errors(text, bigint[], text[], timestamptz) from public;

-- from sql/src/30_functions/07_history/15_private_results_map.sql
-- The results of completed jobs as report_jobs passes them to _private_record_finished:
-- {"<id>": {"v": value}} for each non-null entry of results (aligned with job_ids), or
-- {"<id>": {"dropped": why}} for a result over _private_result_cap() bytes of JSON text or one
-- that jsonb cannot hold (\u0000, an unpaired surrogate, a number beyond numeric). Such a result
-- is dropped, not an error: the job still completes.
create function graphile_worker._private_results_map(job_ids bigint[], results json)
returns jsonb
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_map jsonb := '{}'::jsonb;
  v_id bigint;
  v_value json;
  v_size integer;
  v_converted jsonb;
begin
  for v_id, v_value in
    select k.id, r.v
    from pg_catalog.unnest(job_ids) with ordinality as k(id, ord)
    join json_array_elements(results) with ordinality as r(v, ord) on r.ord = k.ord
    where json_typeof(r.v) <> 'null'
  loop
    v_size := octet_length(v_value::text);
    if v_size > graphile_worker._private_result_cap() then
      v_map := v_map || jsonb_build_object(v_id::text, jsonb_build_object('dropped',
        format('the result was %s bytes of JSON, over the cap of %s bytes; it was not stored',
          v_size, graphile_worker._private_result_cap())));
      continue;
    end if;
    begin
      v_converted := v_value::jsonb;
      v_map := v_map || jsonb_build_object(v_id::text, jsonb_build_object('v', v_converted));
    exception when data_exception or program_limit_exceeded then
      v_map := v_map || jsonb_build_object(v_id::text, jsonb_build_object('dropped',
        format('the result cannot be stored as jsonb (%s); it was not stored', sqlerrm)));
    end;
  end loop;
  return v_map;
end;
$$;

comment on function graphile_worker._private_results_map(bigint[], json) is
  'History: map job id -> {"v": result} or {"dropped": why} for the non-null results of completed jobs (at most _private_result_cap() bytes each, storable as jsonb).';

revoke all on function graphile_worker._private_results_map(bigint[], json) from public;

-- from sql/src/30_functions/07_history/20_private_record_finished.sql
-- Record finished jobs in the store, in the caller's transaction: the rows as they were when
-- they finished (deleted, or updated to permanently failed), their outcome, the worker that ran
-- them (null for an admin's action: the row's locked_by is used), and for completed jobs the
-- results keyed by job id ({"<id>": {"v": value}} or {"<id>": {"dropped": why}}). A job is
-- recorded when its task keeps history, or for at least 10 minutes when someone waits for it;
-- those waited for are announced on graphile_worker:finished ({"id","outcome"}). A job that
-- finished before (failed, then retried by an admin) has its row replaced. A completed or
-- cancelled job leaves the jobs table, so its attempt errors move into its row.
create function graphile_worker._private_record_finished(
  jobs graphile_worker._private_jobs[],
  outcome text,
  worker_id text,
  results jsonb,
  now timestamptz
)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_watched bigint[];
begin
  if jobs is null or cardinality(jobs) = 0 then
    return;
  end if;

  with j as (
    -- the retention as _private_keep_for() computes it, joined here rather than called: a
    -- function with its own search_path is never inlined, and a call per job cost 3x the
    -- insert (docs/history.md)
    select r.*, coalesce(t.identifier, 'task #' || r.task_id) as identifier, q.queue_name,
      coalesce(own.keep,
        (select d.keep from graphile_worker._private_retention as d where d.task_identifier is null),
        interval '0') as keep,
      exists (select 1 from graphile_worker._private_finish_watches as w where w.job_id = r.id)
        as watched
    from pg_catalog.unnest(_private_record_finished.jobs) as r
    left join graphile_worker._private_tasks as t on t.id = r.task_id
    left join graphile_worker._private_job_queues as q on q.id = r.job_queue_id
    left join graphile_worker._private_retention as own on own.task_identifier = t.identifier
  ),
  ins as (
    insert into graphile_worker._private_finished_jobs as f (
      id, task_identifier, queue_name, payload, key, priority, flags, attempts, max_attempts,
      outcome, result, result_note, last_error, errors, created_at, first_started_at, finished_at,
      worker_id, expires_at)
    select j.id, j.identifier, j.queue_name, j.payload, j.key, j.priority, j.flags, j.attempts,
      j.max_attempts, _private_record_finished.outcome,
      _private_record_finished.results -> (j.id::text) -> 'v',
      _private_record_finished.results -> (j.id::text) ->> 'dropped',
      j.last_error,
      coalesce(e.errors, '[]'::jsonb),
      j.created_at,
      coalesce(e.first_started_at, case when j.attempts <= 1 then j.locked_at end),
      _private_record_finished.now,
      coalesce(_private_record_finished.worker_id, j.locked_by),
      _private_record_finished.now
        + greatest(j.keep, case when j.watched then interval '10 minutes' else interval '0' end)
    from j
    left join graphile_worker._private_attempt_errors as e on e.job_id = j.id
    where j.keep > interval '0' or j.watched
    on conflict (id) do update
    set task_identifier = excluded.task_identifier, queue_name = excluded.queue_name,
      payload = excluded.payload, key = excluded.key, priority = excluded.priority,
      flags = excluded.flags, attempts = excluded.attempts, max_attempts = excluded.max_attempts,
      outcome = excluded.outcome, result = excluded.result, result_note = excluded.result_note,
      last_error = excluded.last_error,
      errors = excluded.errors, created_at = excluded.created_at,
      first_started_at = coalesce(f.first_started_at, excluded.first_started_at),
      finished_at = excluded.finished_at, worker_id = excluded.worker_id,
      expires_at = excluded.expires_at
  ),
  moved as (
    delete from graphile_worker._private_attempt_errors as e
    where _private_record_finished.outcome <> 'failed'
      and e.job_id in (select j.id from j)
  )
  select array_agg(j.id) filter (where j.watched) into v_watched from j;

  if v_watched is not null then
    perform pg_catalog.pg_notify('graphile_worker:finished',
      json_build_object('id', w.id, 'outcome', _private_record_finished.outcome)::text)
    from pg_catalog.unnest(v_watched) as w(id);
  end if;
end;
$$;

comment on function graphile_worker._private_record_finished(graphile_worker._private_jobs[], text, text, jsonb, timestamptz) is
  'History: record finished jobs (outcome completed, failed or cancelled) for their task''s retention, or 10 minutes when someone waits for them, and notify graphile_worker:finished for those waited for.';

revoke all on function graphile_worker._private_record_finished(graphile_worker._private_jobs[], text, text, jsonb, timestamptz) from public;

-- from sql/src/30_functions/07_history/30_set_retention.sql
-- Retention of finished jobs (docs/history.md). set_retention(task, keep) keeps the finished
-- jobs of one task (or, with a null task, of every task without its own setting) for keep;
-- keep = '0' records nothing. Rows already stored get their expiry moved to finished_at + the
-- new retention, so a shorter retention is pruned at the next prune. clear_retention(task)
-- removes a task's own setting (the default applies again) or, with null, the default (tasks
-- without their own setting are no longer recorded). A task need not exist yet: identifiers
-- appear with their first job. Both are admin actions.
create function graphile_worker._private_check_retention_task(task_identifier text, function_name text)
returns void
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  if task_identifier = '' or length(task_identifier) > 128 then
    raise exception '%: the task identifier must be 1 to 128 characters, not %', function_name,
      length(task_identifier)
      using errcode = 'GWH01',
      detail = format('The identifier given was %s.', quote_literal(left(task_identifier, 200))),
      hint = 'Pass a task identifier as add_job takes it, or null for the default of every task.';
  end if;
end;
$$;

comment on function graphile_worker._private_check_retention_task(text, text) is
  'History: raise GWH01 for an empty task identifier or one over 128 characters.';

-- Move the expiry of stored rows of one task (or of every task without its own setting, when
-- task_identifier is null) to finished_at + its retention now.
create function graphile_worker._private_redate_finished(task_identifier text)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_keep interval := graphile_worker._private_keep_for(_private_redate_finished.task_identifier);
begin
  if _private_redate_finished.task_identifier is not null then
    update graphile_worker._private_finished_jobs as f
    set expires_at = f.finished_at + v_keep
    where f.task_identifier = _private_redate_finished.task_identifier
      and f.expires_at is distinct from f.finished_at + v_keep;
  else
    update graphile_worker._private_finished_jobs as f
    set expires_at = f.finished_at + v_keep
    where not exists (
        select 1 from graphile_worker._private_retention as r
        where r.task_identifier = f.task_identifier)
      and f.expires_at is distinct from f.finished_at + v_keep;
  end if;
end;
$$;

comment on function graphile_worker._private_redate_finished(text) is
  'History: set expires_at = finished_at + the current retention on the stored rows of a task (null: of every task without its own setting).';

-- security definer: admins get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.set_retention(task_identifier text, keep interval)
returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
begin
  if set_retention.keep is null or set_retention.keep < interval '0' then
    raise exception 'set_retention: keep must be an interval of zero or more, not %',
      coalesce(set_retention.keep::text, 'null')
      using errcode = 'GWH01',
      detail = 'keep is how long finished jobs are kept; ''0'' records nothing.',
      hint = 'Pass e.g. interval ''1 day''; clear_retention(task) removes a task''s own setting.';
  end if;
  perform graphile_worker._private_check_retention_task(set_retention.task_identifier,
    'set_retention');

  if set_retention.task_identifier is null then
    insert into graphile_worker._private_retention as r (task_identifier, keep, set_at)
    values (null, set_retention.keep, pg_catalog.now())
    on conflict ((true)) where task_identifier is null
    do update set keep = excluded.keep, set_at = excluded.set_at;
  else
    insert into graphile_worker._private_retention as r (task_identifier, keep, set_at)
    values (set_retention.task_identifier, set_retention.keep, pg_catalog.now())
    on conflict (task_identifier) where task_identifier is not null
    do update set keep = excluded.keep, set_at = excluded.set_at;
  end if;
  perform graphile_worker._private_redate_finished(set_retention.task_identifier);
end;
$$;

comment on function graphile_worker.set_retention(text, interval) is
  'Admin: keep the finished jobs of a task (null: of every task without its own setting) for keep; ''0'' records nothing. Stored rows get the new expiry. A null or negative keep, an empty or over-long identifier: GWH01.';

-- security definer: as set_retention.
create function graphile_worker.clear_retention(task_identifier text)
returns boolean
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_found boolean;
begin
  perform graphile_worker._private_check_retention_task(clear_retention.task_identifier,
    'clear_retention');
  if clear_retention.task_identifier is null then
    delete from graphile_worker._private_retention as r where r.task_identifier is null;
  else
    delete from graphile_worker._private_retention as r
    where r.task_identifier = clear_retention.task_identifier;
  end if;
  v_found := found;
  perform graphile_worker._private_redate_finished(clear_retention.task_identifier);
  return v_found;
end;
$$;

comment on function graphile_worker.clear_retention(text) is
  'Admin: remove a task''s own retention (the default applies again), or with null the default (tasks without their own setting are no longer recorded); stored rows get the new expiry. Returns whether there was a setting.';

-- security definer: as set_retention.
create function graphile_worker.retention_settings()
returns table (task_identifier text, keep interval, set_at timestamptz)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select r.task_identifier, r.keep, r.set_at
  from graphile_worker._private_retention as r
  order by r.task_identifier nulls first;
$$;

comment on function graphile_worker.retention_settings() is
  'Admin: the retention settings; task_identifier null is the default of every task without its own.';

revoke all on function graphile_worker._private_check_retention_task(text, text) from public;
revoke all on function graphile_worker._private_redate_finished(text) from public;
revoke all on function graphile_worker.set_retention(text, interval) from public;
revoke all on function graphile_worker.clear_retention(text) from public;
revoke all on function graphile_worker.retention_settings() from public;

-- from sql/src/30_functions/07_history/40_prune_finished_jobs.sql
-- Delete finished jobs past their expiry, oldest expiry first, at most max_rows per call, so a
-- call holds few row locks and a short transaction; the runner calls it again while it returns
-- a full batch (docs/history.md, "Pruning", for the numbers that chose batches over dropped
-- partitions). One pruner at a time: a call that finds another running returns 0 at once.
-- It also removes the attempt errors of jobs that left the jobs table by other means (a Node
-- worker, delete_permanently_failed_jobs) and the watches of sessions that ended. Below the
-- admin level now is the server's clock (GWA06): a runner cannot prune what is still kept.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.prune_finished_jobs(
  max_rows integer default 10000,
  now timestamptz default now()
)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_now timestamptz := prune_finished_jobs.now;
  v_count integer;
begin
  if max_rows is null or max_rows not between 1 and 1000000 then
    raise exception 'prune_finished_jobs: max_rows must be from 1 to 1000000, not %',
      coalesce(max_rows::text, 'null')
      using errcode = 'GWH01',
      detail = 'Each call deletes at most max_rows rows, so its transaction stays short.',
      hint = 'Leave it out for 10000, and call again while the result equals max_rows.';
  end if;
  if v_now is null then
    raise exception 'prune_finished_jobs: now must not be null'
      using errcode = 'GWA01', hint = 'Leave now out to use the transaction time.';
  end if;
  if v_now <> pg_catalog.now() then
    perform graphile_worker._private_check_clock(v_now, 'prune_finished_jobs');
  end if;
  -- One pruner at a time: SHARE ROW EXCLUSIVE on the retention table conflicts with itself (and
  -- with set_retention's writes) but not with the reads of the functions that finish jobs. A
  -- lock on a table of the extension, which LOCK TABLE grants only to roles with rights on the
  -- table: no role outside the extension's functions can take or hold it.
  begin
    lock table graphile_worker._private_retention in share row exclusive mode nowait;
  exception when lock_not_available then
    return 0;
  end;

  delete from graphile_worker._private_finished_jobs as f
  where f.id in (
    select p.id from graphile_worker._private_finished_jobs as p
    where p.expires_at < v_now
    order by p.expires_at
    limit max_rows
    for update skip locked
  );
  get diagnostics v_count = row_count;

  delete from graphile_worker._private_attempt_errors as e
  where e.job_id in (
    select a.job_id from graphile_worker._private_attempt_errors as a
    where not exists (select 1 from graphile_worker._private_jobs as jobs where jobs.id = a.job_id)
    limit max_rows
  );

  delete from graphile_worker._private_finish_watches as w
  where not exists (
    select 1 from pg_catalog.pg_stat_activity as s where s.pid = w.backend_pid);

  return v_count;
end;
$$;

comment on function graphile_worker.prune_finished_jobs(integer, timestamptz) is
  'Runner/admin: delete at most max_rows (1 to 1000000, default 10000) finished jobs past their retention, oldest expiry first, and the leftovers of jobs deleted by other means; returns the number of finished jobs deleted (0 when another prune is running). Call again while it returns max_rows. Below the admin level now is the server''s clock (GWA06).';

revoke all on function graphile_worker.prune_finished_jobs(integer, timestamptz) from public;

-- from sql/src/30_functions/07_history/50_job_status.sql
-- The state of one job (docs/history.md, "Status"): from the jobs table while it is there,
-- else from the finished-jobs store, else unknown. States: waiting (due), scheduled (run_at in
-- the future, never attempted), running (locked, the lock younger than 4 hours), retrying
-- (attempted and failed, attempts left), failed (no attempts left, still in the jobs table, or
-- recorded as failed), completed, cancelled (recorded), unknown (no such job, or finished
-- without a record). errors lists the failed attempts recorded for the job (tasks with a
-- retention); last_error is the jobs table's, or the recorded one.
-- security definer: producers get EXECUTE on this function and no rights on the private
-- tables, so the function acts with the owner's rights; it pins search_path and qualifies
-- every name.
create function graphile_worker.job_status(job_id bigint, now timestamptz default now())
returns table (
  id bigint,
  task_identifier text,
  queue_name text,
  state text,
  attempts smallint,
  max_attempts smallint,
  run_at timestamptz,
  last_error text,
  result jsonb,
  created_at timestamptz,
  finished_at timestamptz,
  errors jsonb,
  result_note text
)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select
    job_status.job_id,
    coalesce(q.identifier, f.task_identifier),
    case when q.id is not null then q.queue_name else f.queue_name end,
    case
      when q.id is null then coalesce(f.outcome, 'unknown')
      when q.locked_at is not null
        and q.locked_at >= job_status.now - graphile_worker._private_lock_expiry() then 'running'
      when q.attempts >= q.max_attempts then 'failed'
      when q.attempts > 0 then 'retrying'
      when q.run_at > job_status.now then 'scheduled'
      else 'waiting'
    end,
    coalesce(q.attempts, f.attempts),
    coalesce(q.max_attempts, f.max_attempts),
    q.run_at,
    case when q.id is not null then q.last_error
      else f.last_error end,
    case when q.id is null then f.result end,
    coalesce(q.created_at, f.created_at),
    case when q.id is null or (q.attempts >= q.max_attempts and q.locked_at is null)
      then f.finished_at end,
    case when q.id is not null then coalesce(q.errors, '[]'::jsonb)
      else coalesce(f.errors, '[]'::jsonb) end,
    case when q.id is null then f.result_note end
  from (select 1) as one
  left join lateral (
    select jobs.id, tasks.identifier, queues.queue_name, jobs.locked_at, jobs.attempts,
      jobs.max_attempts, jobs.run_at, jobs.last_error, jobs.created_at, e.errors
    from graphile_worker._private_jobs as jobs
    join graphile_worker._private_tasks as tasks on tasks.id = jobs.task_id
    left join graphile_worker._private_job_queues as queues on queues.id = jobs.job_queue_id
    left join graphile_worker._private_attempt_errors as e on e.job_id = jobs.id
    where jobs.id = job_status.job_id
  ) as q on true
  left join graphile_worker._private_finished_jobs as f on f.id = job_status.job_id;
$$;

comment on function graphile_worker.job_status(bigint, timestamptz) is
  'Producer: the state of a job (waiting, scheduled, running, retrying, failed, completed, cancelled or unknown) with its attempts, run_at, last_error, result, times and the errors of its recorded attempts. An unknown id gives one row with state unknown.';

-- security definer: as job_status.
create function graphile_worker.job_status_by_key(job_key text, now timestamptz default now())
returns table (
  id bigint,
  task_identifier text,
  queue_name text,
  state text,
  attempts smallint,
  max_attempts smallint,
  run_at timestamptz,
  last_error text,
  result jsonb,
  created_at timestamptz,
  finished_at timestamptz,
  errors jsonb,
  result_note text
)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select s.*
  from (
    select coalesce(
      (select jobs.id from graphile_worker._private_jobs as jobs where jobs.key = job_key),
      (select f.id from graphile_worker._private_finished_jobs as f
       where f.key = job_key
       order by f.finished_at desc
       limit 1)) as id
  ) as k,
  graphile_worker.job_status(k.id, job_status_by_key.now) as s;
$$;

comment on function graphile_worker.job_status_by_key(text, timestamptz) is
  'Producer: job_status() of the job that holds this key, else of the last recorded job that had it; state unknown (id null) when neither exists.';

-- Waiting for a job (gw_runner's wait_for_job): the session LISTENs on graphile_worker:finished,
-- calls watch_job, then reads job_status until the job has finished. While the watch exists,
-- the function that finishes the job records it (for at least 10 minutes) and notifies the
-- channel with {"id","outcome"}. unwatch_job ends the watch (null: every watch of the
-- session); prune_finished_jobs removes those of sessions that ended.
-- security definer: producers get EXECUTE and no rights on the private tables.
create function graphile_worker.watch_job(job_id bigint)
returns void
language plpgsql
security definer
strict
set search_path = pg_catalog, pg_temp
as $$
begin
  insert into graphile_worker._private_finish_watches (job_id, backend_pid, watched_at)
  values (watch_job.job_id, pg_catalog.pg_backend_pid(), pg_catalog.now())
  on conflict on constraint finish_watches_pkey do update set watched_at = excluded.watched_at;
end;
$$;

comment on function graphile_worker.watch_job(bigint) is
  'Producer: announce that this session waits for the job: when it finishes, it is recorded for at least 10 minutes and graphile_worker:finished is notified with {"id","outcome"}. End with unwatch_job().';

-- security definer: as watch_job.
create function graphile_worker.unwatch_job(job_id bigint default null)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_count integer;
begin
  delete from graphile_worker._private_finish_watches as w
  where w.backend_pid = pg_catalog.pg_backend_pid()
    and (unwatch_job.job_id is null or w.job_id = unwatch_job.job_id);
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;

comment on function graphile_worker.unwatch_job(bigint) is
  'Producer: end this session''s watch of a job (null: of every job); returns how many watches ended.';

revoke all on function graphile_worker.job_status(bigint, timestamptz) from public;
revoke all on function graphile_worker.job_status_by_key(text, timestamptz) from public;
revoke all on function graphile_worker.watch_job(bigint) from public;
revoke all on function graphile_worker.unwatch_job(bigint) from public;

-- from sql/src/30_functions/10_enqueue/20_remove_job.sql
-- Remove a pending job by key (graphile-worker 0.18 contract). A job that is running (locked,
-- and the lock younger than _private_lock_expiry()) cannot be removed: it loses its key and
-- will not be retried. The key's row is locked first (FOR UPDATE), so an enqueue of the same
-- key waits for this call, and this call for an open enqueue of the same key; callers of other
-- keys never wait (no advisory lock, no bucket). Since 0.1.7 a removed job is recorded as
-- cancelled when its task keeps history (docs/history.md).
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create or replace function graphile_worker.remove_job(job_key text)
returns graphile_worker._private_jobs
language plpgsql
security definer
strict
set search_path = pg_catalog, pg_temp
as $$
declare
  v_job graphile_worker._private_jobs;
begin
  for v_round in 1..100 loop
    select * into v_job
    from graphile_worker._private_jobs as jobs
    where jobs.key = remove_job.job_key
    for update;
    exit when found;
    -- No row. If one holding the key was detached while this statement waited for it, the new
    -- job that took the key committed after this statement's snapshot: look again.
    if not exists (
      select 1 from graphile_worker._private_jobs as jobs where jobs.key = remove_job.job_key
    ) then
      return null;
    end if;
  end loop;
  if v_job.id is null then
    return null;
  end if;

  if v_job.locked_at is null
     or v_job.locked_at < now() - graphile_worker._private_lock_expiry() then
    delete from graphile_worker._private_jobs as jobs
    where jobs.id = v_job.id
    returning * into v_job;
    if graphile_worker._private_history_on() then
      perform graphile_worker._private_record_finished(array[v_job], 'cancelled', null, null, now());
    end if;
    if pg_catalog.pg_notification_queue_usage() < 0.5 then
      perform pg_catalog.pg_notify('jobs:insert', '{"r":' || random()::text || ',"count":-1}');
    end if;
    return v_job;
  end if;

  update graphile_worker._private_jobs as jobs
  set key = null, attempts = jobs.max_attempts, updated_at = now()
  where jobs.id = v_job.id
  returning * into v_job;
  return v_job;
end;
$$;

comment on function graphile_worker.remove_job(text) is
  'Delete the pending job with this key (notifies jobs:insert with count -1; recorded as cancelled when its task keeps history); a running job with the key instead loses its key and will not be retried. Returns the row, or null. Waits only for open transactions that enqueued or removed the same key.';

-- from sql/src/30_functions/15_admin/10_complete_jobs.sql
-- Admin: delete jobs that are not locked (graphile-worker 0.18 contract); a lock older than
-- _private_lock_expiry() has expired and does not count. Since 0.1.7 the deleted jobs are
-- recorded as completed (no result) when their task keeps history (docs/history.md).
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create or replace function graphile_worker.complete_jobs(job_ids bigint[])
returns setof graphile_worker._private_jobs
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_rows graphile_worker._private_jobs[];
begin
  with done as (
    delete from graphile_worker._private_jobs as jobs
    where jobs.id = any(job_ids)
      and (jobs.locked_at is null or jobs.locked_at < now() - graphile_worker._private_lock_expiry())
    returning jobs
  )
  select array_agg(done.jobs) into v_rows from done;
  if v_rows is not null and graphile_worker._private_history_on() then
    perform graphile_worker._private_record_finished(v_rows, 'completed', null, null, now());
  end if;
  return query select * from pg_catalog.unnest(v_rows);
end;
$$;

comment on function graphile_worker.complete_jobs(bigint[]) is
  'Admin: mark jobs as done by deleting them (recorded as completed when their task keeps history); jobs locked by a worker (within 4 hours) are left alone. Returns the deleted rows.';

-- from sql/src/30_functions/15_admin/20_permanently_fail_jobs.sql
-- Admin: stop retrying jobs that are not locked (graphile-worker 0.18 contract); a lock older
-- than _private_lock_expiry() has expired and does not count. Since 0.1.7 the jobs are
-- recorded as failed when their task keeps history (docs/history.md); they stay in the jobs
-- table, as in graphile-worker.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create or replace function graphile_worker.permanently_fail_jobs(job_ids bigint[], error_message text default null)
returns setof graphile_worker._private_jobs
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_rows graphile_worker._private_jobs[];
begin
  with failed as (
    update graphile_worker._private_jobs as jobs
    set
      last_error = coalesce(error_message, 'Manually marked as failed'),
      attempts = jobs.max_attempts,
      updated_at = now()
    where jobs.id = any(job_ids)
      and (jobs.locked_at is null or jobs.locked_at < now() - graphile_worker._private_lock_expiry())
    returning jobs
  )
  select array_agg(failed.jobs) into v_rows from failed;
  if v_rows is not null and graphile_worker._private_history_on() then
    perform graphile_worker._private_record_finished(v_rows, 'failed', null, null, now());
  end if;
  return query select * from pg_catalog.unnest(v_rows);
end;
$$;

comment on function graphile_worker.permanently_fail_jobs(bigint[], text) is
  'Admin: mark jobs as permanently failed (attempts = max_attempts, last_error set; recorded as failed when their task keeps history); locked jobs are left alone. Returns the changed rows.';

-- report_jobs: the oids of the roles that may execute the 0.1.6 function, kept (for this
-- transaction) in a setting that the DO block below reads
select pg_catalog.set_config('graphile_worker.upgrade_report_grantees',
  coalesce(string_agg(a.grantee::text, ','), ''), true)
from pg_catalog.pg_proc as p, pg_catalog.aclexplode(p.proacl) as a
where p.oid = 'graphile_worker.report_jobs(text, bigint[], json, timestamptz)'::regprocedure
  and a.privilege_type = 'EXECUTE' and a.grantee <> 0 and a.grantee <> p.proowner;

drop function graphile_worker.report_jobs(text, bigint[], json, timestamptz);

-- from sql/src/30_functions/20_runner/20_report_jobs.sql
-- Report the outcomes of a batch of jobs in one call: completed jobs are deleted, failed jobs
-- are scheduled for retry with graphile-worker's backoff (or failed for good). Only rows still
-- locked by this worker are touched, so a worker whose jobs were swept and re-claimed by
-- another never deletes or changes what the other now runs. A malformed failures document is
-- GWA03 (DETAIL names the entry) and changes nothing. A worker registered by another role is
-- refused (GWA05), and below the admin level now is the server's clock (GWA06).
-- History (0.1.7, docs/history.md): when some task keeps finished jobs or someone waits for a
-- job, the same call records each failed attempt's error and each finished job (completed, or
-- failed for good) with the handler's result (results: a JSON array aligned with
-- completed_job_ids, null entries for none; a result over _private_result_cap() bytes, or one
-- jsonb cannot hold, is not stored and result_note says why). Otherwise results are ignored.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.report_jobs(
  worker_id text,
  completed_job_ids bigint[] default null,
  failures json default null,
  now timestamptz default now(),
  results json default null
)
returns table (
  job_id bigint,
  outcome text,
  attempts smallint,
  max_attempts smallint,
  run_at timestamptz
)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_now timestamptz := report_jobs.now;
  v_failures jsonb;
  v_bad_ord bigint;
  v_problem text;
  v_problem_detail text;
  v_entry json;
  v_dup_id bigint;
  v_dup_positions text;
  v_also_completed boolean;
  v_ids bigint[];
  v_outcomes text[];
  v_attempts smallint[];
  v_max_attempts smallint[];
  v_run_ats timestamptz[];
  v_queue_ids integer[];
  v_bound oid;
  v_history boolean;
  v_results jsonb;
  v_done_rows graphile_worker._private_jobs[];
  v_failed_rows graphile_worker._private_jobs[];
begin
  -- the checker raises the error; the plain expression saves a call on every report
  if report_jobs.worker_id is null or report_jobs.worker_id = '' or length(report_jobs.worker_id) > 128 then
    perform graphile_worker._private_check_worker_id(report_jobs.worker_id);
  end if;
  if v_now is null then
    raise exception 'now must not be null'
      using errcode = 'GWA01', hint = 'Leave now out to use the transaction time.';
  end if;
  if v_now <> pg_catalog.now() then
    perform graphile_worker._private_check_clock(v_now, 'report_jobs');
  end if;
  -- the holder check inline (a call costs every report); the checker raises GWA05 unless the
  -- caller is admin-level
  select w.registered_by into v_bound
  from graphile_worker._private_workers as w where w.worker_id = report_jobs.worker_id;
  if v_bound is not null and pg_catalog.pg_get_userbyid(v_bound) <> session_user then
    perform graphile_worker._private_check_worker_holder(report_jobs.worker_id, 'report_jobs');
  end if;

  if failures is not null then
    if json_typeof(failures) <> 'array' then
      raise exception 'failures must be a JSON array, not %', json_typeof(failures)
        using errcode = 'GWA03',
        detail = 'failures lists one object per failed job.',
        hint = 'Pass e.g. [{"id": 42, "message": "timeout"}].';
    end if;

    -- Read as jsonb, once: json accepts what jsonb (and text) cannot hold, \u0000 or an
    -- unpaired surrogate in a string, a number beyond numeric; such an entry is malformed.
    begin
      v_failures := failures::jsonb;
    exception when data_exception or program_limit_exceeded then
      for v_bad_ord, v_entry in
        select a.ord, a.e from json_array_elements(failures) with ordinality as a(e, ord)
        order by a.ord
      loop
        begin
          perform v_entry::jsonb;
        exception when data_exception or program_limit_exceeded then
          get stacked diagnostics v_problem = message_text, v_problem_detail = pg_exception_detail;
          raise exception 'malformed failure entry: %', left(v_entry::text, 200)
            using errcode = 'GWA03',
            detail = format('Entry %s of failures cannot be converted to jsonb (%s%s): its '
              '"message" must be storable as text and its "payload" as jsonb.',
              v_bad_ord, v_problem, ': ' || rtrim(nullif(v_problem_detail, ''), '.')),
            hint = E'Replace \\u0000 and unpaired surrogates (\\ud800 to \\udfff) in the '
              'message and payload, e.g. with U+FFFD.';
        end;
      end loop;
      raise exception 'failures cannot be converted to jsonb'
        using errcode = 'GWA03',
        detail = 'Each entry converts, but the whole document does not (it is too large).',
        hint = 'Report the failures in smaller batches.';
    end;

    -- The first malformed entry. Each test runs only when the ones before it passed (a CASE),
    -- so the numeric casts never fail. {id} and {retry_delay} are filled in below.
    select x.ord, x.problem into v_bad_ord, v_problem
    from (
      select a.ord, case
        when jsonb_typeof(a.e) <> 'object' then
          'it is not a JSON object'
        when jsonb_typeof(a.e -> 'id') is distinct from 'number' then
          '"id" must be a job id (a whole number)'
        when scale((a.e -> 'id')::numeric) > 0
             or (a.e -> 'id')::numeric not between -9223372036854775808 and 9223372036854775807 then
          '"id" {id} is not a job id (a whole number within bigint)'
        when (a.e -> 'message') is null then
          '"message" is missing'
        when jsonb_typeof(a.e -> 'message') <> 'string' then
          format('"message" must be a string, not JSON %s', jsonb_typeof(a.e -> 'message'))
        when jsonb_typeof(a.e -> 'permanent') not in ('boolean', 'null') then
          format('"permanent" must be true or false, not JSON %s', jsonb_typeof(a.e -> 'permanent'))
        when jsonb_typeof(a.e -> 'retry_delay') not in ('number', 'null') then
          format('"retry_delay" must be a number of seconds, not JSON %s',
            jsonb_typeof(a.e -> 'retry_delay'))
        when jsonb_typeof(a.e -> 'retry_delay') = 'number'
             and (a.e -> 'retry_delay')::numeric not between 0 and 315360000 then
          '"retry_delay" {retry_delay} is outside 0 to 315360000 seconds (10 years)'
      end as problem
      from jsonb_array_elements(v_failures) with ordinality as a(e, ord)
    ) as x
    where x.problem is not null
    order by x.ord
    limit 1;
    if v_bad_ord is not null then
      -- the entry and its values as written (jsonb normalises numbers)
      select a.e into v_entry
      from json_array_elements(failures) with ordinality as a(e, ord)
      where a.ord = v_bad_ord;
      v_problem := replace(replace(v_problem,
        '{id}', coalesce(left((v_entry -> 'id')::text, 40), '')),
        '{retry_delay}', coalesce(left((v_entry -> 'retry_delay')::text, 40), ''));
      raise exception 'malformed failure entry: %', left(v_entry::text, 200)
        using errcode = 'GWA03',
        detail = format('Entry %s of failures: %s. Each entry needs "id" (a job id) and "message" '
          '(text); "payload", "permanent" (boolean) and "retry_delay" (seconds, 0 to 315360000) '
          'are optional.', v_bad_ord, v_problem),
        hint = 'Pass e.g. [{"id": 42, "message": "timeout", "retry_delay": 30}].';
    end if;

    -- One outcome per job: the same id twice in failures, or in failures and completed_job_ids.
    select x.id, x.positions, x.also_completed into v_dup_id, v_dup_positions, v_also_completed
    from (
      select (a.e ->> 'id')::bigint as id,
        string_agg(a.ord::text, ', ' order by a.ord) as positions,
        min(a.ord) as first,
        count(*) as n,
        (a.e ->> 'id')::bigint = any(completed_job_ids) as also_completed
      from jsonb_array_elements(v_failures) with ordinality as a(e, ord)
      group by 1
    ) as x
    where x.n > 1 or x.also_completed
    order by x.first
    limit 1;
    if v_dup_id is not null and v_also_completed then
      raise exception 'job % is reported both completed and failed', v_dup_id
        using errcode = 'GWA03',
        detail = format('The id %s is in completed_job_ids and in failures (entry %s).',
          v_dup_id, v_dup_positions),
        hint = 'Report each job once: in completed_job_ids or in failures.';
    elsif v_dup_id is not null then
      raise exception 'job % is in failures more than once', v_dup_id
        using errcode = 'GWA03',
        detail = format('Entries %s of failures have the id %s; only one outcome can be recorded.',
          v_dup_positions, v_dup_id),
        hint = 'Report each job once: one failure entry per job.';
    end if;
  end if;

  if results is not null and (json_typeof(results) <> 'array'
      or json_array_length(results) <> coalesce(cardinality(completed_job_ids), 0)) then
    raise exception 'results must be a JSON array with one entry per completed job'
      using errcode = 'GWA03',
      detail = format('results is %s; completed_job_ids has %s entries.',
        case when json_typeof(results) = 'array'
          then format('an array of %s entries', json_array_length(results))
          else 'JSON ' || json_typeof(results) end,
        coalesce(cardinality(completed_job_ids), 0)),
      hint = 'Pass results[i] for completed_job_ids[i] (null for none), or leave results out.';
  end if;

  v_history := graphile_worker._private_history_on();
  if v_history then
    if results is not null then
      v_results := graphile_worker._private_results_map(completed_job_ids, results);
    end if;
    if v_failures is not null then
      perform graphile_worker._private_record_attempt_errors(report_jobs.worker_id,
        array(select (e ->> 'id')::bigint from jsonb_array_elements(v_failures) as e),
        array(select e ->> 'message' from jsonb_array_elements(v_failures) as e),
        v_now);
    end if;
  end if;

  -- The jobs this worker still holds: completed ones deleted, failed ones rescheduled; their
  -- outcomes are kept to be returned once the jobs' queues are unlocked.
  with done as (
    delete from graphile_worker._private_jobs as jobs
    where jobs.id = any(completed_job_ids)
      and jobs.locked_by = report_jobs.worker_id
    returning jobs.id, jobs.job_queue_id, jobs.attempts, jobs.max_attempts, jobs.run_at,
      jobs as job
  ),
  f as (
    select x.id, x.message, x.payload, coalesce(x.permanent, false) as permanent, x.retry_delay
    from jsonb_to_recordset(coalesce(v_failures, '[]'::jsonb))
      as x(id bigint, message text, payload json, permanent boolean, retry_delay numeric)
  ),
  failed as (
    update graphile_worker._private_jobs as jobs
    set
      last_error = f.message,
      run_at = case
        -- rounded to microseconds: 1e-400 is a valid retry_delay but no double precision
        when f.retry_delay is not null
          then v_now + round(f.retry_delay, 6)::double precision * interval '1 second'
        else greatest(v_now, jobs.run_at) + exp(least(jobs.attempts, 10)) * interval '1 second'
      end,
      attempts = case when f.permanent then jobs.max_attempts else jobs.attempts end,
      payload = coalesce(f.payload, jobs.payload),
      locked_by = null,
      locked_at = null
    from f
    where jobs.id = f.id
      and jobs.locked_by = report_jobs.worker_id
    returning jobs.id, jobs.job_queue_id, jobs.attempts, jobs.max_attempts, jobs.run_at,
      jobs as job
  ),
  reported as (
    select d.id, 'completed'::text as outcome, d.attempts, d.max_attempts, d.run_at,
      d.job_queue_id, d.job
    from done as d
    union all
    select fl.id,
      case when fl.attempts >= fl.max_attempts then 'permanently_failed' else 'failed' end,
      fl.attempts, fl.max_attempts, fl.run_at, fl.job_queue_id, fl.job
    from failed as fl
  )
  select array_agg(r.id), array_agg(r.outcome), array_agg(r.attempts), array_agg(r.max_attempts),
    array_agg(r.run_at), array_agg(r.job_queue_id) filter (where r.job_queue_id is not null),
    array_agg(r.job) filter (where v_history and r.outcome = 'completed'),
    array_agg(r.job) filter (where v_history and r.outcome = 'permanently_failed')
  into v_ids, v_outcomes, v_attempts, v_max_attempts, v_run_ats, v_queue_ids,
    v_done_rows, v_failed_rows
  from reported as r;

  if v_history then
    perform graphile_worker._private_record_finished(v_done_rows, 'completed',
      report_jobs.worker_id, v_results, v_now);
    perform graphile_worker._private_record_finished(v_failed_rows, 'failed',
      report_jobs.worker_id, null, v_now);
  end if;

  perform graphile_worker._private_unlock_job_queues(report_jobs.worker_id, v_queue_ids);

  -- The outcomes, then the jobs this worker no longer holds (swept, or never its own): lost.
  return query
  select r.id, r.outcome, r.attempts, r.max_attempts, r.run_at
  from rows from (
    pg_catalog.unnest(v_ids), pg_catalog.unnest(v_outcomes), pg_catalog.unnest(v_attempts),
    pg_catalog.unnest(v_max_attempts), pg_catalog.unnest(v_run_ats)
  ) as r(id, outcome, attempts, max_attempts, run_at)
  union all
  select x.id, 'lost'::text, null::smallint, null::smallint, null::timestamptz
  from (
    select c.id from pg_catalog.unnest(completed_job_ids) as c(id)
    union
    select f.id
    from jsonb_to_recordset(coalesce(v_failures, '[]'::jsonb)) as f(id bigint)
  ) as x
  where not exists (select 1 from pg_catalog.unnest(v_ids) as r(id) where r.id = x.id);
end;
$$;

comment on function graphile_worker.report_jobs(text, bigint[], json, timestamptz, json) is
  'Runner: report a batch of outcomes in one call. Completed jobs are deleted (with results[i], a JSON array aligned with completed_job_ids, recorded when the task keeps history); failures ([{"id","message","payload"?,"permanent"?,"retry_delay"?}], each job once, retry_delay 0 to 315360000 s) get last_error and run_at = greatest(now, run_at) + exp(least(attempts, 10)) s (or now + retry_delay); their queues are unlocked. Only rows still locked by worker_id are touched; others come back as outcome lost. A malformed document is GWA03 and changes nothing; a worker_id registered by another role is GWA05; below the admin level a now other than the server''s clock is GWA06.';

revoke all on function graphile_worker.report_jobs(text, bigint[], json, timestamptz, json) from public;

-- from sql/src/30_functions/40_recovery/40_recover_stale_workers.sql
-- The stale-worker sweep. Any runner may call it; concurrent sweeps skip each other's worker
-- rows (FOR UPDATE SKIP LOCKED), so each dead worker is processed once. A crash uses up the
-- attempt (not refunded), so a job that kills every worker ends permanently failed. Below the
-- admin level now is the server's clock (GWA06): a runner cannot declare live workers lost.
-- Since 0.1.7 the lost attempt's error is recorded, and a job with no attempts left recorded as
-- failed, when its task keeps history (docs/history.md).
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create or replace function graphile_worker.recover_stale_workers(
  recovery_delay interval default interval '0',
  now timestamptz default now()
)
returns table (
  worker_id text,
  last_heartbeat_at timestamptz,
  jobs_recovered integer
)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_now timestamptz := recover_stale_workers.now;
  v_worker record;
  v_count integer;
  v_message text;
  v_history boolean := graphile_worker._private_history_on();
  v_ids bigint[];
  v_spent graphile_worker._private_jobs[];
begin
  if recovery_delay is null or recovery_delay < interval '0' or v_now is null then
    raise exception 'recovery_delay must be a non-negative interval and now must not be null'
      using errcode = 'GWA02',
      detail = format('recovery_delay was %s.', coalesce(recovery_delay::text, 'null')),
      hint = 'Leave recovery_delay out to make recovered jobs runnable at once.';
  end if;
  if v_now <> pg_catalog.now() then
    perform graphile_worker._private_check_clock(v_now, 'recover_stale_workers');
  end if;

  for v_worker in
    select w.worker_id, w.last_heartbeat_at
    from graphile_worker._private_workers as w
    where w.last_heartbeat_at < v_now - w.stale_after
    order by w.worker_id
    for update skip locked
  loop
    v_message := format(
      'worker %s was lost (last heartbeat at %s); the job was released by the stale-worker sweep at %s',
      v_worker.worker_id,
      to_char(v_worker.last_heartbeat_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
      to_char(v_now at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'));
    if v_history then
      -- the lost attempt's error, while the jobs are still locked by the lost worker
      select array_agg(jobs.id) into v_ids
      from graphile_worker._private_jobs as jobs
      where jobs.locked_by = v_worker.worker_id and jobs.locked_at is not null;
      if v_ids is not null then
        perform graphile_worker._private_record_attempt_errors(v_worker.worker_id, v_ids,
          array_fill(v_message, array[cardinality(v_ids)]), v_now);
      end if;
    end if;

    with released as (
      update graphile_worker._private_jobs as jobs
      set
        locked_at = null,
        locked_by = null,
        run_at = greatest(jobs.run_at, v_now) + recovery_delay,
        last_error = v_message
      where jobs.locked_by = v_worker.worker_id
        and jobs.locked_at is not null  -- lets the planner use jobs_gw_locked_index
      returning jobs
    )
    select count(*)::integer,
      array_agg(r.jobs) filter (where (r.jobs).attempts >= (r.jobs).max_attempts)
    into v_count, v_spent
    from released as r;
    if v_history and v_spent is not null then
      -- a job whose last attempt was lost with the worker has failed for good
      perform graphile_worker._private_record_finished(v_spent, 'failed', v_worker.worker_id,
        null, v_now);
    end if;

    update graphile_worker._private_job_queues as q
    set locked_at = null, locked_by = null
    where q.locked_by = v_worker.worker_id;

    delete from graphile_worker._private_workers as w
    where w.worker_id = v_worker.worker_id;

    worker_id := v_worker.worker_id;
    last_heartbeat_at := v_worker.last_heartbeat_at;
    jobs_recovered := v_count;
    return next;
  end loop;
end;
$$;

comment on function graphile_worker.recover_stale_workers(interval, timestamptz) is
  'Recovery: for every registered worker whose last heartbeat is older than its stale_after, release its jobs (last_error names the lost worker, run_at delayed by recovery_delay, the attempt is not refunded) and queue locks, and delete the worker. Safe to run from many runners at once. Below the admin level a now other than the server''s clock is GWA06.';

-- from sql/src/40_views/20_finished_jobs.sql
-- Finished jobs kept for their retention (0.1.7; docs/history.md). Admin level: it shows
-- payloads and results. Not part of the graphile-worker schema.
create view graphile_worker.finished_jobs as
select
  f.id,
  f.task_identifier,
  f.queue_name,
  f.outcome,
  f.payload,
  f.result,
  f.result_note,
  f.last_error,
  f.errors,
  f.attempts,
  f.max_attempts,
  f.key,
  f.priority,
  f.flags,
  f.created_at,
  f.first_started_at,
  f.finished_at,
  f.finished_at - f.first_started_at as run_time,
  f.worker_id,
  f.expires_at
from graphile_worker._private_finished_jobs as f;

comment on view graphile_worker.finished_jobs is
  'Finished jobs kept for their task''s retention: outcome (completed, failed, cancelled), payload, result, the errors of every recorded attempt, times and worker.';

-- from sql/src/90_privileges/20_role_levels.sql
-- The three privilege levels (docs/security.md). A level includes the ones before it:
--   producer  enqueue, replace or remove a job by its key, read a job's status and wait for it
--   runner    claim, report, return, sweep, heartbeats, cron scheduling, prune finished jobs
--   admin     admin functions, cleanup, statistics, retention, the jobs and finished_jobs views
-- The function lists live here only; grant_role() and the tests read them.
create or replace function graphile_worker._private_level_functions(level text)
returns setof regprocedure
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select p.oid::regprocedure
  from pg_catalog.pg_proc as p
  where p.pronamespace = 'graphile_worker'::regnamespace
    and p.proname = any (
      case level
        when 'producer' then array['add_job', 'add_jobs', 'remove_job', 'version',
          'job_status', 'job_status_by_key', 'watch_job', 'unwatch_job']
        when 'runner' then array[
          'get_jobs', 'report_jobs', 'return_jobs', 'return_unheld_jobs', 'reset_locked',
          'next_job_due_at', 'wait_for_jobs',
          'register_worker', 'heartbeat', 'deregister_worker', 'recover_stale_workers',
          'parse_crontab', 'register_crontab', 'schedule_crontab',
          'cron_matches', 'cron_next_after', 'cron_times_between', 'prune_finished_jobs']
        when 'admin' then array[
          'complete_jobs', 'permanently_fail_jobs', 'reschedule_jobs', 'force_unlock_workers',
          'delete_permanently_failed_jobs', 'gc_task_identifiers', 'gc_job_queues',
          'queue_stats', 'worker_stats', 'set_retention', 'clear_retention',
          'retention_settings']
      end
    )
  order by 1::text;
$$;

create or replace function graphile_worker.grant_role(role_name text, level text)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_levels text[];
  v_fn regprocedure;
begin
  if level is null or level not in ('producer', 'runner', 'admin') then
    raise exception 'unknown privilege level %', coalesce(quote_literal(level), 'null')
      using errcode = 'GWA02',
      detail = 'The levels are producer, runner and admin; each includes the ones before it.',
      hint = 'Call e.g. graphile_worker.grant_role(''app'', ''producer'').';
  end if;
  if role_name is null or not exists (select 1 from pg_catalog.pg_roles where rolname = role_name) then
    raise exception 'role % does not exist', coalesce(quote_ident(role_name), 'null')
      using errcode = 'undefined_object',
      detail = 'grant_role() grants rights to an existing role; the extension creates no roles.',
      hint = 'Create the role first, e.g. CREATE ROLE app LOGIN.';
  end if;

  v_levels := case level
    when 'producer' then array['producer']
    when 'runner' then array['producer', 'runner']
    else array['producer', 'runner', 'admin']
  end;

  execute format('grant usage on schema graphile_worker to %I', role_name);
  for v_fn in
    select f from pg_catalog.unnest(v_levels) as l, graphile_worker._private_level_functions(l) as f
  loop
    execute format('grant execute on function %s to %I', v_fn, role_name);
  end loop;
  if level = 'admin' then
    execute format('grant select on graphile_worker.jobs to %I', role_name);
    execute format('grant select on graphile_worker.finished_jobs to %I', role_name);
  end if;
end;
$$;

comment on function graphile_worker.grant_role(text, text) is
  'Owner only: grant an existing role one of the levels producer (enqueue, remove by key, job status and waiting), runner (claim, report, heartbeats, cron, pruning) or admin (admin functions, cleanup, statistics, retention, the jobs and finished_jobs views). Each level includes the ones before it.';

create or replace function graphile_worker.revoke_role(role_name text)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_fn regprocedure;
begin
  if role_name is null or not exists (select 1 from pg_catalog.pg_roles where rolname = role_name) then
    raise exception 'role % does not exist', coalesce(quote_ident(role_name), 'null')
      using errcode = 'undefined_object', hint = 'Pass the name of an existing role.';
  end if;
  for v_fn in
    select f from pg_catalog.unnest(array['producer', 'runner', 'admin']) as l,
      graphile_worker._private_level_functions(l) as f
  loop
    execute format('revoke execute on function %s from %I', v_fn, role_name);
  end loop;
  execute format('revoke select on graphile_worker.jobs from %I', role_name);
  execute format('revoke select on graphile_worker.finished_jobs from %I', role_name);
  execute format('revoke usage on schema graphile_worker from %I', role_name);
end;
$$;

comment on function graphile_worker.revoke_role(text) is
  'Owner only: take back every right grant_role() gave this role.';

-- Roles granted a level before this upgrade: the new functions of their level (and the view
-- for admins), found by a function of the level they hold directly; report_jobs again for the
-- roles that could execute it.
do $$
declare
  v_role text;
  v_fn regprocedure;
begin
  for v_role in
    select x::oid::regrole::text from pg_catalog.regexp_split_to_table(
      pg_catalog.current_setting('graphile_worker.upgrade_report_grantees'), ',') as x
    where x <> ''
  loop
    execute format('grant execute on function graphile_worker.report_jobs(text, bigint[], json, timestamptz, json) to %s', v_role);
  end loop;
  for v_role, v_fn in
    select a.grantee::regrole::text, f.fn
    from (values
        ('graphile_worker.add_job(text, json, text, timestamptz, integer, text, integer, text[], text)'::regprocedure,
         array['job_status(bigint, timestamptz)', 'job_status_by_key(text, timestamptz)',
           'watch_job(bigint)', 'unwatch_job(bigint)']),
        ('graphile_worker.get_jobs(text, text[], integer, text[], timestamptz)'::regprocedure,
         array['prune_finished_jobs(integer, timestamptz)']),
        ('graphile_worker.queue_stats(timestamptz)'::regprocedure,
         array['set_retention(text, interval)', 'clear_retention(text)', 'retention_settings()'])
      ) as l(marker, fns),
      pg_catalog.pg_proc as p,
      pg_catalog.aclexplode(p.proacl) as a,
      lateral (select ('graphile_worker.' || x)::regprocedure as fn from pg_catalog.unnest(l.fns) as x) as f
    where p.oid = l.marker and a.privilege_type = 'EXECUTE' and a.grantee <> 0
      and a.grantee <> p.proowner
  loop
    execute format('grant execute on function %s to %s', v_fn, v_role);
  end loop;
  for v_role in
    select a.grantee::regrole::text
    from pg_catalog.pg_proc as p, pg_catalog.aclexplode(p.proacl) as a
    where p.oid = 'graphile_worker.queue_stats(timestamptz)'::regprocedure
      and a.privilege_type = 'EXECUTE' and a.grantee <> 0 and a.grantee <> p.proowner
  loop
    execute format('grant select on graphile_worker.finished_jobs to %s', v_role);
  end loop;
end;
$$;

-- from sql/src/30_functions/00_version.sql (always last)
-- The version of the installed SQL, for both install kinds (extension and standalone script).
create or replace function graphile_worker.version()
returns text
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select '@EXTVERSION@'::text;
$$;

comment on function graphile_worker.version() is
  'The version of the graphile_worker SQL installed in this database (extension or standalone script).';

