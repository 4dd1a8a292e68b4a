-- Enqueue many jobs in one statement (graphile-worker 0.18 contract, plus fixes):
--  * every spec is validated first, so bad input changes nothing and burns no identity value:
--    the rules of _private_check_job_args (also a run_at no client can read back, GWE01, and a
--    payload jsonb cannot hold, GWE03), and the same job key in two specs (GWE02; upstream
--    fails in the upsert with 21000);
--  * keyed specs are serialised per key by row locks of the jobs table only (never advisory
--    locks, which any role can hold): one upsert in job key order locks the row of each key,
--    also the row of a running or permanently failed job, which it does not update; that job
--    then loses its key and the spec makes a new job, while no one else can touch the key. So
--    a keyed spec always returns its row (#580), an open transaction blocks only callers of
--    its own keys, and two calls never deadlock on each other's keys;
--  * a job's row is built in one place (_private_inline_job_row), keyed specs are written by
--    one upsert (_private_upsert_jobs), both shared with add_job; specs without keys take a
--    plain insert (ON CONFLICT costs each row a speculative insertion);
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
  v_rows graphile_worker._private_jobs[] := '{}';
  v_held text[];
  v_flagged bigint[];
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

  -- One pass over the specs: those the checker must see (_private_inline_job_args_flagged, as
  -- in add_job), any keyed, any new task identifier or queue name.
  select
    array_agg(s.ord) filter (where graphile_worker._private_inline_job_args_flagged(
      s.identifier, s.payload, s.queue_name, s.run_at, s.max_attempts, s.job_key, s.priority,
      s.flags)),
    count(s.job_key),
    count(*) filter (where t.id is null),
    count(*) filter (where s.queue_name is not null and q.id is null)
  into v_flagged, v_keyed, v_new_tasks, v_new_queues
  from pg_catalog.unnest(specs) with ordinality
    as s(identifier, payload, queue_name, run_at, max_attempts, job_key, priority, flags, ord)
  left join graphile_worker._private_tasks as t on t.identifier = s.identifier
  left join graphile_worker._private_job_queues as q on q.queue_name = s.queue_name;

  if v_flagged is not null then
    -- the checker decides, spec by spec in order: it raises for the first invalid one
    perform graphile_worker._private_check_job_args(
      s.identifier, s.payload, s.queue_name, s.run_at, s.max_attempts, s.job_key, s.priority,
      s.flags, s.ord::integer)
    from pg_catalog.unnest(specs) with ordinality
      as s(identifier, payload, queue_name, run_at, max_attempts, job_key, priority, flags, ord)
    where s.ord = any(v_flagged)
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

  if v_new_tasks > 0 or v_new_queues > 0 then
    perform graphile_worker._private_add_tasks_and_queues(specs);
  end if;

  -- The count over-estimates (updates and future run_at count too), as upstream's does.
  if pg_catalog.pg_notification_queue_usage() < 0.5
     and graphile_worker._private_wake_runners() then
    perform pg_catalog.pg_notify('jobs:insert',
      '{"r":' || random()::text || ',"count":' || v_count::text || '}');
  end if;

  if v_keyed = 0 then
    return query
    insert into graphile_worker._private_jobs as jobs
      (job_queue_id, task_id, payload, run_at, max_attempts, key, priority, flags)
    select r.*
    from pg_catalog.unnest(specs) with ordinality
      as s(identifier, payload, queue_name, run_at, max_attempts, job_key, priority, flags, ord)
    cross join lateral graphile_worker._private_inline_job_row(
      s.identifier, s.payload, s.queue_name, s.run_at, s.max_attempts, s.job_key, s.priority,
      s.flags) as r
    order by s.ord  -- ids follow the order of the specs (FIFO within a named queue)
    returning jobs.*;
    return;
  end if;

  -- The keyed upsert (_private_upsert_jobs): every spec's job is written, or its key's row is
  -- locked because its job is running or failed for good.
  select coalesce(array_agg(u), '{}') into v_rows
  from graphile_worker._private_upsert_jobs(specs, job_key_preserve_run_at, true) as u;

  if cardinality(v_rows) < v_count then
    -- Keys whose job is running or failed for good (#580: a worker may have claimed it a
    -- moment ago). This transaction holds those rows' locks since the upsert, so nobody can
    -- change them or give their keys to another job: the job keeps its row but loses its key
    -- (and will not be retried), and the upsert runs again for those keys' specs, which now
    -- make new jobs under the keys.
    select array_agg(s.job_key) into v_held
    from pg_catalog.unnest(specs) as s
    where s.job_key is not null
      and not exists (select 1 from pg_catalog.unnest(v_rows) as r where r.key = s.job_key);

    update graphile_worker._private_jobs as jobs
    set key = null, attempts = jobs.max_attempts, updated_at = now()
    where jobs.key = any(v_held);

    select v_rows || coalesce(array_agg(u), '{}') into v_rows
    from graphile_worker._private_upsert_jobs(
      array(select s from pg_catalog.unnest(specs) as s where s.job_key = any(v_held)),
      job_key_preserve_run_at, true) as u;
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
