-- graphile_worker 0.1.3 (standalone build), generated from sql/src by scripts/build-sql.sh: do not edit.

-- ---- sql/src/00_prelude/00_guard.sql
-- The standalone script (for servers where custom extensions cannot be installed) creates the
-- schema itself; CREATE EXTENSION creates it from the control file.
create schema if not exists graphile_worker;

-- ---- sql/src/10_types/10_job_spec.sql
-- One job for add_jobs(); the field names are part of the graphile-worker contract (Node fills
-- it with json_populate_recordset).
create type graphile_worker.job_spec as (
  identifier text,
  payload json,
  queue_name text,
  run_at timestamptz,
  max_attempts smallint,
  job_key text,
  priority smallint,
  flags text[]
);

comment on type graphile_worker.job_spec is
  'One job for add_jobs(): task identifier, payload, queue, run_at, max attempts, job key, priority, flags.';

-- ---- sql/src/10_types/50_cron_item.sql
-- One parsed crontab line (or one parsed schedule): the time fields expanded once into sorted
-- int arrays, plus the options and payload. Produced by parse_crontab and consumed by
-- cron_matches, cron_next_after, cron_times_between and schedule_crontab.
create type graphile_worker.cron_item as (
  line_number int,
  identifier text,
  task_identifier text,
  schedule text,
  minutes int[],
  hours int[],
  days int[],
  months int[],
  weekdays int[],
  dom_restricted boolean,
  dow_restricted boolean,
  fixed_time boolean,
  time_zone text,
  fill interval,
  max_attempts int,
  queue_name text,
  job_key text,
  job_key_mode text,
  priority int,
  payload json
);

comment on type graphile_worker.cron_item is
  'A parsed crontab item: time fields expanded into sorted arrays (weekdays 0-6, 0 = Sunday), '
  'dom/dow_restricted for the either-day rule, fixed_time (minute and hour both explicit: runs '
  'once per local occurrence across DST changes), time zone, options and JSON object payload.';

-- ---- sql/src/20_tables/10_private_tasks.sql
-- Task identifiers, referenced by _private_jobs.task_id (no foreign key, as upstream).
create table graphile_worker._private_tasks (
  id integer generated always as identity (sequence name graphile_worker.tasks_id_seq),
  identifier text not null,
  constraint tasks_pkey primary key (id),
  constraint tasks_identifier_key unique (identifier),
  constraint tasks_identifier_check check (length(identifier) <= 128)
);

alter table graphile_worker._private_tasks enable row level security;


-- ---- sql/src/20_tables/20_private_job_queues.sql
-- Named queues. A queue row is locked (locked_by/locked_at) while one of its jobs runs, which
-- makes a named queue run its jobs one at a time.
create table graphile_worker._private_job_queues (
  id integer generated always as identity (sequence name graphile_worker.job_queues_id_seq),
  queue_name text not null,
  locked_at timestamptz,
  locked_by text,
  is_available boolean generated always as (locked_at is null) stored not null,
  constraint job_queues_pkey1 primary key (id),
  constraint job_queues_queue_name_key unique (queue_name),
  constraint job_queues_queue_name_check check (length(queue_name) <= 128)
);

alter table graphile_worker._private_job_queues enable row level security;


-- ---- sql/src/20_tables/30_private_jobs.sql
-- The jobs. Columns, defaults, constraint and index names are those of graphile-worker 0.18
-- (migration 20), so Node workers run against this table unchanged.
create table graphile_worker._private_jobs (
  id bigint generated always as identity (sequence name graphile_worker.jobs_id_seq1),
  job_queue_id integer,
  task_id integer not null,
  payload json default '{}'::json not null,
  priority smallint default 0 not null,
  run_at timestamptz default now() not null,
  attempts smallint default 0 not null,
  max_attempts smallint default 25 not null,
  last_error text,
  created_at timestamptz default now() not null,
  updated_at timestamptz default now() not null,
  key text,
  locked_at timestamptz,
  locked_by text,
  revision integer default 0 not null,
  flags jsonb,
  is_available boolean generated always as ((locked_at is null) and (attempts < max_attempts)) stored not null,
  constraint jobs_pkey1 primary key (id),
  constraint jobs_key_key1 unique (key),
  constraint jobs_key_check check ((length(key) > 0) and (length(key) <= 512)),
  constraint jobs_max_attempts_check check (max_attempts >= 1)
);

create index jobs_main_index on graphile_worker._private_jobs
  using btree (priority, run_at) include (id, task_id, job_queue_id)
  where (is_available = true);

create index jobs_no_queue_index on graphile_worker._private_jobs
  using btree (priority, run_at) include (id, task_id)
  where ((is_available = true) and (job_queue_id is null));

alter table graphile_worker._private_jobs enable row level security;


-- Extension additions (not in graphile-worker's schema; Node workers ignore them). They let
-- get_jobs() claim at a cost that does not grow with jobs it must skip: future jobs (a range
-- per priority), jobs of tasks the runner does not handle (one range per task), and jobs
-- waiting behind a locked named queue (one probe per queue). Within a named queue, jobs with the
-- same priority and run_at (e.g. from one add_jobs call) run in id order: first in, first out.
create index jobs_gw_claim_no_queue_index on graphile_worker._private_jobs
  using btree (task_id, priority, run_at) include (id)
  where (is_available = true and job_queue_id is null);

create index jobs_gw_claim_queue_index on graphile_worker._private_jobs
  using btree (job_queue_id, priority, run_at, id) include (task_id)
  where (is_available = true and job_queue_id is not null);

-- Locked jobs only (a small set: what runners hold right now), so the stale-lock sweep
-- (reset_locked), the stale-worker sweep and force_unlock_workers never scan the whole table.
create index jobs_gw_locked_index on graphile_worker._private_jobs
  using btree (locked_by, locked_at)
  where (locked_at is not null);

-- ---- sql/src/20_tables/40_private_known_crontabs.sql
-- Cron items seen by any scheduler, and the last minute each was scheduled for: the upsert on
-- last_execution is the guard that makes every minute run once across any number of runners.
create table graphile_worker._private_known_crontabs (
  identifier text not null,
  known_since timestamptz not null,
  last_execution timestamptz,
  constraint known_crontabs_pkey primary key (identifier)
);

alter table graphile_worker._private_known_crontabs enable row level security;


-- ---- sql/src/20_tables/50_migrations.sql
-- graphile-worker's migration ledger. Node workers read max(id) and the highest breaking id at
-- start: rows 1..20 with upstream's breaking flags tell them the schema is at 0.18 (migration
-- 20) and they run unchanged. Extension-only changes never add rows here.
create table graphile_worker.migrations (
  id integer not null,
  ts timestamptz default now() not null,
  breaking boolean default false not null,
  constraint migrations_pkey primary key (id)
);

insert into graphile_worker.migrations (id, breaking)
select v.id, v.id = any (array[1, 3, 11, 13, 14, 16, 19])
from pg_catalog.generate_series(1, 20) as v(id);

comment on table graphile_worker.migrations is
  'graphile-worker migration ledger: rows 1..20 (schema of graphile-worker 0.18). Never add rows for extension-only changes.';


-- ---- sql/src/20_tables/60_private_workers.sql
-- Runners that send heartbeats (gw_runner). Not part of the graphile-worker schema: Node workers
-- never register, and their locks are left to the 4-hour rule (reset_locked). A registered
-- worker belongs to the login role that registered it (registered_by, added in 0.1.3, hence
-- last): only that role, or an admin-level one, claims, reports, returns, beats and
-- deregisters for it.
create table graphile_worker._private_workers (
  worker_id text not null,
  registered_at timestamptz not null,
  last_heartbeat_at timestamptz not null,
  stale_after interval not null,
  info jsonb,
  registered_by oid,
  constraint workers_pkey primary key (worker_id),
  constraint workers_worker_id_check check (length(worker_id) between 1 and 128),
  constraint workers_stale_after_check check (stale_after > interval '0')
);

alter table graphile_worker._private_workers enable row level security;

comment on table graphile_worker._private_workers is
  'Registered runners and their last heartbeat; recover_stale_workers() releases the jobs of those that stopped beating.';

comment on column graphile_worker._private_workers.registered_by is
  'The oid of the login role (session_user) that registered the worker; null for registrations made before 0.1.3, which are bound to no role until the worker registers again.';

-- ---- sql/src/30_functions/00_version.sql
-- The version of the installed SQL, for both install kinds (extension and standalone script).
create function graphile_worker.version()
returns text
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select '0.1.3'::text;
$$;

comment on function graphile_worker.version() is
  'The version of the graphile_worker SQL installed in this database (extension or standalone script).';

-- ---- sql/src/30_functions/02_private_check_job_args.sql
-- Validate one job's arguments before anything is written, so bad input raises a clear error
-- and burns no identity value: upstream's SQLSTATEs where upstream has them (23502 not null,
-- 23514 check, 22003 range, 22004 null flag), GWE01 for a run_at no client can read back and
-- GWE03 for a payload that jsonb cannot hold. Callers test cheap conditions first and call this
-- only to raise; it returns nothing when the arguments are fine (the payload test of the callers
-- may flag payloads that turn out to be fine).
create function graphile_worker._private_check_job_args(
  identifier text,
  payload json,
  queue_name text,
  run_at timestamptz,
  max_attempts integer,
  job_key text,
  priority integer,
  flags text[],
  spec_position integer default null
)
returns void
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_where text := case when spec_position is null then '' else format(' (job spec %s)', spec_position) end;
  v_message text;
  v_detail text;
