-- Enqueue one job (graphile-worker 0.18 contract). Without a key it inserts directly (the
-- common case: when the task and queue exist, one insert that looks both up, with the arguments
-- checked by plain expressions); keyed modes replace and preserve_run_at go through
-- add_jobs (per-key locks, never a null row); unsafe_dedupe returns the existing keyed job
-- unchanged (revision bumped), whatever its state.
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
