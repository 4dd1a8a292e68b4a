-- Give back jobs a worker claimed but did not start (local-queue TTL, shutdown). A worker
-- registered by another role is refused (GWA05).
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.return_jobs(
  worker_id text,
  job_ids bigint[],
  now timestamptz default now()
)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_count integer;
begin
  perform graphile_worker._private_check_worker_id(return_jobs.worker_id);
  if return_jobs.now is null then
    raise exception 'now must not be null'
      using errcode = 'GWA01', hint = 'Leave now out to use the transaction time.';
  end if;
  if return_jobs.now <> pg_catalog.now() then
    perform graphile_worker._private_check_clock(return_jobs.now, 'return_jobs');
  end if;
  perform graphile_worker._private_check_worker_holder(return_jobs.worker_id, 'return_jobs');

  with returned as (
    update graphile_worker._private_jobs as jobs
    set attempts = greatest(0, jobs.attempts - 1), locked_by = null, locked_at = null
    where jobs.id = any(job_ids)
      and jobs.locked_by = return_jobs.worker_id
    returning jobs.id, jobs.job_queue_id
  ),
  unlocked as (
    update graphile_worker._private_job_queues as q
    set locked_by = null, locked_at = null
    where q.locked_by = return_jobs.worker_id
      and q.id in (select r.job_queue_id from returned as r)
  )
  select count(*) into v_count from returned;
  return v_count;
end;
$$;

comment on function graphile_worker.return_jobs(text, bigint[], timestamptz) is
  'Runner: give back claimed jobs that were never started: the attempt is refunded and the job and its queue are unlocked. Only rows locked by worker_id are touched; a worker_id registered by another role is GWA05 (below the admin level, a now other than the server''s clock is GWA06). Returns how many jobs were returned.';
