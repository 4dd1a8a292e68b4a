-- Enqueue one job (graphile-worker 0.18 contract). Its arguments are checked as add_jobs checks
-- a spec (_private_inline_job_args_flagged, _private_check_job_args). The common call (no key,
-- no queue, no flags, arguments that need no check, a task that exists) takes a path of its
-- own: one insert (_private_inline_job_row with those arguments null, which the planner folds
-- to an insert from one probe of the task), and a read of the wait marks written in place,
-- calling _private_wake_runners only when that read says a runner may need waking. Each
-- statement, and each call of another plpgsql function, costs a call of add_job as much as
-- the row's own insert does (executor start, expressions compiled per transaction): measured
-- with callgrind (instructions per transaction of one add_job, docs/scaling.md), 546,000
-- before, about 457,000 this way, against 273,000 for the bare insert. When the task and
-- queue exist, one statement does the rest: for a job without a key, an insert of the row add_jobs
-- inserts (_private_inline_job_row; its own statement, as ON CONFLICT costs a job without a key
-- about a third more, a speculative insertion); for a key, add_jobs' upsert
-- (_private_upsert_jobs), which inserts the job or (replace, preserve_run_at) replaces the
-- waiting job of the key; unsafe_dedupe first returns the job of a key already taken, unchanged
-- but for revision and updated_at, whatever its state. A new task or queue, and (replace,
-- preserve_run_at) a key whose job is running or failed for good, go through add_jobs (row locks
-- per key, never a null row). Not a call of add_jobs for every job, which takes about twice the
-- time (add_job is the call most producers make). Takes no advisory lock: only the enqueuers'
-- ROW SHARE lock on _private_tasks (see add_jobs and _private_gc_lock) and row locks, which no
-- role outside the extension's functions can take or hold. Its statements always take their
-- generic plans: PostgreSQL would otherwise plan the insert for every call (a custom plan looks
-- cheaper once the queue name is known to be null), which measured 30 to 40 % fewer calls a
-- second.
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
set plan_cache_mode = force_generic_plan
as $$
declare
  v_job graphile_worker._private_jobs;
  v_dedupe boolean;
  v_specs graphile_worker.job_spec[];  -- the job as add_jobs' spec
  v_wake_state text;
begin
  if add_job.job_key is null and add_job.queue_name is null and add_job.flags is null
     and graphile_worker._private_inline_job_args_flagged(
       add_job.identifier, add_job.payload, null, add_job.run_at, add_job.max_attempts, null,
       add_job.priority, null) is not true then
    -- The enqueuers' guard first (before the task is read), as add_jobs takes it.
    lock table graphile_worker._private_tasks in row share mode;
    insert into graphile_worker._private_jobs as jobs
      (job_queue_id, task_id, payload, run_at, max_attempts, key, priority, flags)
    select r.*
    from graphile_worker._private_inline_job_row(
      add_job.identifier, add_job.payload, null, add_job.run_at,
      add_job.max_attempts::smallint, null, add_job.priority::smallint, null) as r
    returning * into v_job;
    if found then
      -- _private_wake_runners' test, read here in one statement: a quiet enqueue (a busy
      -- fleet's) stops here; otherwise _private_wake_runners decides and takes the marks off.
      -- The rest is in a statement of its own, which PostgreSQL compiles only in a transaction
      -- that reaches it (2 % of a call, callgrind).
      select w.wake_state into v_wake_state
      from graphile_worker._private_inline_wake_state(pg_catalog.now()) as w;
      if v_wake_state <> 'quiet' then
        if pg_catalog.pg_notification_queue_usage() < 0.5
           and graphile_worker._private_wake_runners() then
          perform pg_catalog.pg_notify('jobs:insert', '{"r":' || random()::text || ',"count":1}');
        end if;
      end if;
      return v_job;
    end if;
    -- a new task: the path below creates it
  end if;

  if job_key is not null and job_key_mode is not null
     and job_key_mode not in ('replace', 'preserve_run_at', 'unsafe_dedupe') then
    raise exception 'Invalid job_key_mode value, expected ''replace'', ''preserve_run_at'' or ''unsafe_dedupe''.'
      using errcode = 'GWBKM',
      detail = format('job_key_mode was %L.', job_key_mode),
      hint = 'Use replace (the default), preserve_run_at or unsafe_dedupe.';
  end if;

  if graphile_worker._private_inline_job_args_flagged(
       add_job.identifier, add_job.payload, add_job.queue_name, add_job.run_at,
       add_job.max_attempts, add_job.job_key, add_job.priority, add_job.flags) then
    perform graphile_worker._private_check_job_args(
      add_job.identifier, add_job.payload, add_job.queue_name, add_job.run_at,
      add_job.max_attempts, add_job.job_key, add_job.priority, add_job.flags);
  end if;

  -- The enqueuers' guard first (before the task and queue are read), as add_jobs takes it.
  lock table graphile_worker._private_tasks in row share mode;

  v_specs := array[row(
    add_job.identifier, add_job.payload, add_job.queue_name, add_job.run_at,
    add_job.max_attempts::smallint, add_job.job_key, add_job.priority::smallint, add_job.flags
  )::graphile_worker.job_spec];

  if job_key is null then
    insert into graphile_worker._private_jobs as jobs
      (job_queue_id, task_id, payload, run_at, max_attempts, key, priority, flags)
    select r.*
    from graphile_worker._private_inline_job_row(
      add_job.identifier, add_job.payload, add_job.queue_name, add_job.run_at,
      add_job.max_attempts::smallint, null, add_job.priority::smallint, add_job.flags) as r
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
      -- No row when the task or queue is new, or when the key's job is not replaced (running
      -- or failed for good; for unsafe_dedupe, a job made since the update): this transaction
      -- then holds that row's lock.
      select * into v_job
      from graphile_worker._private_upsert_jobs(
        v_specs, preserve_run_at => add_job.job_key_mode = 'preserve_run_at',
        replace => not v_dedupe);
      exit when v_job.id is not null or not v_dedupe;
      perform graphile_worker._private_add_tasks_and_queues(v_specs);
    end loop;
  end if;

  if v_job.id is null then
    -- A new task or queue, or (replace, preserve_run_at) the key's job is running or failed
    -- for good, locked by this transaction since the upsert: add_jobs creates the task and
    -- queue, and detaches the key from that job to make a new one. (Not reached for
    -- unsafe_dedupe: its rounds insert, or find the job that holds the key.)
    select * into v_job
    from graphile_worker.add_jobs(
      v_specs,
      job_key_mode = 'preserve_run_at'
    );
    return v_job;  -- add_jobs notified
  end if;
  if pg_catalog.pg_notification_queue_usage() < 0.5
     and graphile_worker._private_wake_runners() then
    perform pg_catalog.pg_notify('jobs:insert', '{"r":' || random()::text || ',"count":1}');
  end if;
  return v_job;
end;
$$;

comment on function graphile_worker.add_job(text, json, text, timestamptz, integer, text, integer, text[], text) is
  'Enqueue one job (graphile-worker 0.18 semantics): job_key with job_key_mode replace (default), preserve_run_at or unsafe_dedupe; never returns null for a keyed job under concurrency, and waits only for open transactions that enqueued or removed the same key. Bad input (also a run_at outside 0001-01-02..9999-12-30 UTC or a payload jsonb cannot hold) raises before anything is written. Notifies jobs:insert.';
