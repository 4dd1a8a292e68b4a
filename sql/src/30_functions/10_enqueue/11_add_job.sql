-- Enqueue one job (graphile-worker 0.18 contract). Its arguments are checked as add_jobs checks
-- a spec (_private_check_job_args). When the task and queue exist, one statement does the rest:
-- an insert for a job without a key; for a key, an upsert that inserts the job or (replace,
-- preserve_run_at) updates the waiting job of the key with the SET list of add_jobs' upsert;
-- unsafe_dedupe first returns the job of a key already taken, unchanged but for revision and
-- updated_at, whatever its state. A new task or queue, and (replace, preserve_run_at) a key
-- whose job is running or failed for good, go through add_jobs (row locks per key, never a null
-- row). The statements are add_job's own rather than a call of add_jobs or of a shared
-- set-based writer, which takes about twice the time (add_job is the call most producers make);
-- a job without a key has an insert of its own because ON CONFLICT costs it about a third more
-- (a speculative insertion). Takes no advisory lock: only the enqueuers' ROW SHARE lock on
-- _private_tasks (see add_jobs and _private_gc_lock) and row locks, which no role outside the
-- extension's functions can take or hold.
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
  v_dedupe boolean;
begin
  if job_key is not null and job_key_mode is not null
     and job_key_mode not in ('replace', 'preserve_run_at', 'unsafe_dedupe') then
    raise exception 'Invalid job_key_mode value, expected ''replace'', ''preserve_run_at'' or ''unsafe_dedupe''.'
      using errcode = 'GWBKM',
      detail = format('job_key_mode was %L.', job_key_mode),
      hint = 'Use replace (the default), preserve_run_at or unsafe_dedupe.';
  end if;

  -- The conditions of _private_check_job_args as one plain expression, the checker called only
  -- to raise the error (see there why). For the payload they flag every payload jsonb may
  -- reject, and the checker converts only those: a \u escape (\u0000, an unpaired surrogate),
  -- an e followed by a sign or digit and 4 more digits (a number beyond numeric has an exponent
  -- of 5 digits or more, or more than 6000 digits), more than 6000 bytes.
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

  -- The enqueuers' guard first (before the task and queue are read), as add_jobs takes it.
  lock table graphile_worker._private_tasks in row share mode;

  if job_key is null then
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
  else
    v_dedupe := add_job.job_key_mode is not distinct from 'unsafe_dedupe';
    -- Up to three rounds, the others only for unsafe_dedupe: when the task or queue is new (the
    -- first round creates them), and when a concurrent call makes the key's job between the
    -- update and the upsert (the next update finds it).
    for v_round in 1..3 loop
      if v_dedupe then
        -- unsafe_dedupe: the job of the key as it is (only revision and updated_at change),
        -- whatever its state
        update graphile_worker._private_jobs as jobs
        set revision = jobs.revision + 1, updated_at = now()
        where jobs.key = add_job.job_key
        returning * into v_job;
        if found then
          return v_job;
        end if;
      end if;
      -- No row when the task or queue is new, or when the key's job is not updated (running or
      -- failed for good; for unsafe_dedupe, a job made since the update): this transaction
      -- then holds that row's lock (ON CONFLICT DO UPDATE locks the rows it does not update).
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
          when json_typeof(jobs.payload) = 'array' and json_typeof(excluded.payload) = 'array'
            then graphile_worker._private_merge_array_payloads(jobs.payload, excluded.payload)
          else excluded.payload
        end,
        max_attempts = excluded.max_attempts,
        run_at = case
          when add_job.job_key_mode = 'preserve_run_at' and jobs.attempts = 0 then jobs.run_at
          else excluded.run_at
        end,
        priority = excluded.priority,
        revision = jobs.revision + 1,
        flags = excluded.flags,
        attempts = 0,
        last_error = null,
        updated_at = now()
      where jobs.is_available and not v_dedupe
      returning * into v_job;
      exit when found or not v_dedupe;
      perform graphile_worker._private_add_tasks_and_queues(array[row(
        add_job.identifier, null, add_job.queue_name, null, null, null, null, null
      )::graphile_worker.job_spec]);
    end loop;
  end if;

  if v_job.id is null then
    -- A new task or queue, or (replace, preserve_run_at) the key's job is running or failed
    -- for good, locked by this transaction since the upsert: add_jobs creates the task and
    -- queue, and detaches the key from that job to make a new one. (Not reached for
    -- unsafe_dedupe: its rounds insert, or find the job that holds the key.)
    select * into v_job
    from graphile_worker.add_jobs(
      array[row(
        add_job.identifier, add_job.payload, add_job.queue_name, add_job.run_at,
        add_job.max_attempts::smallint, add_job.job_key, add_job.priority::smallint,
        add_job.flags
      )::graphile_worker.job_spec],
      job_key_mode = 'preserve_run_at'
    );
    return v_job;  -- add_jobs notified
  end if;
  if pg_catalog.pg_notification_queue_usage() < 0.5 then
    perform pg_catalog.pg_notify('jobs:insert', '{"r":' || random()::text || ',"count":1}');
  end if;
  return v_job;
end;
$$;

comment on function graphile_worker.add_job(text, json, text, timestamptz, integer, text, integer, text[], text) is
  'Enqueue one job (graphile-worker 0.18 semantics): job_key with job_key_mode replace (default), preserve_run_at or unsafe_dedupe; never returns null for a keyed job under concurrency, and waits only for open transactions that enqueued or removed the same key. Bad input (also a run_at outside 0001-01-02..9999-12-30 UTC or a payload jsonb cannot hold) raises before anything is written. Notifies jobs:insert.';
