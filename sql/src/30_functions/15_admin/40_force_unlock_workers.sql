-- Admin: clear every job and queue lock held by these worker ids (graphile-worker 0.18
-- contract). Attempts are not refunded: the interrupted attempt counts. Jobs being cancelled
-- (cancel_jobs) end as cancelled.
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

  -- jobs being cancelled (cancel_jobs) whose lock was cleared end as cancelled
  select graphile_worker._private_finish_cancelled(null, null)
  where exists (select 1 from graphile_worker._private_cancel_requests);
$$;

comment on function graphile_worker.force_unlock_workers(text[]) is
  'Admin: unlock all jobs and queues locked by these worker ids (e.g. after a crash); the interrupted attempt still counts.';
