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
-- a scan of the whole table: JIT compiling costs more than it saves at any size seen
set jit = off
as $$
  -- counted per task and queue id first, the names joined to the groups only (0.1.8): about
  -- 3x faster on a million jobs than joining every row
  select
    t.identifier,
    q.queue_name,
    c.waiting, c.scheduled, c.running, c.retrying, c.permanently_failed,
    queue_stats.now - c.oldest_waiting
  from (
    select
      j.task_id,
      j.job_queue_id,
      count(*) filter (where j.is_available and j.run_at <= queue_stats.now) as waiting,
      count(*) filter (where j.is_available and j.run_at > queue_stats.now) as scheduled,
      count(*) filter (where j.locked_at is not null) as running,
      count(*) filter (where j.is_available and j.attempts > 0) as retrying,
      count(*) filter (where j.locked_at is null and j.attempts >= j.max_attempts)
        as permanently_failed,
      min(j.run_at) filter (where j.is_available and j.run_at <= queue_stats.now)
        as oldest_waiting
    from graphile_worker._private_jobs as j
    group by j.task_id, j.job_queue_id
  ) as c
  join graphile_worker._private_tasks as t on t.id = c.task_id
  left join graphile_worker._private_job_queues as q on q.id = c.job_queue_id
  order by t.identifier, q.queue_name nulls first;
$$;

comment on function graphile_worker.queue_stats(timestamptz) is
  'Admin insight: per task and queue, how many jobs are waiting (runnable now), scheduled (future run_at), running (locked), retrying (failed before, will run again), permanently failed, and the age of the oldest waiting job. Scans the jobs table.';
