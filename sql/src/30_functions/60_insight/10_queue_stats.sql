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
