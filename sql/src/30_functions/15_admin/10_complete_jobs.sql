-- Admin: delete jobs that are not locked (graphile-worker 0.18 contract); a lock older than
-- _private_lock_expiry() has expired and does not count.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.complete_jobs(job_ids bigint[])
returns setof graphile_worker._private_jobs
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$
  delete from graphile_worker._private_jobs as jobs
  where jobs.id = any(job_ids)
    and (jobs.locked_at is null or jobs.locked_at < now() - graphile_worker._private_lock_expiry())
  returning *;
$$;

comment on function graphile_worker.complete_jobs(bigint[]) is
  'Admin: mark jobs as done by deleting them; jobs locked by a worker (within 4 hours) are left alone. Returns the deleted rows.';
