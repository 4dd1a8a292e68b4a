-- The stale-lock sweep (upstream's resetLocked): locks older than the threshold (4 hours by
-- default, as in graphile-worker) are cleared on jobs and queues. Below the admin level the
-- threshold is at least 4 hours and now is the server's clock (GWA06): otherwise any runner
-- could release (or, with now = 'infinity', strand) the jobs that live workers hold. The 4 hours
-- are _private_lock_expiry(); the default of older_than and the messages spell them out, as
-- they are what callers see.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.reset_locked(
  older_than interval default interval '4 hours',
  now timestamptz default now()
)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_now timestamptz := reset_locked.now;
  v_count integer;
begin
  if older_than is null or v_now is null then
    raise exception 'older_than and now must not be null'
      using errcode = 'GWA01',
      detail = format('older_than was %s, now was %s.',
        coalesce(older_than::text, 'null'), coalesce(v_now::text, 'null')),
      hint = 'Leave both out for the 4-hour rule at the current time.';
  end if;
  if older_than < interval '0' then
    raise exception 'older_than must not be negative, not %', older_than
      using errcode = 'GWA02',
      detail = 'Locks older than older_than are cleared; a negative age would clear locks taken in the future.',
      hint = 'Leave it out for the 4-hour rule, or pass a positive interval.';
  end if;
  if v_now <> pg_catalog.now() then
    perform graphile_worker._private_check_clock(v_now, 'reset_locked');
  end if;
  if older_than < graphile_worker._private_lock_expiry()
     and not graphile_worker._private_caller_is_admin() then
    raise exception 'reset_locked: only admin-level roles may pass an older_than below 4 hours, not %',
      older_than
      using errcode = 'GWA06',
      detail = 'Below the admin level a lock is cleared only after 4 hours (the graphile-worker '
        'rule): a shorter threshold would release jobs that live workers hold.',
      hint = 'Leave older_than out. The jobs of a crashed registered runner are released by '
        'recover_stale_workers(); admin scripts and tests call as an admin-level role.';
  end if;

  update graphile_worker._private_jobs as jobs
  set locked_at = null, locked_by = null, run_at = greatest(jobs.run_at, v_now)
  where jobs.locked_at < v_now - older_than;
  get diagnostics v_count = row_count;

  update graphile_worker._private_job_queues as q
  set locked_at = null, locked_by = null
  where q.locked_at < v_now - older_than;

  -- jobs being cancelled (cancel_jobs) whose lock was cleared end as cancelled
  if v_count > 0 and exists (select 1 from graphile_worker._private_cancel_requests) then
    perform graphile_worker._private_finish_cancelled(null, null);
  end if;

  return v_count;
end;
$$;

comment on function graphile_worker.reset_locked(interval, timestamptz) is
  'Runner/admin: unlock jobs and queues locked for longer than older_than (default 4 hours, the graphile-worker rule); such jobs run again from greatest(run_at, now); attempts are not refunded. Below the admin level older_than must be at least 4 hours and now the server''s clock (GWA06). Returns the number of jobs unlocked.';
