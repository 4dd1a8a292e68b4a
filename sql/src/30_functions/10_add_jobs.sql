-- Enqueue many jobs in one statement (graphile-worker 0.18 contract, plus fixes):
--  * every spec is validated first, so bad input changes nothing and burns no identity value;
--  * keyed specs take per-key advisory locks and are retried when a worker claims the keyed job
--    between the detach step and the upsert, so a keyed spec always returns its row (#580);
--  * specs without keys take a plain insert (no ON CONFLICT, no detach step).
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
