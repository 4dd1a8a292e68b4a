-- graphile_worker 0.1.0 -> 0.1.1: faster enqueue and claim paths; no schema change.
--  * add_job: when the task and queue exist, one insert that looks both up; the argument checks
--    are plain expressions (the checker function is called only to raise the error).
--  * add_jobs: one pass over the specs finds invalid specs, keyed specs and new task
--    identifiers or queue names (before: four passes).
--  * get_jobs: the candidate sort is skipped when the candidates are already in claim order
--    (one task, no queue heads); the claimed rows are updated by address (no index lookup);
--    task names come from the task list already read; task and forbidden flags are checked
--    again when locking (a keyed job replaced in between may have changed them); a queue is
--    locked only together with a job actually claimed from it.
--  * get_jobs and report_jobs check worker_id inline.
-- Signatures, return types, comments and grants are unchanged.

-- from sql/src/30_functions/00_version.sql
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

-- from sql/src/30_functions/10_add_jobs.sql
-- Enqueue many jobs in one statement (graphile-worker 0.18 contract, plus fixes):
--  * every spec is validated first, so bad input changes nothing and burns no identity value;
--  * keyed specs take per-key advisory locks and are retried when a worker claims the keyed job
--    between the detach step and the upsert, so a keyed spec always returns its row (#580);
--  * specs without keys take a plain insert (no ON CONFLICT, no detach step).
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create or replace function graphile_worker.add_jobs(
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
  v_keys text[];
  v_rows graphile_worker._private_jobs[];
  v_more graphile_worker._private_jobs[];
  v_pending graphile_worker.job_spec[];
  v_round integer := 0;
  v_invalid bigint;
  v_keyed bigint;
  v_new_tasks bigint;
  v_new_queues bigint;
begin
  if v_count = 0 then
    return;
  end if;

  -- The GC lock first: gc_task_identifiers and gc_job_queues wait for it, so the tasks and
  -- queues seen below stay.
  perform graphile_worker._private_gc_guard();

  -- One pass over the specs: any invalid, any keyed, any new task identifier or queue name.
  select
    count(*) filter (where
      s.identifier is null
      or length(s.identifier) > 128
      or length(s.queue_name) > 128
      or length(s.job_key) not between 1 and 512
      or s.max_attempts < 1
      or array_position(s.flags, null) is not null),
    count(s.job_key),
    count(*) filter (where t.id is null),
    count(*) filter (where s.queue_name is not null and q.id is null)
  into v_invalid, v_keyed, v_new_tasks, v_new_queues
  from pg_catalog.unnest(specs) as s
  left join graphile_worker._private_tasks as t on t.identifier = s.identifier
  left join graphile_worker._private_job_queues as q on q.queue_name = s.queue_name;

  if v_invalid > 0 then
    -- raises the error for the first invalid spec
    perform graphile_worker._private_check_job_args(
      s.identifier, s.queue_name, s.job_key, s.max_attempts, s.priority, s.flags, s.ord::integer)
    from pg_catalog.unnest(specs) with ordinality
      as s(identifier, payload, queue_name, run_at, max_attempts, job_key, priority, flags, ord)
    where s.identifier is null
       or length(s.identifier) > 128
       or length(s.queue_name) > 128
       or length(s.job_key) not between 1 and 512
       or s.max_attempts < 1
       or array_position(s.flags, null) is not null;
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
  perform pg_catalog.pg_notify('jobs:insert',
    '{"r":' || random()::text || ',"count":' || v_count::text || '}');

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

  select array_agg(s.job_key) into v_keys
  from pg_catalog.unnest(specs) as s
  where s.job_key is not null;
  perform graphile_worker._private_lock_job_keys(v_keys);

  v_pending := specs;
  v_rows := '{}';
  loop
    v_round := v_round + 1;

    -- A keyed job that is running or permanently failed keeps its row but loses its key (and
    -- will not be retried); the spec then makes a new job.
    update graphile_worker._private_jobs as jobs
    set key = null, attempts = jobs.max_attempts, updated_at = now()
    from pg_catalog.unnest(v_pending) as s
    where s.job_key is not null
      and jobs.key = s.job_key
      and jobs.is_available is not true;

    with upserted as (
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
      from pg_catalog.unnest(v_pending) with ordinality
        as s(identifier, payload, queue_name, run_at, max_attempts, job_key, priority, flags, ord)
      join graphile_worker._private_tasks as t on t.identifier = s.identifier
      left join graphile_worker._private_job_queues as q on q.queue_name = s.queue_name
      order by s.ord
      on conflict (key) do update set
        job_queue_id = excluded.job_queue_id,
        task_id = excluded.task_id,
        payload = case
          when json_typeof(jobs.payload) = 'array' and json_typeof(excluded.payload) = 'array'
            then (jobs.payload::jsonb || excluded.payload::jsonb)::json
          else excluded.payload
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
      where jobs.locked_at is null
      returning jobs as job
    )
    select coalesce(array_agg(u.job), '{}') into v_more from upserted as u;

    v_rows := v_rows || v_more;

    -- Keyed specs whose job a worker claimed between the detach step and the upsert got no
    -- row: run them again (the detach step now sees the claimed job).
    select array_agg(s) into v_pending
    from pg_catalog.unnest(v_pending) as s
    where s.job_key is not null
      and not exists (select 1 from pg_catalog.unnest(v_more) as m where m.key = s.job_key);

    exit when v_pending is null or v_round >= 100;
  end loop;

  return query select * from pg_catalog.unnest(v_rows);
end;
$$;

comment on function graphile_worker.add_jobs(graphile_worker.job_spec[], boolean) is
  'Enqueue many jobs in one statement (graphile-worker 0.18 semantics). Keyed specs replace the pending job with that key (array payloads are concatenated); job_key_preserve_run_at keeps its run_at. Always returns one row per spec, also under concurrency. Notifies jobs:insert.';

-- from sql/src/30_functions/11_add_job.sql
-- Enqueue one job (graphile-worker 0.18 contract). Without a key it inserts directly (the
-- common case: when the task and queue exist, one insert that looks both up, with the arguments
-- checked by plain expressions); keyed modes replace and preserve_run_at go through
-- add_jobs (per-key locks, never a null row); unsafe_dedupe returns the existing keyed job
-- unchanged (revision bumped), whatever its state.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create or replace function graphile_worker.add_job(
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
  -- checker is called only to raise the error.
  if add_job.identifier is null
     or length(add_job.identifier) > 128
     or length(add_job.queue_name) > 128
     or length(add_job.job_key) not between 1 and 512
     or add_job.max_attempts not between 1 and 32767
     or add_job.priority not between -32768 and 32767
     or array_position(add_job.flags, null) is not null then
    perform graphile_worker._private_check_job_args(
      add_job.identifier, add_job.queue_name, add_job.job_key, add_job.max_attempts,
      add_job.priority, add_job.flags);
  end if;

  if job_key is null then
    -- Shared GC lock first (before the task and queue are read), as _private_gc_guard() takes.
    perform pg_catalog.pg_advisory_xact_lock_shared(2037542723, 0);
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
      perform pg_catalog.pg_notify('jobs:insert', '{"r":' || random()::text || ',"count":1}');
      return v_job;
    end if;
    -- a new task identifier or queue name: created below, then the insert
  end if;

  if job_key is not null and (job_key_mode is null or job_key_mode <> 'unsafe_dedupe') then
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
    perform graphile_worker._private_gc_guard();
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
    perform pg_catalog.pg_notify('jobs:insert', '{"r":' || random()::text || ',"count":1}');
    return v_job;
  end if;

  -- unsafe_dedupe: insert, or return the existing job with that key as it is (only revision
  -- and updated_at change), even when it is running or permanently failed.
  perform graphile_worker._private_lock_job_keys(array[add_job.job_key]);
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
  if v_job.revision = 0 then
    perform pg_catalog.pg_notify('jobs:insert', '{"r":' || random()::text || ',"count":1}');
  end if;
  return v_job;
end;
$$;

comment on function graphile_worker.add_job(text, json, text, timestamptz, integer, text, integer, text[], text) is
  'Enqueue one job (graphile-worker 0.18 semantics): job_key with job_key_mode replace (default), preserve_run_at or unsafe_dedupe; never returns null for a keyed job under concurrency. Notifies jobs:insert.';

-- from sql/src/30_functions/20_runner/10_get_jobs.sql
-- Claim up to batch_size runnable jobs of the given tasks for one worker, in one statement.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create or replace function graphile_worker.get_jobs(
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
  'Runner: claim up to batch_size runnable jobs of these tasks for worker_id, ordered by priority then run_at; FOR UPDATE SKIP LOCKED, at most one job per named queue per call (the queue stays locked until that job is reported), jobs with any forbidden flag skipped, attempts counted at checkout.';

-- from sql/src/30_functions/20_runner/20_report_jobs.sql
-- Report the outcomes of a batch of jobs in one call: completed jobs are deleted, failed jobs
-- are scheduled for retry with graphile-worker's backoff (or failed for good). Only rows still
-- locked by this worker are touched, so a worker whose jobs were swept and re-claimed by
-- another never deletes or changes what the other now runs.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create or replace function graphile_worker.report_jobs(
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
  v_bad text;
begin
  -- the checker raises the error; the plain expression saves a call on every claim
  if report_jobs.worker_id is null or report_jobs.worker_id = '' or length(report_jobs.worker_id) > 128 then
    perform graphile_worker._private_check_worker_id(report_jobs.worker_id);
  end if;
  if v_now is null then
    raise exception 'now must not be null'
      using errcode = 'GWA01', hint = 'Leave now out to use the transaction time.';
  end if;

  if failures is not null then
    if json_typeof(failures) <> 'array' then
      raise exception 'failures must be a JSON array, not %', json_typeof(failures)
        using errcode = 'GWA03',
        detail = 'failures lists one object per failed job.',
        hint = 'Pass e.g. [{"id": 42, "message": "timeout"}].';
    end if;
    select e::text into v_bad
    from json_array_elements(failures) as e
    where json_typeof(e) <> 'object'
       or json_typeof(e -> 'id') is distinct from 'number'
       or (e -> 'message') is null
       or json_typeof(e -> 'message') not in ('string', 'null')
       or json_typeof(e -> 'permanent') not in ('boolean', 'null')
       or json_typeof(e -> 'retry_delay') not in ('number', 'null')
       or (e ->> 'retry_delay')::double precision < 0
    limit 1;
    if v_bad is not null then
      raise exception 'malformed failure entry: %', left(v_bad, 200)
        using errcode = 'GWA03',
        detail = 'Each entry needs "id" (a job id) and "message" (text); "payload", "permanent" (boolean) and "retry_delay" (seconds, >= 0) are optional.',
        hint = 'Pass e.g. [{"id": 42, "message": "timeout", "retry_delay": 30}].';
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
    from json_to_recordset(coalesce(failures, '[]'::json))
      as x(id bigint, message text, payload json, permanent boolean, retry_delay double precision)
  ),
  failed as (
    update graphile_worker._private_jobs as jobs
    set
      last_error = coalesce(f.message, 'Non error or error without message thrown.'),
      run_at = case
        when f.retry_delay is not null then v_now + f.retry_delay * interval '1 second'
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
  'Runner: report a batch of outcomes in one call. Completed jobs are deleted; failures ([{"id","message","payload"?,"permanent"?,"retry_delay"?}]) get last_error and run_at = greatest(now, run_at) + exp(least(attempts, 10)) s (or now + retry_delay); their queues are unlocked. Only rows still locked by worker_id are touched; others come back as outcome lost.';