begin
  if identifier is null then
    raise exception 'task identifier must not be null%', v_where
      using errcode = 'not_null_violation', column = 'identifier',
      detail = 'Every job names the task that runs it.',
      hint = 'Pass the task identifier as the first argument, e.g. add_job(''send_email'', ...).';
  end if;
  if length(identifier) > 128 then
    raise exception 'task identifier is too long%: % characters, at most 128', v_where, length(identifier)
      using errcode = 'check_violation', constraint = 'tasks_identifier_check',
      detail = format('The identifier starts with %L.', left(identifier, 40)),
      hint = 'Use a task identifier of at most 128 characters.';
  end if;
  if length(queue_name) > 128 then
    raise exception 'queue name is too long%: % characters, at most 128', v_where, length(queue_name)
      using errcode = 'check_violation', constraint = 'job_queues_queue_name_check',
      detail = format('The queue name starts with %L.', left(queue_name, 40)),
      hint = 'Use a queue name of at most 128 characters.';
  end if;
  if job_key is not null and (length(job_key) = 0 or length(job_key) > 512) then
    raise exception 'job key must have 1 to 512 characters%, not %', v_where, length(job_key)
      using errcode = 'check_violation', constraint = 'jobs_key_check',
      detail = 'An empty job key or one longer than 512 characters cannot be stored.',
      hint = 'Pass null for no key, or a key of 1 to 512 characters.';
  end if;
  if max_attempts is not null and max_attempts < 1 then
    raise exception 'max_attempts must be at least 1%, not %', v_where, max_attempts
      using errcode = 'check_violation', constraint = 'jobs_max_attempts_check',
      detail = 'A job needs at least one attempt.',
      hint = 'Pass null for the default of 25, or a number from 1 to 32767.';
  end if;
  if max_attempts > 32767 then
    raise exception 'smallint out of range%: max_attempts % is above 32767', v_where, max_attempts
      using errcode = 'numeric_value_out_of_range',
      detail = 'max_attempts is stored as a smallint.',
      hint = 'Pass a number from 1 to 32767.';
  end if;
  if priority < -32768 or priority > 32767 then
    raise exception 'smallint out of range%: priority % is outside -32768..32767', v_where, priority
      using errcode = 'numeric_value_out_of_range',
      detail = 'priority is stored as a smallint; lower numbers run first.',
      hint = 'Pass a priority from -32768 to 32767.';
  end if;
  if flags is not null and array_position(flags, null) is not null then
    raise exception 'flags must not contain null%', v_where
      using errcode = 'null_value_not_allowed',
      detail = 'Flags are stored as the keys of a JSON object.',
      hint = 'Remove the null element from flags.';
  end if;
  -- The range a Python datetime can hold in any time zone (years 1 to 9999, one day of margin
  -- for the session's UTC offset); PostgreSQL itself would accept infinity and year 294276.
  if run_at < '0001-01-02 00:00:00+00' or run_at >= '9999-12-31 00:00:00+00' then
    raise exception 'run_at must be between 0001-01-02 and 9999-12-30 UTC%, not %', v_where, run_at
      using errcode = 'GWE01',
      detail = 'Runners read run_at back as a date and time: infinity, -infinity and years '
        'outside 1 to 9999 cannot be represented by them (Python''s datetime).',
      hint = 'Pass null to run the job now, or a time from 0001-01-02 to 9999-12-30 UTC.';
  end if;
  -- json accepts what jsonb cannot hold: \u0000, an unpaired surrogate (\ud800-\udfff), a
  -- number beyond the numeric type. Replacing a keyed job merges array payloads as jsonb.
  if payload is not null then
    begin
      perform payload::jsonb;
    exception when data_exception or program_limit_exceeded then
      get stacked diagnostics v_message = message_text, v_detail = pg_exception_detail;
      raise exception 'payload cannot be converted to jsonb%: %', v_where, v_message
        using errcode = 'GWE03',
        detail = format('The payload is valid json, but jsonb rejects it (%s). Keyed jobs merge '
          'array payloads as jsonb, and other tools read payloads as jsonb.',
          rtrim(coalesce(nullif(v_detail, ''), v_message), '.')),
        hint = E'Remove \\u0000 and unpaired surrogates (\\ud800 to \\udfff) from the payload''s '
          'strings and keep its numbers within PostgreSQL''s numeric range; send binary data '
          'as base64, for example.';
    end;
  end if;
end;
$$;

-- ---- sql/src/30_functions/03_private_merge_array_payloads.sql
-- The payload of a keyed job replaced by a spec whose payload is an array, when the stored
-- payload is an array too and may be one jsonb rejects (add_jobs calls this only then; other
-- arrays are concatenated inline as jsonb, as graphile-worker 0.18 does). A job written by Node
-- or by hand may hold json that jsonb cannot convert (\u0000, an unpaired surrogate, a number
-- beyond numeric): its key stays replaceable, the two arrays are then joined as text (the
-- elements are kept exactly as written). The new payload was checked at enqueue.
create function graphile_worker._private_merge_array_payloads(existing json, added json)
returns json
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_existing text;
  v_added text;
begin
  return (existing::jsonb || added::jsonb)::json;
exception when data_exception or program_limit_exceeded then
  -- the elements between the outer brackets (json keeps the text as written)
  v_existing := btrim(existing::text, E' \t\n\r');
  v_existing := btrim(substr(v_existing, 2, length(v_existing) - 2), E' \t\n\r');
  v_added := btrim(added::text, E' \t\n\r');
  v_added := btrim(substr(v_added, 2, length(v_added) - 2), E' \t\n\r');
  return ('[' || v_existing
    || case when v_existing <> '' and v_added <> '' then ', ' else '' end
    || v_added || ']')::json;
end;
$$;

-- ---- sql/src/30_functions/10_add_jobs.sql
-- Enqueue many jobs in one statement (graphile-worker 0.18 contract, plus fixes):
--  * every spec is validated first, so bad input changes nothing and burns no identity value;
--    a run_at no client can read back (GWE01), a payload jsonb cannot hold (GWE03) and the same
--    job key in two specs (GWE02; upstream fails in the upsert with 21000) are rejected too;
--  * keyed specs are serialised per key by row locks of the jobs table only (never advisory
--    locks, which any role can hold): one upsert in job key order locks the row of each key,
--    also the row of a running or permanently failed job, which it does not update; that job
--    then loses its key and the spec makes a new job, while no one else can touch the key. So
--    a keyed spec always returns its row (#580), an open transaction blocks only callers of
--    its own keys, and two calls never deadlock on each other's keys;
--  * specs without keys take a plain insert (no ON CONFLICT);
--  * the enqueuers' guard against garbage collection (see _private_gc_lock) is a ROW SHARE
--    lock on _private_tasks, held from before task and queue ids are read until commit;
--  * jobs:insert is notified while the notification queue is less than half full: a session
--    that stops reading it (any role can LISTEN) cannot make enqueueing fail; runners poll.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.add_jobs(
  specs graphile_worker.job_spec[],
  job_key_preserve_run_at boolean default false
)
returns setof graphile_worker._private_jobs
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_count integer := coalesce(cardinality(specs), 0);
  v_rows graphile_worker._private_jobs[];
  v_held text[];
  v_invalid bigint;
  v_keyed bigint;
  v_new_tasks bigint;
  v_new_queues bigint;
  v_dup_key text;
  v_dup_positions text;
begin
  if v_count = 0 then
    return;
  end if;

  -- The enqueuers' guard first: gc_task_identifiers and gc_job_queues wait for it (it
  -- conflicts with their EXCLUSIVE lock), so the tasks and queues seen below stay.
  lock table graphile_worker._private_tasks in row share mode;

  -- One pass over the specs: any invalid, any keyed, any new task identifier or queue name.
  select
    count(*) filter (where
      s.identifier is null
      or length(s.identifier) > 128
      or length(s.queue_name) > 128
      or length(s.job_key) not between 1 and 512
      or s.max_attempts < 1
      or array_position(s.flags, null) is not null
      or s.run_at < '0001-01-02 00:00:00+00' or s.run_at >= '9999-12-31 00:00:00+00'
      -- may jsonb reject the payload? (as in add_job; the checker decides)
      or octet_length(s.payload::text) > 6000
      or strpos(s.payload::text, E'\\u') > 0
      or s.payload::text ~ '[eE][-+0-9][0-9]{4}'),
    count(s.job_key),
    count(*) filter (where t.id is null),
    count(*) filter (where s.queue_name is not null and q.id is null)
  into v_invalid, v_keyed, v_new_tasks, v_new_queues
  from pg_catalog.unnest(specs) as s
  left join graphile_worker._private_tasks as t on t.identifier = s.identifier
  left join graphile_worker._private_job_queues as q on q.queue_name = s.queue_name;

  if v_invalid > 0 then
    -- raises the error for the first invalid spec (a flagged payload may turn out to be fine)
    perform graphile_worker._private_check_job_args(
      s.identifier, s.payload, s.queue_name, s.run_at, s.max_attempts, s.job_key, s.priority,
      s.flags, s.ord::integer)
    from pg_catalog.unnest(specs) with ordinality
      as s(identifier, payload, queue_name, run_at, max_attempts, job_key, priority, flags, ord)
    where s.identifier is null
       or length(s.identifier) > 128
       or length(s.queue_name) > 128
       or length(s.job_key) not between 1 and 512
       or s.max_attempts < 1
       or array_position(s.flags, null) is not null
       or s.run_at < '0001-01-02 00:00:00+00' or s.run_at >= '9999-12-31 00:00:00+00'
       or octet_length(s.payload::text) > 6000
       or strpos(s.payload::text, E'\\u') > 0
       or s.payload::text ~ '[eE][-+0-9][0-9]{4}'
    order by s.ord;
  end if;

  -- One upsert cannot replace a keyed job twice (upstream fails there with 21000, after
  -- drawing an identity value per spec): say which key, before anything is written.
  if v_keyed > 1 then
    select s.job_key into v_dup_key
    from pg_catalog.unnest(specs) with ordinality
      as s(identifier, payload, queue_name, run_at, max_attempts, job_key, priority, flags, ord)
    where s.job_key is not null
    group by s.job_key
    having count(*) > 1
    order by min(s.ord)
    limit 1;
    if v_dup_key is not null then
      select string_agg(s.ord::text, ', ' order by s.ord) into v_dup_positions
      from pg_catalog.unnest(specs) with ordinality
        as s(identifier, payload, queue_name, run_at, max_attempts, job_key, priority, flags, ord)
      where s.job_key = v_dup_key;
      raise exception 'job key % is in more than one job spec (job specs %)',
        quote_literal(left(v_dup_key, 100)), v_dup_positions
        using errcode = 'GWE02',
        detail = format('Job specs %s of this add_jobs call have the job key %L; one call can '
          'replace the job of a key only once.', v_dup_positions, v_dup_key),
        hint = 'Send one spec per job key: merge the payloads into one spec, or enqueue the '
          'others in a later call.';
    end if;
  end if;

  -- Insert only missing identifiers and queue names, so no identity value is burned (#619).
  if v_new_tasks > 0 then
    insert into graphile_worker._private_tasks (identifier)
    select distinct s.identifier
    from pg_catalog.unnest(specs) as s
    where not exists (
      select 1 from graphile_worker._private_tasks as t where t.identifier = s.identifier
    )
    on conflict do nothing;
  end if;

  if v_new_queues > 0 then
    insert into graphile_worker._private_job_queues (queue_name)
    select distinct s.queue_name
    from pg_catalog.unnest(specs) as s
    where s.queue_name is not null
      and not exists (
        select 1 from graphile_worker._private_job_queues as q where q.queue_name = s.queue_name
      )
    on conflict do nothing;
  end if;

  -- The count over-estimates (updates and future run_at count too), as upstream's does.
  if pg_catalog.pg_notification_queue_usage() < 0.5 then
    perform pg_catalog.pg_notify('jobs:insert',
      '{"r":' || random()::text || ',"count":' || v_count::text || '}');
  end if;

  if v_keyed = 0 then
    return query
    insert into graphile_worker._private_jobs as jobs
      (job_queue_id, task_id, payload, run_at, max_attempts, key, priority, flags)
    select
      q.id,
      t.id,
      coalesce(s.payload, '{}'::json),
      coalesce(s.run_at, now()),
      coalesce(s.max_attempts, 25::smallint),
      null,
      coalesce(s.priority, 0::smallint),
      case when s.flags is not null then
        (select jsonb_object_agg(f, true) from pg_catalog.unnest(s.flags) as f) end
    from pg_catalog.unnest(specs) with ordinality
      as s(identifier, payload, queue_name, run_at, max_attempts, job_key, priority, flags, ord)
    join graphile_worker._private_tasks as t on t.identifier = s.identifier
    left join graphile_worker._private_job_queues as q on q.queue_name = s.queue_name
    order by s.ord  -- ids follow the order of the specs (FIFO within a named queue)
    returning jobs.*;
    return;
  end if;

  -- One upsert in job key order: the speculative insert or the ON CONFLICT row lock of each
  -- key is taken in the same order by every caller, so concurrent calls wait for each other
  -- key by key and never deadlock. A key's row that is not available (running, or failed for
  -- good) is locked but not updated (ON CONFLICT DO UPDATE locks every conflicting row). Ids
  -- are drawn in spec order first (FIFO within a named queue); the id of a spec that updates
  -- an existing job stays unused, as with the identity default.
  with upserted as (
    insert into graphile_worker._private_jobs as jobs
      (id, job_queue_id, task_id, payload, run_at, max_attempts, key, priority, flags)
    overriding system value
    select
      s.id,
      q.id,
      t.id,
      coalesce(s.payload, '{}'::json),
      coalesce(s.run_at, now()),
      coalesce(s.max_attempts, 25::smallint),
      s.job_key,
      coalesce(s.priority, 0::smallint),
      case when s.flags is not null then
        (select jsonb_object_agg(f, true) from pg_catalog.unnest(s.flags) as f) end
    from (
      -- not pulled up (ORDER BY, volatile target list): nextval runs after the sort
      select pg_catalog.nextval('graphile_worker.jobs_id_seq1'::regclass) as id, u.*
      from pg_catalog.unnest(specs) with ordinality
        as u(identifier, payload, queue_name, run_at, max_attempts, job_key, priority, flags, ord)
      order by u.ord
    ) as s
    join graphile_worker._private_tasks as t on t.identifier = s.identifier
    left join graphile_worker._private_job_queues as q on q.queue_name = s.queue_name
    order by s.job_key
    on conflict (key) do update set
      job_queue_id = excluded.job_queue_id,
      task_id = excluded.task_id,
      payload = case
        when json_typeof(jobs.payload) <> 'array' or json_typeof(excluded.payload) <> 'array'
          then excluded.payload
        -- a stored payload jsonb may reject (the test of add_job): merged by the helper, which
        -- joins the arrays as text when jsonb fails (rows written by Node or by hand)
        when octet_length(jobs.payload::text) > 6000
             or strpos(jobs.payload::text, E'\\u') > 0
             or jobs.payload::text ~ '[eE][-+0-9][0-9]{4}'
          then graphile_worker._private_merge_array_payloads(jobs.payload, excluded.payload)
        else (jobs.payload::jsonb || excluded.payload::jsonb)::json
      end,
      max_attempts = excluded.max_attempts,
      run_at = case
        when job_key_preserve_run_at is true and jobs.attempts = 0 then jobs.run_at
        else excluded.run_at
      end,
      priority = excluded.priority,
      revision = jobs.revision + 1,
      flags = excluded.flags,
      attempts = 0,
      last_error = null,
      updated_at = now()
    where jobs.is_available
    returning jobs as job
  )
  select coalesce(array_agg(u.job), '{}') into v_rows from upserted as u;

  if cardinality(v_rows) < v_count then
    -- Keys whose job is running or failed for good (#580: a worker may have claimed it a
    -- moment ago). This transaction holds those rows' locks since the upsert, so nobody can
    -- change them or give their keys to another job: the job keeps its row but loses its key
    -- (and will not be retried), and the spec makes a new job under the key.
    select array_agg(s.job_key) into v_held
    from pg_catalog.unnest(specs) as s
    where s.job_key is not null
      and not exists (select 1 from pg_catalog.unnest(v_rows) as r where r.key = s.job_key);

    update graphile_worker._private_jobs as jobs
    set key = null, attempts = jobs.max_attempts, updated_at = now()
    where jobs.key = any(v_held);

    with inserted as (
      insert into graphile_worker._private_jobs as jobs
        (job_queue_id, task_id, payload, run_at, max_attempts, key, priority, flags)
      select
        q.id,
        t.id,
        coalesce(s.payload, '{}'::json),
        coalesce(s.run_at, now()),
        coalesce(s.max_attempts, 25::smallint),
        s.job_key,
        coalesce(s.priority, 0::smallint),
        case when s.flags is not null then
          (select jsonb_object_agg(f, true) from pg_catalog.unnest(s.flags) as f) end
      from pg_catalog.unnest(specs) with ordinality
        as s(identifier, payload, queue_name, run_at, max_attempts, job_key, priority, flags, ord)
      join graphile_worker._private_tasks as t on t.identifier = s.identifier
      left join graphile_worker._private_job_queues as q on q.queue_name = s.queue_name
      where s.job_key = any(v_held)
      order by s.job_key
      returning jobs as job
    )
    select v_rows || coalesce(array_agg(i.job), '{}') into v_rows from inserted as i;
  end if;

  -- One row per spec, in spec order (upstream returns the rows in the order of the specs): a
  -- keyed row is its key's spec, the n-th unkeyed row (by id) the n-th unkeyed spec.
  return query
  select (x.job).*
  from (
    select r as job, s.ord
    from pg_catalog.unnest(v_rows) as r
    join pg_catalog.unnest(specs) with ordinality
      as s(identifier, payload, queue_name, run_at, max_attempts, job_key, priority, flags, ord)
      on s.job_key = r.key
    union all
    select r.job, s.ord
    from (
      select r as job, row_number() over (order by r.id) as n
      from pg_catalog.unnest(v_rows) as r
      where r.key is null
    ) as r
    join (
      select s.ord, row_number() over (order by s.ord) as n
      from pg_catalog.unnest(specs) with ordinality
        as s(identifier, payload, queue_name, run_at, max_attempts, job_key, priority, flags, ord)
      where s.job_key is null
    ) as s on s.n = r.n
  ) as x
  order by x.ord;
end;
$$;

comment on function graphile_worker.add_jobs(graphile_worker.job_spec[], boolean) is
  'Enqueue many jobs in one statement (graphile-worker 0.18 semantics). Keyed specs replace the pending job with that key (array payloads are concatenated); job_key_preserve_run_at keeps its run_at. Always returns one row per spec, in spec order, also under concurrency; waits only for open transactions that enqueued or removed the same keys. Bad input (also a run_at outside 0001-01-02..9999-12-30 UTC, a payload jsonb cannot hold, one job key in two specs) raises before anything is written. Notifies jobs:insert.';

-- ---- sql/src/30_functions/11_add_job.sql
-- Enqueue one job (graphile-worker 0.18 contract). Without a key it inserts directly (the
-- common case: when the task and queue exist, one insert that looks both up, with the arguments
-- checked by plain expressions); keyed modes replace and preserve_run_at take one upsert too
-- when the task and queue exist and the key's job (if any) is waiting, and go through add_jobs
-- otherwise (row locks per key, never a null row); unsafe_dedupe returns the existing keyed job
-- unchanged (revision bumped), whatever its state. Takes no advisory lock: only the enqueuers'
-- ROW SHARE lock on _private_tasks (see add_jobs and _private_gc_lock) and row locks, which
-- no role outside the extension's functions can take or hold.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.add_job(
  identifier text,
  payload json default null,
  queue_name text default null,
  run_at timestamptz default null,
  max_attempts integer default null,
  job_key text default null,
  priority integer default null,
  flags text[] default null,
  job_key_mode text default 'replace'
)
returns graphile_worker._private_jobs
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_job graphile_worker._private_jobs;
  v_task_id integer;
  v_queue_id integer;
