-- Give back jobs a worker claimed but did not start (local-queue TTL, shutdown). A worker
-- registered by another role is refused (GWA05).
-- now is checked as in every runner function (not null; below the admin level only the server's
-- clock, GWA06) but not used: giving a job back does not depend on the time. It is there so that
-- the runner functions share one calling convention (worker_id first, now last, defaulting to
-- the server's clock; a test or admin script passes the same now to all of them), and it stays
-- because dropping it would break callers that pass it.
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

  return graphile_worker._private_return_jobs(return_jobs.worker_id, job_ids);
end;
$$;

comment on function graphile_worker.return_jobs(text, bigint[], timestamptz) is
  'Runner: give back claimed jobs that were never started: the attempt is refunded and the job and its queue are unlocked. Only rows locked by worker_id are touched; a worker_id registered by another role is GWA05 (below the admin level, a now other than the server''s clock is GWA06). now is not used (returning a job does not depend on the time): it is checked like the now of the other runner functions, whose calling convention it keeps. Returns how many jobs were returned.';
