-- Remove a pending job by key (graphile-worker 0.18 contract). A job that is running cannot be
-- removed: it loses its key and will not be retried.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.remove_job(job_key text)
returns graphile_worker._private_jobs
language plpgsql
security definer
strict
set search_path = pg_catalog, pg_temp
as $$
declare
  v_job graphile_worker._private_jobs;
begin
  perform graphile_worker._private_lock_job_keys(array[remove_job.job_key]);

  delete from graphile_worker._private_jobs as jobs
  where jobs.key = remove_job.job_key
    and (jobs.locked_at is null or jobs.locked_at < now() - interval '4 hours')
  returning * into v_job;
  if v_job.id is not null then
    perform pg_catalog.pg_notify('jobs:insert', '{"r":' || random()::text || ',"count":-1}');
    return v_job;
  end if;

  update graphile_worker._private_jobs as jobs
  set key = null, attempts = jobs.max_attempts, updated_at = now()
  where jobs.key = remove_job.job_key
  returning * into v_job;
  return v_job;
end;
$$;

comment on function graphile_worker.remove_job(text) is
  'Delete the pending job with this key (notifies jobs:insert with count -1); a running job with the key instead loses its key and will not be retried. Returns the row, or null.';