begin
  if job_key is not null and job_key_mode is not null
     and job_key_mode not in ('replace', 'preserve_run_at', 'unsafe_dedupe') then
    raise exception 'Invalid job_key_mode value, expected ''replace'', ''preserve_run_at'' or ''unsafe_dedupe''.'
      using errcode = 'GWBKM',
      detail = format('job_key_mode was %L.', job_key_mode),
      hint = 'Use replace (the default), preserve_run_at or unsafe_dedupe.';
  end if;

  -- The same conditions _private_check_job_args raises on, as plain expressions (cheap): the
  -- checker is called only to raise the error. For the payload they flag every payload jsonb
  -- may reject, and the checker converts only those: a \u escape (\u0000, an unpaired
  -- surrogate), an e followed by a sign or digit and 4 more digits (a number beyond numeric
  -- has an exponent of 5 digits or more, or more than 6000 digits), more than 6000 bytes.
  -- Converting every payload would cost a second parse and a subtransaction per call.
  if add_job.identifier is null
     or length(add_job.identifier) > 128
     or length(add_job.queue_name) > 128
     or length(add_job.job_key) not between 1 and 512
     or add_job.max_attempts not between 1 and 32767
     or add_job.priority not between -32768 and 32767
     or array_position(add_job.flags, null) is not null
     or add_job.run_at < '0001-01-02 00:00:00+00' or add_job.run_at >= '9999-12-31 00:00:00+00'
     or octet_length(add_job.payload::text) > 6000
     or strpos(add_job.payload::text, E'\\u') > 0
     or add_job.payload::text ~ '[eE][-+0-9][0-9]{4}' then
    perform graphile_worker._private_check_job_args(
      add_job.identifier, add_job.payload, add_job.queue_name, add_job.run_at,
      add_job.max_attempts, add_job.job_key, add_job.priority, add_job.flags);
  end if;

  if job_key is null then
    -- The enqueuers' guard first (before the task and queue are read), as add_jobs takes it.
    lock table graphile_worker._private_tasks in row share mode;
    insert into graphile_worker._private_jobs as jobs
      (job_queue_id, task_id, payload, run_at, max_attempts, priority, flags)
    select
      q.id,
      t.id,
      coalesce(add_job.payload, '{}'::json),
      coalesce(add_job.run_at, now()),
      coalesce(add_job.max_attempts::smallint, 25::smallint),
      coalesce(add_job.priority::smallint, 0::smallint),
      case when add_job.flags is not null then
        (select jsonb_object_agg(f, true) from pg_catalog.unnest(add_job.flags) as f) end
    from graphile_worker._private_tasks as t
    left join graphile_worker._private_job_queues as q on q.queue_name = add_job.queue_name
    where t.identifier = add_job.identifier
      and (add_job.queue_name is null or q.id is not null)
    returning * into v_job;
    if found then
      if pg_catalog.pg_notification_queue_usage() < 0.5 then
        perform pg_catalog.pg_notify('jobs:insert', '{"r":' || random()::text || ',"count":1}');
      end if;
      return v_job;
    end if;
    -- a new task identifier or queue name: created below, then the insert
  end if;

  if job_key is not null and (job_key_mode is null or job_key_mode <> 'unsafe_dedupe') then
    -- The common case in one upsert (task and queue exist, the key is free or its job is
    -- waiting); the SET list is add_jobs'. Otherwise no row: the task or queue is new, or the
    -- key's job is running or failed for good, and this transaction now holds that row's lock
    -- (ON CONFLICT DO UPDATE locks the rows it does not update); add_jobs does the rest.
    lock table graphile_worker._private_tasks in row share mode;
    insert into graphile_worker._private_jobs as jobs
      (job_queue_id, task_id, payload, run_at, max_attempts, key, priority, flags)
    select
      q.id,
      t.id,
      coalesce(add_job.payload, '{}'::json),
      coalesce(add_job.run_at, now()),
      coalesce(add_job.max_attempts::smallint, 25::smallint),
      add_job.job_key,
      coalesce(add_job.priority::smallint, 0::smallint),
      case when add_job.flags is not null then
        (select jsonb_object_agg(f, true) from pg_catalog.unnest(add_job.flags) as f) end
    from graphile_worker._private_tasks as t
    left join graphile_worker._private_job_queues as q on q.queue_name = add_job.queue_name
    where t.identifier = add_job.identifier
      and (add_job.queue_name is null or q.id is not null)
    on conflict (key) do update set
      job_queue_id = excluded.job_queue_id,
      task_id = excluded.task_id,
      payload = case
        when json_typeof(jobs.payload) <> 'array' or json_typeof(excluded.payload) <> 'array'
          then excluded.payload
        when octet_length(jobs.payload::text) > 6000
             or strpos(jobs.payload::text, E'\\u') > 0
             or jobs.payload::text ~ '[eE][-+0-9][0-9]{4}'
          then graphile_worker._private_merge_array_payloads(jobs.payload, excluded.payload)
        else (jobs.payload::jsonb || excluded.payload::jsonb)::json
      end,
      max_attempts = excluded.max_attempts,
      run_at = case
        when job_key_mode = 'preserve_run_at' and jobs.attempts = 0 then jobs.run_at
        else excluded.run_at
      end,
      priority = excluded.priority,
      revision = jobs.revision + 1,
      flags = excluded.flags,
      attempts = 0,
      last_error = null,
      updated_at = now()
    where jobs.is_available
    returning * into v_job;
    if found then
      if pg_catalog.pg_notification_queue_usage() < 0.5 then
        perform pg_catalog.pg_notify('jobs:insert', '{"r":' || random()::text || ',"count":1}');
      end if;
      return v_job;
    end if;

    select * into v_job
    from graphile_worker.add_jobs(
      array[row(
        add_job.identifier, add_job.payload, add_job.queue_name, add_job.run_at,
        add_job.max_attempts::smallint, add_job.job_key, add_job.priority::smallint, add_job.flags
      )::graphile_worker.job_spec],
      job_key_mode = 'preserve_run_at'
    );
    return v_job;
  end if;

  if job_key is not null then
    lock table graphile_worker._private_tasks in row share mode;
  end if;

  select t.id into v_task_id
  from graphile_worker._private_tasks as t
  where t.identifier = add_job.identifier;
  if v_task_id is null then
    insert into graphile_worker._private_tasks as t (identifier)
    values (add_job.identifier)
    on conflict on constraint tasks_identifier_key do update set identifier = excluded.identifier
    returning t.id into v_task_id;
  end if;

  if add_job.queue_name is not null then
    select q.id into v_queue_id
    from graphile_worker._private_job_queues as q
    where q.queue_name = add_job.queue_name;
    if v_queue_id is null then
      insert into graphile_worker._private_job_queues as q (queue_name)
      values (add_job.queue_name)
      on conflict on constraint job_queues_queue_name_key do update set queue_name = excluded.queue_name
      returning q.id into v_queue_id;
    end if;
  end if;

  if job_key is null then
    insert into graphile_worker._private_jobs as jobs
      (job_queue_id, task_id, payload, run_at, max_attempts, priority, flags)
    values (
      v_queue_id,
      v_task_id,
      coalesce(add_job.payload, '{}'::json),
      coalesce(add_job.run_at, now()),
      coalesce(add_job.max_attempts::smallint, 25::smallint),
      coalesce(add_job.priority::smallint, 0::smallint),
      (select jsonb_object_agg(f, true) from pg_catalog.unnest(add_job.flags) as f)
    )
    returning * into v_job;
    if pg_catalog.pg_notification_queue_usage() < 0.5 then
      perform pg_catalog.pg_notify('jobs:insert', '{"r":' || random()::text || ',"count":1}');
    end if;
    return v_job;
  end if;

  -- unsafe_dedupe: insert, or return the existing job with that key as it is (only revision
  -- and updated_at change), even when it is running or permanently failed. The upsert
  -- serialises callers of the same key (its row lock or speculative insert) and always
  -- returns the row.
  insert into graphile_worker._private_jobs as jobs
    (job_queue_id, task_id, payload, run_at, max_attempts, key, priority, flags)
  values (
    v_queue_id,
    v_task_id,
    coalesce(add_job.payload, '{}'::json),
    coalesce(add_job.run_at, now()),
    coalesce(add_job.max_attempts::smallint, 25::smallint),
    add_job.job_key,
    coalesce(add_job.priority::smallint, 0::smallint),
    (select jsonb_object_agg(f, true) from pg_catalog.unnest(add_job.flags) as f)
  )
  on conflict (key) do update set
    revision = jobs.revision + 1,
    updated_at = now()
  returning * into v_job;
  if v_job.revision = 0 and pg_catalog.pg_notification_queue_usage() < 0.5 then
    perform pg_catalog.pg_notify('jobs:insert', '{"r":' || random()::text || ',"count":1}');
  end if;
  return v_job;
end;
$$;

comment on function graphile_worker.add_job(text, json, text, timestamptz, integer, text, integer, text[], text) is
  'Enqueue one job (graphile-worker 0.18 semantics): job_key with job_key_mode replace (default), preserve_run_at or unsafe_dedupe; never returns null for a keyed job under concurrency, and waits only for open transactions that enqueued or removed the same key. Bad input (also a run_at outside 0001-01-02..9999-12-30 UTC or a payload jsonb cannot hold) raises before anything is written. Notifies jobs:insert.';

-- ---- sql/src/30_functions/12_remove_job.sql
-- Remove a pending job by key (graphile-worker 0.18 contract). A job that is running cannot be
-- removed: it loses its key and will not be retried. The key's row is locked first (FOR
-- UPDATE), so an enqueue of the same key waits for this call, and this call for an open
-- enqueue of the same key; callers of other keys never wait (no advisory lock, no bucket).
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.remove_job(job_key text)
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

  if v_job.locked_at is null or v_job.locked_at < now() - interval '4 hours' then
    delete from graphile_worker._private_jobs as jobs
    where jobs.id = v_job.id
    returning * into v_job;
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
  'Delete the pending job with this key (notifies jobs:insert with count -1); a running job with the key instead loses its key and will not be retried. Returns the row, or null. Waits only for open transactions that enqueued or removed the same key.';

-- ---- sql/src/30_functions/13_complete_jobs.sql
-- Admin: delete jobs that are not locked (graphile-worker 0.18 contract).
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.complete_jobs(job_ids bigint[])
returns setof graphile_worker._private_jobs
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$
  delete from graphile_worker._private_jobs as jobs
  where jobs.id = any(job_ids)
    and (jobs.locked_at is null or jobs.locked_at < now() - interval '4 hours')
  returning *;
$$;

comment on function graphile_worker.complete_jobs(bigint[]) is
  'Admin: mark jobs as done by deleting them; jobs locked by a worker (within 4 hours) are left alone. Returns the deleted rows.';

-- ---- sql/src/30_functions/14_permanently_fail_jobs.sql
-- Admin: stop retrying jobs that are not locked (graphile-worker 0.18 contract).
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.permanently_fail_jobs(job_ids bigint[], error_message text default null)
returns setof graphile_worker._private_jobs
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$
  update graphile_worker._private_jobs as jobs
  set
    last_error = coalesce(error_message, 'Manually marked as failed'),
    attempts = jobs.max_attempts,
    updated_at = now()
  where jobs.id = any(job_ids)
    and (jobs.locked_at is null or jobs.locked_at < now() - interval '4 hours')
  returning *;
$$;

comment on function graphile_worker.permanently_fail_jobs(bigint[], text) is
  'Admin: mark jobs as permanently failed (attempts = max_attempts, last_error set); locked jobs are left alone. Returns the changed rows.';

-- ---- sql/src/30_functions/15_reschedule_jobs.sql
-- Admin: change run_at / priority / attempts / max_attempts of jobs that are not locked
-- (graphile-worker 0.18 contract); a null argument keeps the current value. The arguments are
-- checked before any row is touched, with upstream's SQLSTATEs (23514 for max_attempts < 1,
-- 22003 outside smallint) but a message with DETAIL and HINT instead of the failing row;
-- GWE01 for a run_at no client can read back; a negative attempts is rejected (22003), where
-- upstream stores it.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.reschedule_jobs(
  job_ids bigint[],
  run_at timestamptz default null,
  priority integer default null,
  attempts integer default null,
  max_attempts integer default null
)
returns setof graphile_worker._private_jobs
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if reschedule_jobs.run_at < '0001-01-02 00:00:00+00'
     or reschedule_jobs.run_at >= '9999-12-31 00:00:00+00' then
    raise exception 'run_at must be between 0001-01-02 and 9999-12-30 UTC, not %', reschedule_jobs.run_at
      using errcode = 'GWE01',
      detail = 'Runners read run_at back as a date and time: infinity, -infinity and years '
        'outside 1 to 9999 cannot be represented by them (Python''s datetime).',
      hint = 'Pass null to keep each job''s run_at, or a time from 0001-01-02 to 9999-12-30 UTC.';
  end if;
  if reschedule_jobs.priority not between -32768 and 32767 then
    raise exception 'smallint out of range: priority % is outside -32768..32767', reschedule_jobs.priority
      using errcode = 'numeric_value_out_of_range',
      detail = 'priority is stored as a smallint; lower numbers run first.',
      hint = 'Pass a priority from -32768 to 32767, or null to keep each job''s priority.';
  end if;
  if reschedule_jobs.attempts not between 0 and 32767 then
    raise exception 'attempts must be between 0 and 32767, not %', reschedule_jobs.attempts
      using errcode = 'numeric_value_out_of_range',
      detail = 'attempts counts the attempts made so far and is stored as a smallint; a negative '
        'count is rejected (graphile-worker 0.18 stores it).',
      hint = 'Pass 0 to give the jobs all their attempts again, or null to keep each job''s count.';
  end if;
  if reschedule_jobs.max_attempts < 1 then
    raise exception 'max_attempts must be at least 1, not %', reschedule_jobs.max_attempts
      using errcode = 'check_violation', constraint = 'jobs_max_attempts_check',
      detail = 'A job needs at least one attempt.',
      hint = 'Pass a number from 1 to 32767, or null to keep each job''s max_attempts.';
  end if;
  if reschedule_jobs.max_attempts > 32767 then
    raise exception 'smallint out of range: max_attempts % is above 32767', reschedule_jobs.max_attempts
      using errcode = 'numeric_value_out_of_range',
      detail = 'max_attempts is stored as a smallint.',
      hint = 'Pass a number from 1 to 32767, or null to keep each job''s max_attempts.';
  end if;

  return query
  update graphile_worker._private_jobs as jobs
  set
    run_at = coalesce(reschedule_jobs.run_at, jobs.run_at),
    priority = coalesce(reschedule_jobs.priority::smallint, jobs.priority),
    attempts = coalesce(reschedule_jobs.attempts::smallint, jobs.attempts),
    max_attempts = coalesce(reschedule_jobs.max_attempts::smallint, jobs.max_attempts),
    updated_at = now()
  where jobs.id = any(job_ids)
    and (jobs.locked_at is null or jobs.locked_at < now() - interval '4 hours')
  returning jobs.*;
end;
$$;

comment on function graphile_worker.reschedule_jobs(bigint[], timestamptz, integer, integer, integer) is
  'Admin: change run_at, priority, attempts or max_attempts of jobs that are not locked (null keeps the value). Returns the changed rows. Arguments are checked first: run_at from 0001-01-02 to 9999-12-30 UTC, priority a smallint, attempts 0..32767, max_attempts 1..32767.';

-- ---- sql/src/30_functions/16_force_unlock_workers.sql
-- Admin: clear every job and queue lock held by these worker ids (graphile-worker 0.18
-- contract). Attempts are not refunded: the interrupted attempt counts.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.force_unlock_workers(worker_ids text[])
returns void
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$
  update graphile_worker._private_jobs as jobs
  set locked_at = null, locked_by = null
  where jobs.locked_by = any(worker_ids);

  update graphile_worker._private_job_queues as job_queues
  set locked_at = null, locked_by = null
  where job_queues.locked_by = any(worker_ids);
$$;

comment on function graphile_worker.force_unlock_workers(text[]) is
  'Admin: unlock all jobs and queues locked by these worker ids (e.g. after a crash); the interrupted attempt still counts.';

-- ---- sql/src/30_functions/20_runner/00_private_check_worker_id.sql
-- Runner functions take the id the runner locks jobs with; it must be a usable text.
create function graphile_worker._private_check_worker_id(worker_id text)
returns void
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  if worker_id is null or worker_id = '' then
    raise exception 'worker_id must not be null or empty'
      using errcode = 'GWA01',
      detail = 'Jobs are locked by worker id; an empty id would lock them anonymously.',
      hint = 'Pass a stable id per runner process, e.g. gw-<host>-<pid>-<random>.';
  end if;
  if length(worker_id) > 128 then
    raise exception 'worker_id is too long: % characters, at most 128', length(worker_id)
      using errcode = 'GWA02',
      detail = format('The worker id starts with %L.', left(worker_id, 40)),
      hint = 'Use a worker id of at most 128 characters.';
  end if;
end;
$$;

-- ---- sql/src/30_functions/20_runner/01_private_session_role.sql
-- The role a worker is bound to: the session's login role (session_user). Inside the SECURITY
-- DEFINER runner functions current_user is the functions' owner, so the caller's role is read
-- from the session; a caller cannot forge it (SET ROLE changes current_user, never
-- session_user; SET SESSION AUTHORIZATION is for superusers). As an oid, so a renamed role
-- keeps its workers; a plain oid rather than a regrole, so that a dump of a standalone install
-- restores into a cluster without that role.
create function graphile_worker._private_session_role()
returns oid
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.to_regrole(pg_catalog.quote_ident(session_user))::oid;
$$;

-- ---- sql/src/30_functions/20_runner/02_private_caller_is_admin.sql
-- Is the caller at the admin level? Admin-level roles may act for any worker and pass their own
-- now to the runner functions. A role is admin when it may execute force_unlock_workers and
-- reschedule_jobs (grant_role(role, 'admin') grants both): it can already unlock any worker's
-- jobs and move any job's run_at and attempts, so acting for a worker or moving the clock gives
-- it nothing new. Checked for the session's login role (session_user) and for the role it
-- switched to with SET ROLE, if any: both are roles the session holds. The owner of the
-- extension and superusers are admin.
create function graphile_worker._private_caller_is_admin()
returns boolean
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(bool_or(
    pg_catalog.has_function_privilege(r.oid,
      'graphile_worker.force_unlock_workers(text[])'::pg_catalog.regprocedure, 'execute')
    and pg_catalog.has_function_privilege(r.oid,
      'graphile_worker.reschedule_jobs(bigint[], timestamptz, integer, integer, integer)'::pg_catalog.regprocedure,
      'execute')), false)
  from pg_catalog.pg_roles as r
  where r.rolname = session_user
     or r.rolname = pg_catalog.current_setting('role');
$$;

-- ---- sql/src/30_functions/20_runner/03_private_check_worker_holder.sql
-- A runner acts only for the workers it registered: raise GWA05 when worker_id is registered
-- to another role than the session's (see _private_session_role) and the caller is not at the
-- admin level. An id that is not registered (Node workers, gw_runner --no-recovery) or whose
-- registration predates 0.1.3 (registered_by is null) is bound to no role: any runner-level
-- role that knows it may use it (docs/security.md).
create function graphile_worker._private_check_worker_holder(worker_id text, function_name text)
returns void
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_bound oid;
begin
  select w.registered_by into v_bound
  from graphile_worker._private_workers as w
  where w.worker_id = _private_check_worker_holder.worker_id;
  -- the bound role's current name against the session's: the same test as comparing oids
  -- with _private_session_role(), without a role lookup by name on every claim
  if v_bound is null or pg_catalog.pg_get_userbyid(v_bound) = session_user
     or graphile_worker._private_caller_is_admin() then
    return;
  end if;
  raise exception '%: worker % is registered to another role', function_name, worker_id
    using errcode = 'GWA05',
    detail = format('Worker %L was registered by another role than this session''s login role '
      '%I (session_user; SET ROLE does not change it). A runner acts only for the workers its '
      'role registered.', worker_id, session_user),
    hint = 'Use the worker id this runner registered. Only admin-level roles '
      '(graphile_worker.grant_role(role, ''admin'')) act for any worker.';
end;
$$;

