-- Give back every job a worker has locked except those it holds: for a runner that lost the
-- result of a claim (the connection dropped after get_jobs committed), whose jobs would
-- otherwise stay locked by a live worker until reset_locked's 4-hour rule. A worker registered
-- by another role is refused (GWA05). now is checked and not used, as in return_jobs (see there).
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.return_unheld_jobs(
  worker_id text,
  held_job_ids bigint[],
  now timestamptz default now()
)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if return_unheld_jobs.worker_id is null or return_unheld_jobs.worker_id = ''
     or length(return_unheld_jobs.worker_id) > 128 then
    perform graphile_worker._private_check_worker_id(return_unheld_jobs.worker_id);
  end if;
  if held_job_ids is null then
    raise exception 'held_job_ids must not be null'
      using errcode = 'GWA01',
      detail = 'Every job locked by the worker and not in held_job_ids is given back.',
      hint = 'Pass the ids of the jobs the worker still holds, or an empty array for none.';
  end if;
  if return_unheld_jobs.now is null then
    raise exception 'now must not be null'
      using errcode = 'GWA01', hint = 'Leave now out to use the transaction time.';
  end if;
  if return_unheld_jobs.now <> pg_catalog.now() then
    perform graphile_worker._private_check_clock(return_unheld_jobs.now, 'return_unheld_jobs');
  end if;
  perform graphile_worker._private_check_worker_holder(return_unheld_jobs.worker_id,
    'return_unheld_jobs');

  return graphile_worker._private_return_jobs(return_unheld_jobs.worker_id, array(
    select jobs.id
    from graphile_worker._private_jobs as jobs
    where jobs.locked_by = return_unheld_jobs.worker_id
      and jobs.locked_at is not null
      and not (jobs.id = any(held_job_ids))
  ));
end;
$$;

comment on function graphile_worker.return_unheld_jobs(text, bigint[], timestamptz) is
  'Runner: give back every job locked by worker_id except held_job_ids (for a runner that lost the result of a claim): the attempt is refunded and the job and its queue are unlocked; a worker_id registered by another role is GWA05 (below the admin level, a now other than the server''s clock is GWA06). now is not used (returning a job does not depend on the time): it is checked like the now of the other runner functions, whose calling convention it keeps. Returns how many jobs were returned.';
