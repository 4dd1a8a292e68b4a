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