-- ---- sql/src/30_functions/20_runner/04_private_check_clock.sql
-- Below the admin level the runner functions use the server's clock: raise GWA06 when now is
-- not the transaction time (now()) and the caller is not at the admin level. Otherwise a runner
-- could make every other worker look stale (a sweep with now = 'infinity'), or its own
-- heartbeats and locks look fresh for ever. Callers test `now <> now()` first and call this
-- only then.
create function graphile_worker._private_check_clock(now timestamptz, function_name text)
returns void
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
begin
  if _private_check_clock.now is distinct from pg_catalog.now()
     and not graphile_worker._private_caller_is_admin() then
    raise exception '%: only admin-level roles may pass a now other than the server''s clock',
      function_name
      using errcode = 'GWA06',
      detail = format('now was %s; the transaction time is %s. Below the admin level the '
        'runner functions use the server''s clock, so no runner can make another worker look '
        'stale or its own heartbeats and locks look fresh.',
        _private_check_clock.now, pg_catalog.now()),
      hint = 'Leave now out. Tests and scripts that move time call as an admin-level role '
        '(graphile_worker.grant_role(role, ''admin'')).';
  end if;
end;
$$;

-- ---- sql/src/30_functions/20_runner/10_get_jobs.sql
-- Claim up to batch_size runnable jobs of the given tasks for one worker, in one statement.
-- Below the admin level, now is the server's clock and worker_id must not be registered to
-- another role (GWA06, GWA05).
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.get_jobs(
  worker_id text,
  task_identifiers text[],
  batch_size integer default 1,
  forbidden_flags text[] default null,
  now timestamptz default now()
)
returns table (
  id bigint,
  task_identifier text,
  queue_name text,
  payload json,
  priority smallint,
  run_at timestamptz,
  attempts smallint,
  max_attempts smallint,
  key text,
  flags jsonb,
  revision integer,
  created_at timestamptz,
  locked_at timestamptz,
  job_queue_id integer
)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
declare
  v_task_ids integer[];
  v_task_names text[];  -- the identifiers of v_task_ids, in the same order
  v_flags text[] := case when cardinality(forbidden_flags) > 0 then forbidden_flags end;
  v_now timestamptz := get_jobs.now;
  v_candidates bigint[];
  -- Phase 1 collects some spare candidates, so that jobs another worker locks between the
  -- two phases rarely leave this batch short.
  v_want integer;
  v_task_id integer;
  v_priority smallint;
  v_worst_priority smallint := -32768;
  v_ids bigint[] := '{}';
  v_priorities smallint[] := '{}';
  v_run_ats timestamptz[] := '{}';
  -- v_ids is in claim order (priority, run_at) while it holds the candidates of one task's
  -- priority scans only, which is the common case; otherwise it is sorted below
  v_in_order boolean := true;
  v_before integer;
