-- Admin: change run_at / priority / attempts / max_attempts of jobs that are not locked
-- (graphile-worker 0.18 contract); a null argument keeps the current value.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.reschedule_jobs(
  job_ids bigint[],
  run_at timestamptz default null,
  priority integer default null,
  attempts integer default null,
  max_attempts integer default null
)
returns setof graphile_worker._private_jobs
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$
  update graphile_worker._private_jobs as jobs
  set
    run_at = coalesce(reschedule_jobs.run_at, jobs.run_at),
    priority = coalesce(reschedule_jobs.priority::smallint, jobs.priority),
    attempts = coalesce(reschedule_jobs.attempts::smallint, jobs.attempts),
    max_attempts = coalesce(reschedule_jobs.max_attempts::smallint, jobs.max_attempts),
    updated_at = now()
  where jobs.id = any(job_ids)
    and (jobs.locked_at is null or jobs.locked_at < now() - interval '4 hours')
  returning *;
$$;

comment on function graphile_worker.reschedule_jobs(bigint[], timestamptz, integer, integer, integer) is
  'Admin: change run_at, priority, attempts or max_attempts of jobs that are not locked (null keeps the value). Returns the changed rows.';