begin
  -- the checker raises the error; the plain expression saves a call on every claim
  if get_jobs.worker_id is null or get_jobs.worker_id = '' or length(get_jobs.worker_id) > 128 then
    perform graphile_worker._private_check_worker_id(get_jobs.worker_id);
  end if;
  if batch_size is null or batch_size < 1 or batch_size > 10000 then
    raise exception 'batch_size must be between 1 and 10000, not %', coalesce(batch_size::text, 'null')
      using errcode = 'GWA02',
      detail = 'batch_size is the most jobs one call claims.',
      hint = 'Claim 1 job, or a batch of a few hundred at most.';
  end if;
  if v_now is null then
    raise exception 'now must not be null'
      using errcode = 'GWA01', hint = 'Leave now out to use the transaction time.';
  end if;
  -- below the admin level: the server's clock, and only a worker this role registered (or one
  -- registered by no role)
  if v_now <> pg_catalog.now() then
    perform graphile_worker._private_check_clock(v_now, 'get_jobs');
  end if;
  perform graphile_worker._private_check_worker_holder(get_jobs.worker_id, 'get_jobs');
  v_want := batch_size + least(batch_size, 100);

  select array_agg(t.id order by t.id), array_agg(t.identifier order by t.id)
  into v_task_ids, v_task_names
  from graphile_worker._private_tasks as t
  where t.identifier = any(task_identifiers);
  if v_task_ids is null then
    return;
  end if;

  -- Phase 1 (reads only): the best candidates by priority then run_at, found without walking
  -- past jobs that cannot run now. Each statement is small, so its cached plan is cheap and
  -- stays good for any arguments (the function forces generic plans: re-planning one large
  -- statement on every call cost more than running it).
  --
  -- Jobs without a queue: per task, a skip scan over its priorities (lowest first) and a run_at
  -- range per priority. Once v_want candidates are in hand, higher priorities cannot beat them.
  foreach v_task_id in array v_task_ids loop
    if cardinality(v_ids) > 0 then
      v_in_order := false;
    end if;
    select j.priority into v_priority
    from graphile_worker._private_jobs as j
    where j.task_id = v_task_id and j.is_available = true and j.job_queue_id is null
    order by j.priority
    limit 1;
    while found loop
      exit when cardinality(v_ids) >= v_want and v_priority > v_worst_priority;

      select
        v_ids || coalesce(array_agg(c.id), '{}'),
        v_priorities || coalesce(array_agg(c.priority), '{}'),
        v_run_ats || coalesce(array_agg(c.run_at), '{}')
      into v_ids, v_priorities, v_run_ats
      from (
        select j.id, j.priority, j.run_at
        from graphile_worker._private_jobs as j
        where j.task_id = v_task_id and j.priority = v_priority
          and j.is_available = true and j.job_queue_id is null and j.run_at <= v_now
          and (v_flags is null or (j.flags ?| v_flags) is not true)
        order by j.run_at
        limit v_want
      ) as c;
      if cardinality(v_ids) > 0 then
        v_worst_priority := greatest(v_worst_priority, v_priority);
      end if;

      select j.priority into v_priority
      from graphile_worker._private_jobs as j
      where j.task_id = v_task_id and j.is_available = true and j.job_queue_id is null
        and j.priority > v_priority
      order by j.priority
      limit 1;
    end loop;
  end loop;

  v_before := cardinality(v_ids);
  -- Named queues: one probe per queue that has available jobs (a skip scan over queue ids),
  -- taking the queue's first runnable job of these tasks (first in, first out); a locked
  -- queue costs one probe however many jobs wait in it.
  select
    v_ids || coalesce(array_agg(h.id), '{}'),
    v_priorities || coalesce(array_agg(h.priority), '{}'),
    v_run_ats || coalesce(array_agg(h.run_at), '{}')
  into v_ids, v_priorities, v_run_ats
  from (
    with recursive queue_ids as (
      (
        select j.job_queue_id from graphile_worker._private_jobs as j
        where j.is_available = true and j.job_queue_id is not null
        order by j.job_queue_id limit 1
      )
      union all
      select (
        select j.job_queue_id from graphile_worker._private_jobs as j
        where j.is_available = true and j.job_queue_id > q.job_queue_id
        order by j.job_queue_id limit 1
      )
      from queue_ids as q
      where q.job_queue_id is not null
    )
    select hd.id, hd.priority, hd.run_at
    from queue_ids as qi
    join graphile_worker._private_job_queues as q
      on q.id = qi.job_queue_id and q.is_available = true
    cross join lateral (
      select j.id, j.priority, j.run_at from graphile_worker._private_jobs as j
      where j.job_queue_id = qi.job_queue_id and j.is_available = true
        and j.run_at <= v_now and j.task_id = any(v_task_ids)
        and (v_flags is null or (j.flags ?| v_flags) is not true)
      order by j.priority, j.run_at, j.id
      limit 1
    ) as hd
  ) as h;

  if cardinality(v_ids) = 0 then
    return;
  end if;
  if cardinality(v_ids) - v_before > (case when v_before > 0 then 0 else 1 end) then
    v_in_order := false;  -- queue heads (in no particular order) after or among the others
  end if;

  if v_in_order then
    v_candidates := v_ids[1:v_want];
  else
    select array_agg(c.id order by c.priority, c.run_at) into v_candidates
    from (
      select u.id, u.priority, u.run_at
      from rows from (
        pg_catalog.unnest(v_ids), pg_catalog.unnest(v_priorities), pg_catalog.unnest(v_run_ats)
      ) as u(id, priority, run_at)
      order by u.priority, u.run_at
      limit v_want
    ) as c;
  end if;

  if v_candidates is null then
    return;
  end if;

  -- Phase 2: lock what is still free (SKIP LOCKED: a job or queue another worker is claiming
  -- right now is skipped; a row claimed since phase 1 no longer passes is_available). Task and
  -- flags are checked again: a keyed job replaced since phase 1 may have changed both.
  return query
  with locked as (
    select jobs.ctid as tid, jobs.id, jobs.job_queue_id, jobs.priority, jobs.run_at
    from graphile_worker._private_jobs as jobs
    where jobs.id = any(v_candidates)
      and jobs.is_available = true
      and jobs.run_at <= v_now
      and jobs.task_id = any(v_task_ids)
      and (v_flags is null or (jobs.flags ?| v_flags) is not true)
      and (
        jobs.job_queue_id is null
        or jobs.job_queue_id in (
          select q.id
          from graphile_worker._private_job_queues as q
          where q.id in (
            select j2.job_queue_id from graphile_worker._private_jobs as j2
            where j2.id = any(v_candidates) and j2.job_queue_id is not null
          )
            and q.is_available = true
          for update skip locked
        )
      )
    order by jobs.priority, jobs.run_at
    limit batch_size
    for update of jobs skip locked
  ),
  -- At most one job per named queue per batch (upstream #621): the queue row is locked with
  -- its first job, and the queue stays locked until that job is done.
  chosen as (
    select l.tid, l.id, l.job_queue_id from locked as l where l.job_queue_id is null
    union all
    (
      select distinct on (l.job_queue_id) l.tid, l.id, l.job_queue_id
      from locked as l
      where l.job_queue_id is not null
      order by l.job_queue_id, l.priority, l.run_at
    )
  ),
  -- By row address (a TID scan): the rows are locked by this statement, so their addresses
  -- hold, and no index lookup is needed. (Should a row have been updated before the lock,
  -- the address no longer matches its new version and the job is just not claimed now.)
  claimed as (
    update graphile_worker._private_jobs as jobs
    set attempts = jobs.attempts + 1, locked_by = get_jobs.worker_id, locked_at = v_now
    where jobs.ctid = any(array(select c.tid from chosen as c))
    returning jobs.*
  ),
  -- the queues of the jobs claimed (their rows were locked in `locked`)
  locked_queues as (
    update graphile_worker._private_job_queues as q
    set locked_by = get_jobs.worker_id, locked_at = v_now
    where q.id = any(array(
      select c.job_queue_id from claimed as c where c.job_queue_id is not null
    ))
    returning q.id, q.queue_name
  )
  select
    claimed.id, v_task_names[array_position(v_task_ids, claimed.task_id)], lq.queue_name,
    claimed.payload, claimed.priority, claimed.run_at, claimed.attempts, claimed.max_attempts,
    claimed.key, claimed.flags, claimed.revision, claimed.created_at, claimed.locked_at,
    claimed.job_queue_id
  from claimed
  left join locked_queues as lq on lq.id = claimed.job_queue_id
  order by claimed.priority, claimed.run_at, claimed.id;
end;
$$;

comment on function graphile_worker.get_jobs(text, text[], integer, text[], timestamptz) is
  'Runner: claim up to batch_size runnable jobs of these tasks for worker_id, ordered by priority then run_at; FOR UPDATE SKIP LOCKED, at most one job per named queue per call (the queue stays locked until that job is reported), jobs with any forbidden flag skipped, attempts counted at checkout. Refuses a worker_id registered by another role (GWA05) and, below the admin level, a now other than the server''s clock (GWA06).';

-- ---- sql/src/30_functions/20_runner/20_report_jobs.sql
-- Report the outcomes of a batch of jobs in one call: completed jobs are deleted, failed jobs
-- are scheduled for retry with graphile-worker's backoff (or failed for good). Only rows still
-- locked by this worker are touched, so a worker whose jobs were swept and re-claimed by
-- another never deletes or changes what the other now runs. A malformed failures document is
-- GWA03 (DETAIL names the entry) and changes nothing. A worker registered by another role is
-- refused (GWA05), and below the admin level now is the server's clock (GWA06).
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.report_jobs(
  worker_id text,
  completed_job_ids bigint[] default null,
  failures json default null,
  now timestamptz default now()
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
begin
  -- the checker raises the error; the plain expression saves a call on every claim
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
  perform graphile_worker._private_check_worker_holder(report_jobs.worker_id, 'report_jobs');

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

  return query
  with done as (
    delete from graphile_worker._private_jobs as jobs
    where jobs.id = any(completed_job_ids)
      and jobs.locked_by = report_jobs.worker_id
    returning jobs.id, jobs.job_queue_id, jobs.attempts, jobs.max_attempts, jobs.run_at
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
    returning jobs.id, jobs.job_queue_id, jobs.attempts, jobs.max_attempts, jobs.run_at
  ),
  unlocked as (
    update graphile_worker._private_job_queues as q
    set locked_by = null, locked_at = null
    where q.locked_by = report_jobs.worker_id
      and q.id in (
        select d.job_queue_id from done as d
        union all
        select fl.job_queue_id from failed as fl
      )
  )
  select d.id, 'completed'::text, d.attempts, d.max_attempts, d.run_at
  from done as d
  union all
  select fl.id,
    case when fl.attempts >= fl.max_attempts then 'permanently_failed' else 'failed' end,
    fl.attempts, fl.max_attempts, fl.run_at
  from failed as fl
  union all
  select x.id, 'lost'::text, null::smallint, null::smallint, null::timestamptz
  from (
    select c.id from pg_catalog.unnest(completed_job_ids) as c(id)
    union
    select f.id from f
  ) as x
  where not exists (select 1 from done as d where d.id = x.id)
    and not exists (select 1 from failed as fl where fl.id = x.id);
end;
$$;

comment on function graphile_worker.report_jobs(text, bigint[], json, timestamptz) is
  'Runner: report a batch of outcomes in one call. Completed jobs are deleted; failures ([{"id","message","payload"?,"permanent"?,"retry_delay"?}], each job once, retry_delay 0 to 315360000 s) get last_error and run_at = greatest(now, run_at) + exp(least(attempts, 10)) s (or now + retry_delay); their queues are unlocked. Only rows still locked by worker_id are touched; others come back as outcome lost. A malformed document is GWA03 and changes nothing; a worker_id registered by another role is GWA05; below the admin level a now other than the server''s clock is GWA06.';

-- ---- sql/src/30_functions/20_runner/30_return_jobs.sql
-- Give back jobs a worker claimed but did not start (local-queue TTL, shutdown). A worker
-- registered by another role is refused (GWA05).
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.return_jobs(
  worker_id text,
  job_ids bigint[],
  now timestamptz default now()
)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_count integer;
begin
  perform graphile_worker._private_check_worker_id(return_jobs.worker_id);
  if return_jobs.now is null then
    raise exception 'now must not be null'
      using errcode = 'GWA01', hint = 'Leave now out to use the transaction time.';
  end if;
  if return_jobs.now <> pg_catalog.now() then
    perform graphile_worker._private_check_clock(return_jobs.now, 'return_jobs');
  end if;
  perform graphile_worker._private_check_worker_holder(return_jobs.worker_id, 'return_jobs');

  with returned as (
    update graphile_worker._private_jobs as jobs
    set attempts = greatest(0, jobs.attempts - 1), locked_by = null, locked_at = null
    where jobs.id = any(job_ids)
      and jobs.locked_by = return_jobs.worker_id
    returning jobs.id, jobs.job_queue_id
  ),
  unlocked as (
    update graphile_worker._private_job_queues as q
    set locked_by = null, locked_at = null
    where q.locked_by = return_jobs.worker_id
      and q.id in (select r.job_queue_id from returned as r)
  )
  select count(*) into v_count from returned;
  return v_count;
end;
$$;

comment on function graphile_worker.return_jobs(text, bigint[], timestamptz) is
  'Runner: give back claimed jobs that were never started: the attempt is refunded and the job and its queue are unlocked. Only rows locked by worker_id are touched; a worker_id registered by another role is GWA05 (below the admin level, a now other than the server''s clock is GWA06). Returns how many jobs were returned.';

-- ---- sql/src/30_functions/20_runner/35_return_unheld_jobs.sql
-- Give back every job a worker has locked except those it holds: for a runner that lost the
-- result of a claim (the connection dropped after get_jobs committed), whose jobs would
-- otherwise stay locked by a live worker until reset_locked's 4-hour rule. A worker registered
-- by another role is refused (GWA05).
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.return_unheld_jobs(
  worker_id text,
  held_job_ids bigint[],
  now timestamptz default now()
)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_count integer;
begin
  if return_unheld_jobs.worker_id is null or return_unheld_jobs.worker_id = ''
     or length(return_unheld_jobs.worker_id) > 128 then
    perform graphile_worker._private_check_worker_id(return_unheld_jobs.worker_id);
  end if;
  if held_job_ids is null then
    raise exception 'held_job_ids must not be null'
      using errcode = 'GWA01',
      detail = 'Every job locked by the worker and not in held_job_ids is given back.',
      hint = 'Pass the ids of the jobs the worker still holds, or an empty array for none.';
  end if;
  if return_unheld_jobs.now is null then
    raise exception 'now must not be null'
      using errcode = 'GWA01', hint = 'Leave now out to use the transaction time.';
  end if;
  if return_unheld_jobs.now <> pg_catalog.now() then
    perform graphile_worker._private_check_clock(return_unheld_jobs.now, 'return_unheld_jobs');
  end if;
  perform graphile_worker._private_check_worker_holder(return_unheld_jobs.worker_id,
    'return_unheld_jobs');

  with returned as (
    update graphile_worker._private_jobs as jobs
    set attempts = greatest(0, jobs.attempts - 1), locked_by = null, locked_at = null
    where jobs.locked_by = return_unheld_jobs.worker_id
      and jobs.locked_at is not null
      and not (jobs.id = any(held_job_ids))
    returning jobs.id, jobs.job_queue_id
  ),
  unlocked as (
    update graphile_worker._private_job_queues as q
    set locked_by = null, locked_at = null
    where q.locked_by = return_unheld_jobs.worker_id
      and q.id in (select r.job_queue_id from returned as r)
  )
  select count(*) into v_count from returned;
  return v_count;
end;
$$;

comment on function graphile_worker.return_unheld_jobs(text, bigint[], timestamptz) is
  'Runner: give back every job locked by worker_id except held_job_ids (for a runner that lost the result of a claim): the attempt is refunded and the job and its queue are unlocked; a worker_id registered by another role is GWA05 (below the admin level, a now other than the server''s clock is GWA06). Returns how many jobs were returned.';

-- ---- sql/src/30_functions/20_runner/40_reset_locked.sql
-- The stale-lock sweep (upstream's resetLocked): locks older than the threshold (4 hours by
-- default, as in graphile-worker) are cleared on jobs and queues. Below the admin level the
-- threshold is at least 4 hours and now is the server's clock (GWA06): otherwise any runner
-- could release (or, with now = 'infinity', strand) the jobs that live workers hold.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.reset_locked(
  older_than interval default interval '4 hours',
  now timestamptz default now()
)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_now timestamptz := reset_locked.now;
  v_count integer;
begin
  if older_than is null or v_now is null then
    raise exception 'older_than and now must not be null'
      using errcode = 'GWA01',
      detail = format('older_than was %s, now was %s.',
        coalesce(older_than::text, 'null'), coalesce(v_now::text, 'null')),
      hint = 'Leave both out for the 4-hour rule at the current time.';
  end if;
  if older_than < interval '0' then
    raise exception 'older_than must not be negative, not %', older_than
      using errcode = 'GWA02',
      detail = 'Locks older than older_than are cleared; a negative age would clear locks taken in the future.',
      hint = 'Leave it out for the 4-hour rule, or pass a positive interval.';
  end if;
  if v_now <> pg_catalog.now() then
    perform graphile_worker._private_check_clock(v_now, 'reset_locked');
  end if;
  if older_than < interval '4 hours' and not graphile_worker._private_caller_is_admin() then
    raise exception 'reset_locked: only admin-level roles may pass an older_than below 4 hours, not %',
      older_than
      using errcode = 'GWA06',
      detail = 'Below the admin level a lock is cleared only after 4 hours (the graphile-worker '
        'rule): a shorter threshold would release jobs that live workers hold.',
      hint = 'Leave older_than out. The jobs of a crashed registered runner are released by '
        'recover_stale_workers(); admin scripts and tests call as an admin-level role.';
  end if;

  update graphile_worker._private_jobs as jobs
  set locked_at = null, locked_by = null, run_at = greatest(jobs.run_at, v_now)
  where jobs.locked_at < v_now - older_than;
  get diagnostics v_count = row_count;

  update graphile_worker._private_job_queues as q
  set locked_at = null, locked_by = null
  where q.locked_at < v_now - older_than;

  return v_count;
end;
$$;

comment on function graphile_worker.reset_locked(interval, timestamptz) is
  'Runner/admin: unlock jobs and queues locked for longer than older_than (default 4 hours, the graphile-worker rule); such jobs run again from greatest(run_at, now); attempts are not refunded. Below the admin level older_than must be at least 4 hours and now the server''s clock (GWA06). Returns the number of jobs unlocked.';

-- ---- sql/src/30_functions/20_runner/50_next_job_due_at.sql
-- When does the next not-yet-due job of these tasks become runnable? Lets a runner sleep until
-- exactly then instead of polling blindly. Uses the (priority, run_at) index once per distinct
-- priority (a skip scan), not a scan of all future jobs. Rows written by Node or by hand may
-- hold a run_at no client can read (infinity, years outside 1 to 9999): infinity is never due
-- and is skipped; the result is clamped to 0001-01-02 .. 9999-12-30 UTC, which a Python
-- datetime holds in any time zone.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.next_job_due_at(
  task_identifiers text[],
  forbidden_flags text[] default null,
  now timestamptz default now()
)
returns timestamptz
language plpgsql
security definer
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_task_ids integer[];
  v_flags text[] := case when cardinality(forbidden_flags) > 0 then forbidden_flags end;
  v_now timestamptz := next_job_due_at.now;
  v_result timestamptz;
begin
  if v_now is null then
    raise exception 'now must not be null'
      using errcode = 'GWA01', hint = 'Leave now out to use the transaction time.';
  end if;

  select array_agg(t.id) into v_task_ids
  from graphile_worker._private_tasks as t
  where t.identifier = any(task_identifiers);
  if v_task_ids is null then
    return null;
  end if;

  with recursive priorities as (
    (
      select jobs.priority
      from graphile_worker._private_jobs as jobs
      where jobs.is_available = true
      order by jobs.priority
      limit 1
    )
    union all
    select (
      select jobs.priority
      from graphile_worker._private_jobs as jobs
      where jobs.is_available = true and jobs.priority > p.priority
      order by jobs.priority
      limit 1
    )
    from priorities as p
    where p.priority is not null
  )
  select min((
    select jobs.run_at
    from graphile_worker._private_jobs as jobs
    where jobs.is_available = true
      and jobs.priority = p.priority
      and jobs.run_at > v_now
      and jobs.run_at < 'infinity'
      and jobs.task_id = any(v_task_ids)
      and (v_flags is null or (jobs.flags ?| v_flags) is not true)
    order by jobs.run_at
    limit 1
  ))
  into v_result
  from priorities as p
  where p.priority is not null;

  if v_result is null then
    return null;
  end if;
  return greatest(least(v_result, '9999-12-30 23:59:59.999999+00'), '0001-01-02 00:00:00+00');
end;
$$;

comment on function graphile_worker.next_job_due_at(text[], text[], timestamptz) is
  'Runner: the earliest run_at after now of an available job of these tasks (jobs with a forbidden flag ignored), or null; a runner sleeps until then (bounded by its poll interval). A run_at of infinity is ignored; the result is clamped to 0001-01-02 .. 9999-12-30 23:59:59.999999 UTC.';

-- ---- sql/src/30_functions/30_cleanup/00_private_gc_lock.sql
-- The guard between enqueuers and the garbage collectors (gc_task_identifiers, gc_job_queues),
-- so a task or queue row is never deleted between an enqueuer reading its id and committing
-- its job. Enqueuers (add_job, add_jobs) take _private_tasks in ROW SHARE mode before they
-- read task and queue ids and keep it until they commit; a collector takes the table in
-- EXCLUSIVE mode, which conflicts with ROW SHARE (and with the ROW EXCLUSIVE of a Node
-- worker inserting a task) but not with the ACCESS SHARE of readers such as get_jobs: it
-- waits for open enqueuing transactions, and enqueuers wait for it while it deletes, then
-- read the rows it left. Table locks, not advisory locks: LOCK TABLE checks the caller's rights
-- on the table first, so no role outside the extension's functions can take or hold them.
-- The collector tries with NOWAIT for at most `wait`: it never queues, so a long application
-- transaction that enqueued a job delays a GC run instead of queueing every new enqueue behind
-- the GC's lock request. Returns false when the lock could not be had in time.
create function graphile_worker._private_gc_lock(wait interval)
returns boolean
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_deadline timestamptz := clock_timestamp() + coalesce(wait, interval '0');
begin
  loop
    begin
      lock table graphile_worker._private_tasks in exclusive mode nowait;
      return true;
    exception when lock_not_available then
      null;  -- an enqueuing transaction is open: try again
    end;
    if clock_timestamp() >= v_deadline then
      return false;
    end if;
    perform pg_catalog.pg_sleep(0.01);
  end loop;
  return false;  -- not reached: the loop only ends by returning
end;
$$;

-- ---- sql/src/30_functions/30_cleanup/10_delete_permanently_failed_jobs.sql
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.delete_permanently_failed_jobs(task_identifiers text[] default null)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_count integer;
begin
  delete from graphile_worker._private_jobs as jobs
  where jobs.attempts >= jobs.max_attempts
    and jobs.locked_at is null
    and (
      task_identifiers is null
      or jobs.task_id in (
        select t.id from graphile_worker._private_tasks as t
        where t.identifier = any(task_identifiers)
      )
    );
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;

comment on function graphile_worker.delete_permanently_failed_jobs(text[]) is
  'Admin cleanup: delete unlocked jobs whose attempts are used up (optionally only of these tasks). Returns how many were deleted.';

-- ---- sql/src/30_functions/30_cleanup/20_gc_task_identifiers.sql
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.gc_task_identifiers(
  keep text[] default null,
  wait interval default interval '5 seconds'
)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_count integer;
begin
  if not graphile_worker._private_gc_lock(wait) then
    raise exception 'gc_task_identifiers could not start: enqueuing transactions are still open after %', wait
      using errcode = 'GWA04',
      detail = 'Garbage collection waits for transactions that enqueued jobs to finish, so it never deletes a task an enqueuer is about to use.',
      hint = 'Run it again later, or pass a longer wait.';
  end if;

  delete from graphile_worker._private_tasks as t
  where not exists (select 1 from graphile_worker._private_jobs as jobs where jobs.task_id = t.id)
    and (keep is null or t.identifier <> all(keep));
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;

comment on function graphile_worker.gc_task_identifiers(text[], interval) is
  'Admin cleanup: delete task identifiers that no job references (except those in keep). Safe while enqueuers and gw_runner runners run (Node workers cache task ids: do not run it while they run). Returns how many were deleted.';

-- ---- sql/src/30_functions/30_cleanup/30_gc_job_queues.sql
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.gc_job_queues(wait interval default interval '5 seconds')
returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_count integer;
begin
  if not graphile_worker._private_gc_lock(wait) then
    raise exception 'gc_job_queues could not start: enqueuing transactions are still open after %', wait
      using errcode = 'GWA04',
      detail = 'Garbage collection waits for transactions that enqueued jobs to finish, so it never deletes a queue an enqueuer is about to use.',
      hint = 'Run it again later, or pass a longer wait.';
  end if;

  delete from graphile_worker._private_job_queues as q
  where q.locked_at is null
    and not exists (
      select 1 from graphile_worker._private_jobs as jobs where jobs.job_queue_id = q.id
    );
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;

comment on function graphile_worker.gc_job_queues(interval) is
  'Admin cleanup: delete unlocked queue rows that no job references. Safe while enqueuers and runners run. Returns how many were deleted.';

-- ---- sql/src/30_functions/40_recovery/10_register_worker.sql
-- A registered worker belongs to the login role that registered it (registered_by, see
-- _private_session_role): re-registering a worker registered by another role is refused
-- (GWA05) unless the caller is at the admin level; a re-registration keeps the first role.
-- Below the admin level now is the server's clock (GWA06).
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.register_worker(
  worker_id text,
  stale_after interval default interval '5 minutes',
  info jsonb default null,
  now timestamptz default now()
)
returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_role oid := graphile_worker._private_session_role();
begin
  perform graphile_worker._private_check_worker_id(register_worker.worker_id);
  if stale_after is null or stale_after <= interval '0' or register_worker.now is null then
    raise exception 'stale_after must be a positive interval and now must not be null'
      using errcode = 'GWA02',
      detail = format('stale_after was %s.', coalesce(stale_after::text, 'null')),
      hint = 'Pass a threshold several times the heartbeat interval, e.g. 5 minutes.';
  end if;
  if register_worker.now <> pg_catalog.now() then
    perform graphile_worker._private_check_clock(register_worker.now, 'register_worker');
  end if;

  -- The condition on the update makes the check and the write one step: a concurrent
  -- registration of the same id by another role cannot slip in between.
  insert into graphile_worker._private_workers as w
    (worker_id, registered_at, last_heartbeat_at, stale_after, info, registered_by)
  values (register_worker.worker_id, register_worker.now, register_worker.now,
          register_worker.stale_after, register_worker.info, v_role)
  on conflict on constraint workers_pkey do update set
    last_heartbeat_at = excluded.last_heartbeat_at,
    stale_after = excluded.stale_after,
    info = excluded.info,
    registered_by = coalesce(w.registered_by, excluded.registered_by)
  where w.registered_by is null or w.registered_by = excluded.registered_by
    or graphile_worker._private_caller_is_admin();
  if not found then
    perform graphile_worker._private_check_worker_holder(register_worker.worker_id,
      'register_worker');
    -- not reached (the conflicting row stays locked by the upsert), but never pass silently
    raise exception 'register_worker: worker % is registered to another role',
      register_worker.worker_id
      using errcode = 'GWA05',
      detail = 'The worker id is registered by another login role than this session''s.',
      hint = 'Register a worker id of this runner''s own, e.g. gw-<host>-<pid>-<random>.';
  end if;
end;
$$;

comment on function graphile_worker.register_worker(text, interval, jsonb, timestamptz) is
  'Recovery: register (or re-register) a runner that will send heartbeats; if it stops beating for stale_after, recover_stale_workers() releases its jobs. The worker belongs to the login role (session_user) that registered it: another role''s registration is refused (GWA05) unless the caller is admin-level; below the admin level a now other than the server''s clock is GWA06.';

-- ---- sql/src/30_functions/40_recovery/20_heartbeat.sql
-- A heartbeat never moves backwards, and below the admin level it is the server's clock
-- (GWA06): a runner cannot make its worker look alive into the future. A worker registered by
-- another role is refused (GWA05) unless the caller is at the admin level.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.heartbeat(worker_id text, now timestamptz default now())
returns boolean
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform graphile_worker._private_check_worker_id(heartbeat.worker_id);
  if heartbeat.now <> pg_catalog.now() then
    perform graphile_worker._private_check_clock(heartbeat.now, 'heartbeat');
  end if;
  perform graphile_worker._private_check_worker_holder(heartbeat.worker_id, 'heartbeat');

  update graphile_worker._private_workers as w
  set last_heartbeat_at = greatest(w.last_heartbeat_at, coalesce(heartbeat.now, now()))
  where w.worker_id = heartbeat.worker_id;
  return found;
end;
$$;

comment on function graphile_worker.heartbeat(text, timestamptz) is
  'Recovery: record that a registered runner is alive. Returns false when the worker is not registered (it was swept as stale: its jobs were released; it must re-register and must not assume it still holds them). A worker registered by another role is GWA05 (unless the caller is admin-level); below the admin level a now other than the server''s clock is GWA06 (null means the server''s clock).';

-- ---- sql/src/30_functions/40_recovery/30_deregister_worker.sql
-- A worker registered by another role is refused (GWA05) unless the caller is at the admin
-- level.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.deregister_worker(worker_id text)
returns boolean
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform graphile_worker._private_check_worker_id(deregister_worker.worker_id);
  perform graphile_worker._private_check_worker_holder(deregister_worker.worker_id,
    'deregister_worker');

  delete from graphile_worker._private_workers as w
  where w.worker_id = deregister_worker.worker_id;
  return found;
end;
$$;

comment on function graphile_worker.deregister_worker(text) is
  'Recovery: remove a runner at clean shutdown (after it returned or reported its jobs). Returns false when it was not registered; a worker registered by another role is GWA05 (unless the caller is admin-level).';

-- ---- sql/src/30_functions/40_recovery/40_recover_stale_workers.sql
-- The stale-worker sweep. Any runner may call it; concurrent sweeps skip each other's worker
-- rows (FOR UPDATE SKIP LOCKED), so each dead worker is processed once. A crash uses up the
-- attempt (not refunded), so a job that kills every worker ends permanently failed. Below the
-- admin level now is the server's clock (GWA06): a runner cannot declare live workers lost.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.recover_stale_workers(
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
    update graphile_worker._private_jobs as jobs
    set
      locked_at = null,
      locked_by = null,
      run_at = greatest(jobs.run_at, v_now) + recovery_delay,
      last_error = format(
        'worker %s was lost (last heartbeat at %s); the job was released by the stale-worker sweep at %s',
        v_worker.worker_id,
        to_char(v_worker.last_heartbeat_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        to_char(v_now at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
    where jobs.locked_by = v_worker.worker_id
      and jobs.locked_at is not null;  -- lets the planner use jobs_gw_locked_index
    get diagnostics v_count = row_count;

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

-- ---- sql/src/30_functions/50_cron/20_private_cron_field_value.sql
-- One value of a crontab time field: a number, or a month/weekday name (case-insensitive).
-- `range_end` lets `sun` close a weekday range as 7 (`fri-sun`). Values are range-checked here
-- so that every error names the line, the field and the allowed range.
create function graphile_worker._private_cron_field_value(
  context text,
  field_name text,
  token text,
  min_value int,
  max_value int,
  range_end boolean
) returns int
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_value int;
  v_allowed text;
begin
  v_allowed := case field_name
    when 'month' then format('%s-%s, or jan-dec', min_value, max_value)
    when 'day of week' then format('%s-%s (0 and 7 are Sunday), or sun-sat', min_value, max_value)
    else format('%s-%s', min_value, max_value)
  end;
  if token ~ '^[0-9]+$' then
    if length(token) > 6 then
      v_value := 1000000;
    else
      v_value := token::int;
    end if;
  elsif field_name = 'month' then
    v_value := array_position(
      array['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'],
      token);
  elsif field_name = 'day of week' then
    v_value := array_position(array['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'], token) - 1;
    if v_value = 0 and range_end then
      v_value := 7;
    end if;
  end if;
  if v_value is null then
    raise exception '%: % value ''%'' is not a number%', context, field_name, token,
      case field_name when 'month' then ' or a month name'
        when 'day of week' then ' or a weekday name' else '' end
      using errcode = 'GWC01',
        detail = format('The %s field accepts %s.', field_name, v_allowed),
        hint = 'Each comma-separated part is a value, a range a-b, *, */n or a-b/n.';
  end if;
  if v_value < min_value or v_value > max_value then
    raise exception '%: % % is out of range (%)', context, field_name, token, v_allowed
      using errcode = 'GWC02',
        detail = format('The %s field accepts %s.', field_name, v_allowed),
        hint = 'Use a value inside the range; ranges and lists must stay inside it too.';
  end if;
  return v_value;
end;
$$;

-- ---- sql/src/30_functions/50_cron/21_private_cron_parse_field.sql
-- Expand one crontab time field (`*/10,7,56-59`, `mon-fri`, `1-30/5`) into its sorted, distinct
-- values. Weekday 7 is folded into 0 (Sunday).
create function graphile_worker._private_cron_parse_field(
  context text,
  field_name text,
  field text,
  min_value int,
  max_value int
) returns int[]
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_part text;
  v_match text[];
  v_low int;
  v_high int;
  v_step int;
  v_values int[] := '{}'::int[];
  v_top int := case when field_name = 'day of week' then max_value + 1 else max_value end;
begin
  foreach v_part in array string_to_array(lower(field), ',') loop
    v_match := regexp_match(v_part, '^(\*|[0-9a-z]+)(?:-([0-9a-z]+))?(?:/([0-9]+))?$');
    if v_match is null or (v_match[1] = '*' and v_match[2] is not null) then
      raise exception '%: % ''%'' is not understood', context, field_name, v_part
        using errcode = 'GWC01',
          detail = format('The %s field is ''%s''.', field_name, field),
          hint = 'Each comma-separated part is a value, a range a-b, *, */n or a-b/n.';
    end if;
    if v_match[1] = '*' then
      v_low := min_value;
      v_high := max_value;
    else
      v_low := graphile_worker._private_cron_field_value(
        context, field_name, v_match[1], min_value, v_top, false);
      if v_match[2] is not null then
        v_high := graphile_worker._private_cron_field_value(
          context, field_name, v_match[2], min_value, v_top, true);
        if v_high <= v_low then
          raise exception '%: % range ''%'' is invalid: its end is not after its start',
            context, field_name, v_part
            using errcode = 'GWC03',
              detail = format('%s is not after %s.', v_high, v_low),
              hint = 'Write ranges from low to high (22-23,0-2 rather than 22-2).';
        end if;
      elsif v_match[3] is not null then
        raise exception '%: % step ''%'' needs * or a range before the /', context, field_name,
          v_part
          using errcode = 'GWC01',
            detail = format('The %s field is ''%s''.', field_name, field),
            hint = format('Write */n or a-b/n, e.g. %s-%s/%s.', v_low, max_value, v_match[3]);
      else
        v_high := v_low;
      end if;
    end if;
    if v_match[3] is null then
      v_step := 1;
    elsif v_match[3] ~ '^0+$' then
      raise exception '%: % step ''%'' is invalid: a step must be at least 1', context,
        field_name, v_part
        using errcode = 'GWC03',
          detail = format('The %s field is ''%s''.', field_name, field),
          hint = 'Use */1 (or *) for every value, */n for every n-th.';
    elsif length(v_match[3]) > 6 then
      v_step := 1000000;
    else
      v_step := v_match[3]::int;
    end if;
    v_values := v_values || array(select generate_series(v_low, v_high, v_step));
  end loop;
  return array(
    select distinct case when v > max_value then min_value else v end
    from unnest(v_values) as v
    order by 1);
end;
$$;

-- ---- sql/src/30_functions/50_cron/22_private_cron_time_zone.sql
-- Check a time zone name against the server's IANA database and return its spelling.
-- Region/City names are checked cheaply by using them (a string with a slash and no comma can
-- only be a zone file); others by a scan of pg_timezone_names (about 20 ms). Abbreviations (EST)
-- that are not zone names and POSIX strings (UTC+3, whose sign PostgreSQL inverts) are
-- rejected: they do not follow a place's DST rules.
create function graphile_worker._private_cron_time_zone(context text, time_zone text)
returns text
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_name text;
begin
  if time_zone in ('UTC', 'Etc/UTC') then
    return 'UTC';
  end if;
  if time_zone ~ '^[A-Za-z][-A-Za-z0-9_+]*(/[-A-Za-z0-9_+]+)+$' then
    begin
      perform pg_catalog.now() at time zone time_zone;
      return time_zone;
    exception when invalid_parameter_value then
      null; -- reported below
    end;
  end if;
  select z.name into v_name
  from pg_catalog.pg_timezone_names as z
  where lower(z.name) = lower(time_zone)
  order by z.name = time_zone desc, z.name
  limit 1;
  if v_name is null then
    raise exception '%: time zone ''%'' is not known', context, time_zone
      using errcode = 'GWC08',
        detail = 'The tz option takes an IANA time zone name known to this server '
          '(see pg_timezone_names).',
        hint = 'Use a name such as Europe/London, America/New_York or UTC.';
  end if;
  return v_name;
end;
$$;

-- ---- sql/src/30_functions/50_cron/23_private_cron_url_decode.sql
-- Decode one query-string component of crontab options the way Node's querystring does:
-- `+` is a space (unless plus_is_space is false: the tz option keeps Etc/GMT+5 as written) and
-- %XX is a UTF-8 byte. A malformed escape is kept as written.
create function graphile_worker._private_cron_url_decode(component text, plus_is_space boolean)
returns text
language plpgsql
immutable
strict
set search_path = pg_catalog, pg_temp
as $$
declare
  v_bytes bytea := '\x'::bytea;
  v_rest text := case when plus_is_space then replace(component, '+', ' ') else component end;
  v_match text[];
begin
  if strpos(v_rest, '%') = 0 then
    return v_rest;
  end if;
  loop
    v_match := regexp_match(v_rest, '^(.*?)%([0-9A-Fa-f]{2})(.*)$');
    if v_match is null then
      v_bytes := v_bytes || convert_to(v_rest, 'UTF8');
      exit;
    end if;
    v_bytes := v_bytes || convert_to(v_match[1], 'UTF8') || decode(v_match[2], 'hex');
    v_rest := v_match[3];
  end loop;
  begin
    return convert_from(v_bytes, 'UTF8');
  exception when character_not_in_repertoire or untranslatable_character then
    return component;
  end;
end;
$$;

-- ---- sql/src/30_functions/50_cron/25_private_cron_parse_schedule.sql
-- Parse the time part of a crontab line (five fields, or an @ shorthand) into a cron_item with
-- the expanded fields filled in; `context` prefixes every error ("crontab line 3").
create function graphile_worker._private_cron_parse_schedule(
  context text,
  schedule text,
  time_zone text
) returns graphile_worker.cron_item
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_item graphile_worker.cron_item;
  v_fields text[];
  v_expanded text;
begin
  v_fields := regexp_split_to_array(btrim(schedule, E' \t'), '[ \t]+');
  if left(v_fields[1], 1) = '@' then
    v_expanded := case lower(v_fields[1])
      when '@yearly' then '0 0 1 1 *'
      when '@annually' then '0 0 1 1 *'
      when '@monthly' then '0 0 1 * *'
      when '@weekly' then '0 0 * * 0'
      when '@daily' then '0 0 * * *'
      when '@midnight' then '0 0 * * *'
      when '@hourly' then '0 * * * *'
    end;
    if v_expanded is null or cardinality(v_fields) <> 1 then
      raise exception '%: ''%'' is not a supported schedule shorthand', context, v_fields[1]
        using errcode = 'GWC01',
          detail = 'Supported: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly.',
          hint = 'Write the five time fields instead (minute hour day-of-month month day-of-week).';
    end if;
    v_fields := string_to_array(v_expanded, ' ');
  end if;
  if cardinality(v_fields) <> 5 then
    raise exception '%: expected 5 time fields, found %', context, cardinality(v_fields)
      using errcode = 'GWC01',
        detail = format('The schedule is ''%s''.', schedule),
        hint = 'Write minute hour day-of-month month day-of-week, or an @ shorthand.';
  end if;
  v_item.schedule := btrim(schedule, E' \t');
  v_item.minutes := graphile_worker._private_cron_parse_field(
    context, 'minute', v_fields[1], 0, 59);
  v_item.hours := graphile_worker._private_cron_parse_field(context, 'hour', v_fields[2], 0, 23);
  v_item.days := graphile_worker._private_cron_parse_field(
    context, 'day of month', v_fields[3], 1, 31);
  v_item.months := graphile_worker._private_cron_parse_field(context, 'month', v_fields[4], 1, 12);
  v_item.weekdays := graphile_worker._private_cron_parse_field(
    context, 'day of week', v_fields[5], 0, 6);
  -- As upstream: a day field is restricted when its values are not the full set, so `1-31` and
  -- `0-6` count as `*`; when both day fields are restricted, either one matching fires.
  v_item.dom_restricted := cardinality(v_item.days) < 31;
  v_item.dow_restricted := cardinality(v_item.weekdays) < 7;
  -- Fixed-time schedules (minute and hour written as plain values, lists or ranges) run once per
  -- local occurrence across DST changes; `*` or a step in either field follows real time.
  v_item.fixed_time := v_fields[1] !~ '[*/]' and v_fields[2] !~ '[*/]';
  v_item.time_zone := graphile_worker._private_cron_time_zone(context, coalesce(time_zone, 'UTC'));
  v_item.fill := interval '0';
  return v_item;
end;
$$;

-- ---- sql/src/30_functions/50_cron/26_private_cron_parse_options.sql
-- Apply the `?key=value&...` options of a crontab line to an item: id, fill, max, queue, jobKey,
-- jobKeyMode, priority, tz. Keys and values are URL-decoded like Node's querystring.
create function graphile_worker._private_cron_parse_options(
  context text,
  options text,
  item graphile_worker.cron_item
) returns graphile_worker.cron_item
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_item graphile_worker.cron_item := item;
  v_part text;
  v_key text;
  v_value text;
  v_seen text[] := '{}'::text[];
  v_invalid text;
  v_seconds numeric;
  v_supported constant text := 'id, fill, max, queue, jobKey, jobKeyMode, priority, tz';
begin
  foreach v_part in array string_to_array(options, '&') loop
    continue when v_part = '';
    v_key := graphile_worker._private_cron_url_decode(split_part(v_part, '=', 1), true);
    v_value := graphile_worker._private_cron_url_decode(
      substr(v_part, length(split_part(v_part, '=', 1)) + 2), v_key <> 'tz');
    if not v_key = any(
      array['id', 'fill', 'max', 'queue', 'jobKey', 'jobKeyMode', 'priority', 'tz'])
    then
      raise exception '%: unknown option ''%''', context, v_key
        using errcode = 'GWC04',
          detail = format('Supported options: %s.', v_supported),
          hint = 'Options are written ?key=value&key=value after the task identifier; '
            'names are case-sensitive.';
    end if;
    if v_key = any(v_seen) then
      raise exception '%: option ''%'' is given more than once', context, v_key
        using errcode = 'GWC04',
          detail = format('The options are ''%s''.', options),
          hint = 'Give each option once.';
    end if;
    v_seen := v_seen || v_key;
    v_invalid := null;
    case v_key
      when 'id' then
        if v_value ~ '^[_a-zA-Z][-_a-zA-Z0-9]*$' and length(v_value) <= 128 then
          v_item.identifier := v_value;
        else
          v_invalid := 'a letter or _ followed by letters, digits, _ or - (at most 128)';
        end if;
      when 'fill' then
        if v_value ~ '^([0-9]+[smhdw])+$' and length(v_value) <= 40 then
          select sum(m[1]::numeric * case m[2]
              when 's' then 1 when 'm' then 60 when 'h' then 3600 when 'd' then 86400
              else 604800 end)
            into v_seconds
          from regexp_matches(v_value, '([0-9]+)([smhdw])', 'g') as m;
          if v_seconds <= 3162240000 then
            v_item.fill := make_interval(secs => v_seconds::double precision);
          else
            v_invalid := 'a period of at most 100 years';
          end if;
        else
          v_invalid := 'a period such as 30m, 1d or 4w3d2h1m (units s, m, h, d, w)';
        end if;
      when 'max' then
        if (case when v_value ~ '^[0-9]{1,5}$' then v_value::int between 1 and 32767 end) then
          v_item.max_attempts := v_value::int;
        else
          v_invalid := 'a whole number from 1 to 32767';
        end if;
      when 'queue' then
        if v_value ~ '^[-a-zA-Z0-9_:]+$' and length(v_value) <= 128 then
          v_item.queue_name := v_value;
        else
          v_invalid := 'letters, digits, -, _ or : (at most 128)';
        end if;
      when 'jobKey' then
        if length(v_value) between 1 and 512 then
          v_item.job_key := v_value;
        else
          v_invalid := 'a non-empty key of at most 512 characters';
        end if;
      when 'jobKeyMode' then
        if v_value in ('replace', 'preserve_run_at') then
          v_item.job_key_mode := v_value;
        else
          v_invalid := 'replace or preserve_run_at';
        end if;
      when 'priority' then
        if (case when v_value ~ '^-?[0-9]{1,5}$'
            then v_value::int between -32768 and 32767 end) then
          v_item.priority := v_value::int;
        else
          v_invalid := 'a whole number from -32768 to 32767';
        end if;
      else -- tz
        v_item.time_zone := graphile_worker._private_cron_time_zone(context, v_value);
    end case;
    if v_invalid is not null then
      raise exception '%: option % has an invalid value ''%''', context, v_key, v_value
        using errcode = 'GWC05',
          detail = format('%s takes %s.', v_key, v_invalid),
          hint = 'Fix the value, or remove the option to use its default.';
    end if;
  end loop;
  if v_item.job_key is not null and v_item.job_key_mode is null then
    v_item.job_key_mode := 'replace';
  end if;
  return v_item;
end;
$$;

-- ---- sql/src/30_functions/50_cron/31_parse_crontab.sql
-- Parse crontab text into its items, in line order. One bad line rejects the whole crontab with
-- an error naming the line, the field and what is wrong; nothing is dropped silently.
-- security definer: callers get EXECUTE on this function only, not on the _private_cron
-- helpers it calls; it reads no table, pins search_path and qualifies every name.
create function graphile_worker.parse_crontab(crontab text)
returns setof graphile_worker.cron_item
language plpgsql
security definer
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_line_number int;
  v_line text;
  v_context text;
  v_tokens text[];
  v_time_fields int;
  v_rest text;
  v_task text;
  v_options text;
  v_item graphile_worker.cron_item;
  v_identifiers text[] := '{}'::text[];
  v_lines int[] := '{}'::int[];
  v_previous int;
begin
  if crontab is null then
    raise exception 'crontab is null'
      using errcode = 'GWC09',
        detail = 'parse_crontab needs the text of a crontab (it may be empty).',
        hint = 'Pass '''' for a crontab without items.';
  end if;
  for v_line_number, v_line in
    select l.n, btrim(l.line, E' \t\f\v\r')
    from regexp_split_to_table(crontab, E'\r?\n') with ordinality as l(line, n)
    order by l.n
  loop
    continue when v_line = '' or left(v_line, 1) = '#';
    v_context := format('crontab line %s', v_line_number);
    v_tokens := regexp_split_to_array(v_line, E'[ \t]+');
    v_time_fields := case when left(v_tokens[1], 1) = '@' then 1 else 5 end;
    if cardinality(v_tokens) <= v_time_fields then
      raise exception '%: too few fields: expected % and a task identifier, found % field%',
        v_context,
        case v_time_fields when 1 then 'a schedule shorthand' else '5 time fields' end,
        cardinality(v_tokens), case when cardinality(v_tokens) = 1 then '' else 's' end
        using errcode = 'GWC01',
          detail = format('The line is ''%s''.', v_line),
          hint = 'Write: minute hour day-of-month month day-of-week task [?options] [{payload}].';
    end if;
    v_item := graphile_worker._private_cron_parse_schedule(
      v_context, array_to_string(v_tokens[1:v_time_fields], ' '), 'UTC');
    v_item.line_number := v_line_number;
    v_task := v_tokens[v_time_fields + 1];
    if v_task !~ '^[_a-zA-Z][_a-zA-Z0-9:/_-]*$' or length(v_task) > 128 then
      raise exception '%: task identifier ''%'' is invalid', v_context, v_task
        using errcode = 'GWC01',
          detail = 'A task identifier starts with a letter or _ and continues with letters, '
            'digits, _, -, : or / (at most 128 characters).',
          hint = 'Check that the line has exactly 5 time fields before the task.';
    end if;
    v_item.task_identifier := v_task;
    v_item.identifier := v_task;
    -- The text after the task: optional ?options, then an optional JSON object to the end.
    v_rest := (regexp_match(v_line,
      format(E'^(?:[^ \\t]+[ \\t]+){%s}[^ \\t]+[ \\t]*(.*)$', v_time_fields)))[1];
    if left(v_rest, 1) = '?' then
      v_options := (regexp_match(v_rest, E'^\\?([^ \\t]*)'))[1];
      v_rest := (regexp_match(v_rest, E'^[^ \\t]*[ \\t]*(.*)$'))[1];
      v_item := graphile_worker._private_cron_parse_options(v_context, v_options, v_item);
    end if;
    if v_rest <> '' then
      -- Only text starting with { is taken as the payload, so a valid one is always an object.
      if left(v_rest, 1) <> '{' then
        raise exception '%: unexpected text ''%'' after the task identifier', v_context, v_rest
          using errcode = 'GWC01',
            detail = 'After the task come only ?options and a JSON object payload.',
            hint = 'A task is one identifier, not a command; put arguments in the payload, '
              'e.g. {"to": "x"}.';
      end if;
      begin
        v_item.payload := v_rest::json;
        -- scheduling merges the payload as jsonb, which rejects some valid json (\u0000)
        perform v_item.payload::jsonb;
      exception when data_exception then
        raise exception '%: the payload is not valid JSON', v_context
          using errcode = 'GWC07',
            detail = format('%s: %s', sqlerrm, v_rest),
            hint = 'Write a strict JSON object: double-quoted keys and strings, no comments '
              'or trailing commas (JSON5 is not accepted).';
      end;
    end if;
    v_previous := v_lines[array_position(v_identifiers, v_item.identifier)];
    if v_previous is not null then
      raise exception '%: identifier ''%'' is already used on line %', v_context,
        v_item.identifier, v_previous
        using errcode = 'GWC06',
          detail = 'Each item''s identifier (its task, unless ?id= is given) must be unique: '
            'it keys the item''s scheduling state.',
          hint = 'Add ?id=some_name to one of the two lines.';
    end if;
    v_identifiers := v_identifiers || v_item.identifier;
    v_lines := v_lines || v_line_number;
    return next v_item;
  end loop;
end;
$$;

comment on function graphile_worker.parse_crontab(text) is
  'Parses crontab text into cron_items in line order (comments and blank lines skipped); a bad '
  'line raises GWC01-GWC08 naming the line and the field, so nothing is dropped silently.';

-- ---- sql/src/30_functions/50_cron/40_private_cron_local_matches.sql
-- Whether a wall-clock minute matches an item's fields (no time zone logic): minute, hour and
-- month must match; the days follow upstream's rule (both day fields restricted: either fires).
create function graphile_worker._private_cron_local_matches(
  item graphile_worker.cron_item,
  local_time timestamp
) returns boolean
language sql
immutable
parallel safe
set search_path = pg_catalog, pg_temp
return extract(minute from local_time)::int = any((item).minutes)
  and extract(hour from local_time)::int = any((item).hours)
  and extract(month from local_time)::int = any((item).months)
  and case
    when (item).dom_restricted and (item).dow_restricted then
      extract(day from local_time)::int = any((item).days)
      or extract(dow from local_time)::int = any((item).weekdays)
    else
      extract(day from local_time)::int = any((item).days)
      and extract(dow from local_time)::int = any((item).weekdays)
  end;

-- ---- sql/src/30_functions/50_cron/41_private_cron_next_local.sql
-- The first wall-clock minute strictly after `after` that matches an item's fields, ignoring
-- time zones (DST is handled by the callers). Jumps month by month, day by day, then to the next
-- allowed hour and minute, so it never walks minute by minute. Null when nothing matches within
-- ten years (e.g. `0 0 30 2 *`); every satisfiable schedule matches within eight.
create function graphile_worker._private_cron_next_local(
  item graphile_worker.cron_item,
  after timestamp
) returns timestamp
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_start timestamp := date_trunc('minute', after) + interval '1 minute';
  v_year int := extract(year from v_start)::int;
  v_month int := extract(month from v_start)::int;
  v_day int := extract(day from v_start)::int;
  v_hour int := extract(hour from v_start)::int;
  v_minute int := extract(minute from v_start)::int;
  v_last_year int := v_year + 10;
  v_month_days int;
  v_first_dow int;
  v_dow int;
  v_next int;
  v_either boolean := item.dom_restricted and item.dow_restricted;
begin
  loop
    if v_year > v_last_year then
      return null;
    end if;
    if not v_month = any(item.months) then
      v_next := (select min(m) from unnest(item.months) as m where m > v_month);
      if v_next is null then
        v_year := v_year + 1;
        v_month := item.months[1];
      else
        v_month := v_next;
      end if;
      v_day := 1;
      v_hour := item.hours[1];
      v_minute := item.minutes[1];
      continue;
    end if;
    v_month_days := extract(day from
      make_date(v_year, v_month, 1) + interval '1 month' - interval '1 day')::int;
    v_first_dow := extract(dow from make_date(v_year, v_month, 1))::int;
    while v_day <= v_month_days loop
      v_dow := (v_first_dow + v_day - 1) % 7;
      exit when case when v_either
        then v_day = any(item.days) or v_dow = any(item.weekdays)
        else v_day = any(item.days) and v_dow = any(item.weekdays) end;
      v_day := v_day + 1;
      v_hour := item.hours[1];
      v_minute := item.minutes[1];
    end loop;
    if v_day > v_month_days then
      v_month := v_month + 1;
      if v_month > 12 then
        v_month := 1;
        v_year := v_year + 1;
      end if;
      v_day := 1;
      v_hour := item.hours[1];
      v_minute := item.minutes[1];
      continue;
    end if;
    if not v_hour = any(item.hours) then
      v_next := (select min(h) from unnest(item.hours) as h where h > v_hour);
      if v_next is null then
        v_day := v_day + 1;
        v_hour := item.hours[1];
        v_minute := item.minutes[1];
        continue;
      end if;
      v_hour := v_next;
      v_minute := item.minutes[1];
    end if;
    if not v_minute = any(item.minutes) then
      v_next := (select min(m) from unnest(item.minutes) as m where m > v_minute);
      if v_next is null then
        v_next := (select min(h) from unnest(item.hours) as h where h > v_hour);
        if v_next is null then
          v_day := v_day + 1;
          v_hour := item.hours[1];
          v_minute := item.minutes[1];
          continue;
        end if;
        v_hour := v_next;
        v_minute := item.minutes[1];
      else
        v_minute := v_next;
      end if;
    end if;
    return make_timestamp(v_year, v_month, v_day, v_hour, v_minute, 0);
  end loop;
end;
$$;

-- ---- sql/src/30_functions/50_cron/42_private_cron_first_transition.sql
-- The first minute in (after, until] at which the UTC offset of `time_zone` differs from its
-- offset at `after` (a DST change), or null. Probes one day apart, then bisects to the minute;
-- `after` and `until` are whole minutes. Two changes less than a day apart that cancel out are
-- not seen (tzdata has none since 1970).
create function graphile_worker._private_cron_first_transition(
  time_zone text,
  after timestamptz,
  until timestamptz
) returns timestamptz
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_offset interval := (after at time zone time_zone) - (after at time zone 'UTC');
  v_low timestamptz := after;
  v_high timestamptz;
  v_middle timestamptz;
begin
  if time_zone = 'UTC' then
    return null;
  end if;
  while v_low < until loop
    v_high := least(v_low + interval '24 hours', until);
    if (v_high at time zone time_zone) - (v_high at time zone 'UTC') <> v_offset then
      while v_high - v_low > interval '1 minute' loop
        v_middle := date_trunc('minute', v_low + (v_high - v_low) / 2, 'UTC');
        if (v_middle at time zone time_zone) - (v_middle at time zone 'UTC') = v_offset then
          v_low := v_middle;
        else
          v_high := v_middle;
        end if;
      end loop;
      return v_high;
    end if;
    v_low := v_high;
  end loop;
  return null;
end;
$$;

-- ---- sql/src/30_functions/50_cron/43_private_cron_is_repeat.sql
-- Whether the wall-clock time of minute `at` in `time_zone` already occurred earlier (the second
-- pass through a time repeated by a fall-back change). Looks for an offset drop within 25 hours.
create function graphile_worker._private_cron_is_repeat(time_zone text, at timestamptz)
returns boolean
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_local timestamp := at at time zone time_zone;
  v_offset interval := v_local - (at at time zone 'UTC');
  v_before timestamptz := at - interval '25 hours';
  v_offset_before interval := (v_before at time zone time_zone) - (v_before at time zone 'UTC');
begin
  if v_offset_before <= v_offset then
    return false;
  end if;
  return ((at - (v_offset_before - v_offset)) at time zone time_zone) = v_local;
end;
$$;

-- ---- sql/src/30_functions/50_cron/44_cron_matches.sql
-- Whether an item fires at the minute containing `at`, in the item's time zone (DESIGN: DST
-- rule in docs/cron.md). Fixed-time items fire once per local occurrence: a time repeated by a
-- fall-back fires on its first pass only, and a time skipped by spring-forward fires at the first
-- minute after the gap. Other items match the wall clock at each real minute.
-- security definer: callers get EXECUTE on this function only, not on the _private_cron
-- helpers it calls; it reads no table, pins search_path and qualifies every name.
create function graphile_worker.cron_matches(item graphile_worker.cron_item, at timestamptz)
returns boolean
language plpgsql
security definer
stable
strict
set search_path = pg_catalog, pg_temp
as $$
declare
  v_zone text := coalesce(item.time_zone, 'UTC');
  v_at timestamptz := date_trunc('minute', at, 'UTC');
  v_local timestamp := v_at at time zone v_zone;
  v_previous timestamp;
begin
  if v_zone = 'UTC' or not item.fixed_time then
    return graphile_worker._private_cron_local_matches(item, v_local);
  end if;
  if graphile_worker._private_cron_local_matches(item, v_local)
    and not graphile_worker._private_cron_is_repeat(v_zone, v_at)
  then
    return true;
  end if;
  v_previous := (v_at - interval '1 minute') at time zone v_zone;
  if v_local - v_previous > interval '1 minute' then
    -- `at` is the first minute after a spring-forward gap: fire for any skipped match.
    return graphile_worker._private_cron_next_local(item, v_previous) < v_local;
  end if;
  return false;
end;
$$;

comment on function graphile_worker.cron_matches(graphile_worker.cron_item, timestamptz) is
  'Whether the item fires at the minute containing at, exact to the minute in its time zone; '
  'fixed-time items fire once per local occurrence across DST changes (skipped times at the '
  'first minute after the gap, repeated times once).';

-- ---- sql/src/30_functions/50_cron/45_private_cron_next_after.sql
-- The first minute strictly after `after` at which the item fires, or null if there is none up
-- to `until`. Walks constant-offset stretches of the time zone: within one, the next wall-clock
-- match is the answer; at a DST change, cron_matches decides (gap and repeat rules).
create function graphile_worker._private_cron_next_after(
  item graphile_worker.cron_item,
  after timestamptz,
  until timestamptz
) returns timestamptz
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_zone text := coalesce(item.time_zone, 'UTC');
  v_from timestamptz := date_trunc('minute', after, 'UTC');
  v_until timestamptz := date_trunc('minute', until, 'UTC');
  v_local timestamp;
  v_next timestamp;
  v_candidate timestamptz;
  v_change timestamptz;
begin
  if not isfinite(v_from) then
    return null;
  end if;
  if v_zone = 'UTC' then
    v_candidate := graphile_worker._private_cron_next_local(item, v_from at time zone 'UTC')
      at time zone 'UTC';
    return case when v_candidate <= v_until then v_candidate end;
  end if;
  for v_step in 1..100000 loop
    v_local := v_from at time zone v_zone;
    v_next := graphile_worker._private_cron_next_local(item, v_local);
    if v_next is null then
      return null;
    end if;
    -- The instant of v_next if the offset stays as it is at v_from.
    v_candidate := v_from + (v_next - v_local);
    v_change := graphile_worker._private_cron_first_transition(
      v_zone, v_from, least(v_candidate, v_until));
    if v_change is null then
      if v_candidate > v_until then
        return null;
      end if;
      if not item.fixed_time or not graphile_worker._private_cron_is_repeat(v_zone, v_candidate)
      then
        return v_candidate;
      end if;
      v_from := v_candidate;
    else
      if graphile_worker.cron_matches(item, v_change) then
        return v_change;
      end if;
      v_from := v_change;
    end if;
  end loop;
  raise exception 'cron: no due time found after % for schedule ''%''', after, item.schedule
    using errcode = 'GWC09',
      detail = 'The search gave up after 100000 steps.',
      hint = 'Report this schedule and time zone as a bug.';
end;
$$;

-- ---- sql/src/30_functions/50_cron/46_cron_next_after.sql
-- security definer: callers get EXECUTE on this function only, not on the _private_cron
-- helpers it calls; it reads no table, pins search_path and qualifies every name.
create function graphile_worker.cron_next_after(item graphile_worker.cron_item, after timestamptz)
returns timestamptz
language sql
security definer
stable
strict
set search_path = pg_catalog, pg_temp
return graphile_worker._private_cron_next_after(item, after, 'infinity'::timestamptz);

comment on function graphile_worker.cron_next_after(graphile_worker.cron_item, timestamptz) is
  'The next minute strictly after `after` at which the item fires (the same rule as cron_matches,'
  ' DST included), found by jumping over fields, never minute by minute; null if the schedule '
  'can never fire (e.g. 0 0 30 2 *).';

-- ---- sql/src/30_functions/50_cron/47_cron_times_between.sql
-- Bounded: at most max_results times (default 10000, at most 1000000); a window with more
-- raises GWC10 instead of running until statement_timeout (cron_times_between('* * * * *',
-- '1900-01-01', '2200-01-01') asks for 157 million). Each step jumps to the next due time, so
-- the work is proportional to what is returned.
-- security definer: callers get EXECUTE on this function only, not on the _private_cron
-- helpers it calls; it reads no table, pins search_path and qualifies every name.
create function graphile_worker.cron_times_between(
  item graphile_worker.cron_item,
  after timestamptz,
  until timestamptz,
  max_results integer default 10000
) returns setof timestamptz
language plpgsql
security definer
stable
strict
set search_path = pg_catalog, pg_temp
as $$
declare
  v_time timestamptz := after;
  v_count integer := 0;
begin
  if max_results < 1 or max_results > 1000000 then
    raise exception 'max_results must be between 1 and 1000000, not %', max_results
      using errcode = 'GWA02',
        detail = 'cron_times_between returns at most max_results times, so a call is bounded.',
        hint = 'Leave it out for the default of 10000; for more, ask for a shorter window.';
  end if;
  loop
    v_time := graphile_worker._private_cron_next_after(item, v_time, until);
    exit when v_time is null;
    if v_count = max_results then
      raise exception 'cron: schedule ''%'' is due more than % times between % and %',
        item.schedule, max_results, after, until
        using errcode = 'GWC10',
          detail = format('cron_times_between returns at most max_results (%s) times; time '
            '%s would be number %s.', max_results, v_time, max_results + 1),
          hint = 'Ask for a shorter window (call again with after = the last time returned), '
            'or pass a larger max_results (at most 1000000).';
    end if;
    v_count := v_count + 1;
    return next v_time;
  end loop;
end;
$$;

comment on function graphile_worker.cron_times_between(
  graphile_worker.cron_item, timestamptz, timestamptz, integer) is
  'The minutes t with after < t <= until at which the item fires, in order (the same rule as '
  'cron_matches, DST included); used for backfill and catch-up. Bounded: more than '
  'max_results (default 10000, at most 1000000) times in the window raises GWC10.';

-- ---- sql/src/30_functions/50_cron/50_register_crontab.sql
-- security definer: callers get EXECUTE on this function and no rights on the private tables
-- or helpers, so it acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.register_crontab(crontab text, now timestamptz default now())
returns int
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_count int;
begin
  if now is distinct from pg_catalog.now() then  -- below the admin level, the server's clock
    perform graphile_worker._private_check_clock(now, 'register_crontab');
  end if;
  insert into graphile_worker._private_known_crontabs (identifier, known_since, last_execution)
  select i.identifier, now, null
  from graphile_worker.parse_crontab(crontab) as i
  order by i.identifier
  on conflict (identifier) do nothing;
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;

comment on function graphile_worker.register_crontab(text, timestamptz) is
  'Parses the crontab and records each item not yet in _private_known_crontabs as known since '
  '`now` (so it is never backfilled before then); returns how many were new. Idempotent; '
  'schedule_crontab does this itself.';

-- ---- sql/src/30_functions/50_cron/55_schedule_crontab_items.sql
-- The scheduler, for items parsed once by the caller (parse_crontab): register, backfill, catch
-- up and schedule the current minute.
-- Every job goes through upstream's guard, an upsert that only moves last_execution forward, so
-- any number of concurrent callers schedule each (identifier, minute) at most once, and a clock
-- that steps back schedules nothing twice.
-- security definer: callers get EXECUTE on this function and no rights on the private tables
-- or helpers, so it acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.schedule_crontab(
  items graphile_worker.cron_item[],
  since timestamptz default null,
  now timestamptz default now()
) returns table (
  identifier text,
  task_identifier text,
  scheduled_at timestamptz,
  backfilled boolean,
  job_id bigint
)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_item graphile_worker.cron_item;
  v_minute timestamptz := date_trunc('minute', now, 'UTC');
  v_regular_after timestamptz;
  v_after timestamptz;
  v_known_since timestamptz;
  v_last_execution timestamptz;
  v_time timestamptz;
  v_won boolean;
  v_payload jsonb;
begin
  if items is null or now is null then
    raise exception 'cron: items and now must not be null'
      using errcode = 'GWC09',
        detail = 'schedule_crontab needs the parsed items (parse_crontab) and a time.',
        hint = 'Pass ''{}'' for no items; leave now out to use the transaction time.';
  end if;
  -- below the admin level, the server's clock: a future now would move each item's
  -- last_execution forward and no runner would schedule it again until then
  if now <> pg_catalog.now() then
    perform graphile_worker._private_check_clock(now, 'schedule_crontab');
  end if;
  -- Minutes after v_regular_after are due now (the current one, or all since the caller's
  -- previous call); earlier ones are only scheduled as backfill, within each item's fill.
  v_regular_after := least(
    coalesce(date_trunc('minute', since, 'UTC'), v_minute - interval '1 minute'), v_minute);

  insert into graphile_worker._private_known_crontabs as k (identifier, known_since, last_execution)
  select distinct i.identifier, now, null::timestamptz
  from unnest(items) as i
  order by 1
  on conflict (identifier) do nothing;

  foreach v_item in array items loop
    select k.known_since, k.last_execution
      into v_known_since, v_last_execution
    from graphile_worker._private_known_crontabs as k
    where k.identifier = v_item.identifier;
    v_after := v_regular_after;
    if v_item.fill > interval '0' then
      v_after := least(v_after, now - v_item.fill - interval '1 microsecond');
    end if;
    v_after := greatest(v_after, v_last_execution,
      date_trunc('minute', coalesce(v_known_since, now), 'UTC') - interval '1 microsecond');
    -- Bounded: at most 100000 minutes per item per call (69 days of an every-minute item). Only
    -- a window that long is counted first, so the common call pays nothing.
    if v_minute - v_after > interval '100000 minutes' then
      begin
        perform count(*)
        from graphile_worker.cron_times_between(v_item, v_after, v_minute, 100000);
      exception when sqlstate 'GWC10' then
        raise exception 'cron: item ''%'' has more than 100000 due minutes to schedule from % to %',
          v_item.identifier, v_after, v_minute
          using errcode = 'GWC10',
            detail = 'schedule_crontab schedules at most 100000 minutes per item and call, so '
              'that one call is bounded; nothing was scheduled. The window runs from the item''s '
              'last execution, or from `since` or its fill, to `now`.',
            hint = 'Shorten the item''s fill option, or pass a later since.';
      end;
    end if;
    for v_time in
      select t from graphile_worker.cron_times_between(v_item, v_after, v_minute, 100000) as t
    loop
      v_won := false;
      insert into graphile_worker._private_known_crontabs as k
        (identifier, known_since, last_execution)
      values (v_item.identifier, v_time, v_time)
      on conflict (identifier) do update
        set last_execution = excluded.last_execution
        where k.last_execution is null or k.last_execution < excluded.last_execution
      returning true into v_won;
      continue when v_won is not true;
      v_payload := coalesce(v_item.payload::jsonb, '{}'::jsonb) || jsonb_build_object('_cron',
        jsonb_build_object(
          'ts', to_char(v_time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
          'backfilled', v_time <= v_regular_after));
      identifier := v_item.identifier;
      task_identifier := v_item.task_identifier;
      scheduled_at := v_time;
      backfilled := v_time <= v_regular_after;
      select j.id into job_id
      from graphile_worker.add_job(
        v_item.task_identifier,
        payload => v_payload::json,
        queue_name => v_item.queue_name,
        run_at => v_time,
        max_attempts => v_item.max_attempts,
        job_key => v_item.job_key,
        priority => v_item.priority,
        job_key_mode => coalesce(v_item.job_key_mode, 'replace')) as j;
      return next;
    end loop;
  end loop;
end;
$$;

comment on function graphile_worker.schedule_crontab(
  graphile_worker.cron_item[], timestamptz, timestamptz) is
  'Registers new items (never backfilled), then for each item enqueues every due minute: the '
  'current minute (all minutes after `since` when given), and for known items the missed '
  'minutes within fill (backfilled); run_at = the minute, payload gets _cron {ts, backfilled}. '
  'Exactly once per (identifier, minute) across concurrent callers: last_execution only moves '
  'forward. Bounded: more than 100000 due minutes for one item in one call raises GWC10.';

-- ---- sql/src/30_functions/50_cron/56_schedule_crontab.sql
-- security definer: callers get EXECUTE on this function and no rights on the private tables
-- or helpers, so it acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.schedule_crontab(
  crontab text,
  since timestamptz default null,
  now timestamptz default now()
) returns table (
  identifier text,
  task_identifier text,
  scheduled_at timestamptz,
  backfilled boolean,
  job_id bigint
)
language sql
security definer
set search_path = pg_catalog, pg_temp
begin atomic
  select s.identifier, s.task_identifier, s.scheduled_at, s.backfilled, s.job_id
  from graphile_worker.schedule_crontab(
    array(select i from graphile_worker.parse_crontab(crontab) as i), since, now) as s;
end;

comment on function graphile_worker.schedule_crontab(text, timestamptz, timestamptz) is
  'Parses the crontab and schedules its items (see schedule_crontab(cron_item[], ...)): call '
  'it at every minute boundary (from a runner, pg_cron or any timer); exactly once per '
  '(identifier, minute) however many callers; see docs/cron.md.';

-- ---- sql/src/30_functions/50_cron/60_cron_matches_schedule.sql
-- security definer: callers get EXECUTE on this function only, not on the _private_cron
-- helpers it calls; it reads no table, pins search_path and qualifies every name.
create function graphile_worker.cron_matches(
  schedule text,
  at timestamptz,
  time_zone text default 'UTC'
) returns boolean
language sql
security definer
stable
strict
set search_path = pg_catalog, pg_temp
return graphile_worker.cron_matches(
  graphile_worker._private_cron_parse_schedule('cron schedule', schedule, time_zone), at);

comment on function graphile_worker.cron_matches(text, timestamptz, text) is
  'Whether the schedule (five fields, names, steps, @daily ...) fires at the minute containing '
  'at, in time_zone (default UTC); the same as cron_matches on a parsed item.';

-- ---- sql/src/30_functions/50_cron/61_cron_next_after_schedule.sql
-- security definer: callers get EXECUTE on this function only, not on the _private_cron
-- helpers it calls; it reads no table, pins search_path and qualifies every name.
create function graphile_worker.cron_next_after(
  schedule text,
  after timestamptz,
  time_zone text default 'UTC'
) returns timestamptz
language sql
security definer
stable
strict
set search_path = pg_catalog, pg_temp
return graphile_worker.cron_next_after(
  graphile_worker._private_cron_parse_schedule('cron schedule', schedule, time_zone), after);

comment on function graphile_worker.cron_next_after(text, timestamptz, text) is
  'The next minute strictly after `after` at which the schedule fires in time_zone (default '
  'UTC); the same as cron_next_after on a parsed item.';

-- ---- sql/src/30_functions/50_cron/62_cron_times_between_schedule.sql
-- security definer: callers get EXECUTE on this function only, not on the _private_cron
-- helpers it calls; it reads no table, pins search_path and qualifies every name.
create function graphile_worker.cron_times_between(
  schedule text,
  after timestamptz,
  until timestamptz,
  time_zone text default 'UTC',
  max_results integer default 10000
) returns setof timestamptz
language sql
security definer
stable
strict
set search_path = pg_catalog, pg_temp
begin atomic
  select t
  from graphile_worker.cron_times_between(
    graphile_worker._private_cron_parse_schedule('cron schedule', schedule, time_zone),
    after, until, max_results) as t;
end;

comment on function graphile_worker.cron_times_between(text, timestamptz, timestamptz, text, integer) is
  'The minutes t with after < t <= until at which the schedule fires in time_zone (default '
  'UTC), in order; the same as cron_times_between on a parsed item, with the same bound '
  '(max_results, default 10000, at most 1000000; GWC10 beyond).';

-- ---- sql/src/30_functions/60_insight/10_queue_stats.sql
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.queue_stats(now timestamptz default now())
returns table (
  task_identifier text,
  queue_name text,
  waiting bigint,
  scheduled bigint,
  running bigint,
  retrying bigint,
  permanently_failed bigint,
  oldest_waiting_age interval
)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select
    t.identifier,
    q.queue_name,
    count(*) filter (where j.is_available and j.run_at <= queue_stats.now),
    count(*) filter (where j.is_available and j.run_at > queue_stats.now),
    count(*) filter (where j.locked_at is not null),
    count(*) filter (where j.is_available and j.attempts > 0),
    count(*) filter (where j.locked_at is null and j.attempts >= j.max_attempts),
    queue_stats.now - min(j.run_at) filter (where j.is_available and j.run_at <= queue_stats.now)
  from graphile_worker._private_jobs as j
  join graphile_worker._private_tasks as t on t.id = j.task_id
  left join graphile_worker._private_job_queues as q on q.id = j.job_queue_id
  group by t.identifier, q.queue_name
  order by t.identifier, q.queue_name nulls first;
$$;

comment on function graphile_worker.queue_stats(timestamptz) is
  'Admin insight: per task and queue, how many jobs are waiting (runnable now), scheduled (future run_at), running (locked), retrying (failed before, will run again), permanently failed, and the age of the oldest waiting job. Scans the jobs table.';

-- ---- sql/src/30_functions/60_insight/20_worker_stats.sql
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.worker_stats(now timestamptz default now())
returns table (
  worker_id text,
  registered boolean,
  alive boolean,
  last_heartbeat_at timestamptz,
  stale_after interval,
  jobs_locked bigint,
  oldest_lock_age interval,
  info jsonb
)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  with locks as (
    select j.locked_by, count(*) as n, min(j.locked_at) as oldest
    from graphile_worker._private_jobs as j
    where j.locked_by is not null and j.locked_at is not null
    group by j.locked_by
  )
  select
    coalesce(w.worker_id, l.locked_by),
    w.worker_id is not null,
    case when w.worker_id is null then null
      else w.last_heartbeat_at >= worker_stats.now - w.stale_after end,
    w.last_heartbeat_at,
    w.stale_after,
    coalesce(l.n, 0),
    worker_stats.now - l.oldest,
    w.info
  from graphile_worker._private_workers as w
  full join locks as l on l.locked_by = w.worker_id
  order by 1;
$$;

comment on function graphile_worker.worker_stats(timestamptz) is
  'Admin insight: every registered worker and every id holding job locks (e.g. Node workers, which do not register): alive (heartbeat within stale_after; null when not registered), jobs locked and the age of the oldest lock.';

-- ---- sql/src/40_views/10_jobs.sql
-- The public view of jobs (graphile-worker 0.18): no payload, task and queue names resolved.
create view graphile_worker.jobs as
select
  jobs.id,
  job_queues.queue_name,
  tasks.identifier as task_identifier,
  jobs.priority,
  jobs.run_at,
  jobs.attempts,
  jobs.max_attempts,
  jobs.last_error,
  jobs.created_at,
  jobs.updated_at,
  jobs.key,
  jobs.locked_at,
  jobs.locked_by,
  jobs.revision,
  jobs.flags
from graphile_worker._private_jobs as jobs
join graphile_worker._private_tasks as tasks on tasks.id = jobs.task_id
left join graphile_worker._private_job_queues as job_queues on job_queues.id = jobs.job_queue_id;

comment on view graphile_worker.jobs is
  'Jobs with task identifier and queue name (without payload), as in graphile-worker 0.18.';

-- ---- sql/src/90_privileges/20_role_levels.sql
-- The three privilege levels (docs/security.md). A level includes the ones before it:
--   producer  enqueue, and replace or remove a job by its key
--   runner    claim, report, return, sweep, heartbeats, cron scheduling
--   admin     admin functions, cleanup, statistics, reading the jobs view
-- The function lists live here only; grant_role() and the tests read them.
create function graphile_worker._private_level_functions(level text)
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
        when 'producer' then array['add_job', 'add_jobs', 'remove_job', 'version']
        when 'runner' then array[
          'get_jobs', 'report_jobs', 'return_jobs', 'return_unheld_jobs', 'reset_locked',
          'next_job_due_at',
          'register_worker', 'heartbeat', 'deregister_worker', 'recover_stale_workers',
          'parse_crontab', 'register_crontab', 'schedule_crontab',
          'cron_matches', 'cron_next_after', 'cron_times_between']
        when 'admin' then array[
          'complete_jobs', 'permanently_fail_jobs', 'reschedule_jobs', 'force_unlock_workers',
          'delete_permanently_failed_jobs', 'gc_task_identifiers', 'gc_job_queues',
          'queue_stats', 'worker_stats']
      end
    )
  order by 1::text;
$$;

create function graphile_worker.grant_role(role_name text, level text)
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
  end if;
end;
$$;

comment on function graphile_worker.grant_role(text, text) is
  'Owner only: grant an existing role one of the levels producer (enqueue, remove by key), runner (claim, report, heartbeats, cron) or admin (admin functions, cleanup, statistics, the jobs view). Each level includes the ones before it.';

create function graphile_worker.revoke_role(role_name text)
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
  execute format('revoke usage on schema graphile_worker from %I', role_name);
end;
$$;

comment on function graphile_worker.revoke_role(text) is
  'Owner only: take back every right grant_role() gave this role.';

-- ---- sql/src/90_privileges/90_revoke_public.sql
-- Nothing is callable by PUBLIC: roles get exactly the functions of their level (see
-- docs/security.md).
revoke all on all functions in schema graphile_worker from public;

-- ---- sql/src/95_standalone/10_install_record.sql
-- The standalone script (no CREATE EXTENSION) records what it installed in a table of its own;
-- upgrades of a standalone install apply sql/upgrades/graphile_worker--A--B.sql with psql and
-- add a row (see CONTRIBUTING.md and docs/install.md).
create table graphile_worker._private_standalone_installs (
  version text not null,
  installed_at timestamptz not null default now(),
  constraint standalone_installs_pkey primary key (version)
);

alter table graphile_worker._private_standalone_installs enable row level security;

insert into graphile_worker._private_standalone_installs (version) values ('0.1.3');
