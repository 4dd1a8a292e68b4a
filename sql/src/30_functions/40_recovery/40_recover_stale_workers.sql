-- The stale-worker sweep. Any runner may call it; concurrent sweeps skip each other's worker
-- rows (FOR UPDATE SKIP LOCKED), so each dead worker is processed once. A crash uses up the
-- attempt (not refunded), so a job that kills every worker ends permanently failed. Below the
-- admin level now is the server's clock (GWA06): a runner cannot declare live workers lost.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.recover_stale_workers(
  recovery_delay interval default interval '0',
  now timestamptz default now()
)
returns table (
  worker_id text,
  last_heartbeat_at timestamptz,
  jobs_recovered integer
)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_now timestamptz := recover_stale_workers.now;
  v_worker record;
  v_count integer;
begin
  if recovery_delay is null or recovery_delay < interval '0' or v_now is null then
    raise exception 'recovery_delay must be a non-negative interval and now must not be null'
      using errcode = 'GWA02',
      detail = format('recovery_delay was %s.', coalesce(recovery_delay::text, 'null')),
      hint = 'Leave recovery_delay out to make recovered jobs runnable at once.';
  end if;
  if v_now <> pg_catalog.now() then
    perform graphile_worker._private_check_clock(v_now, 'recover_stale_workers');
  end if;

  for v_worker in
    select w.worker_id, w.last_heartbeat_at
    from graphile_worker._private_workers as w
    where w.last_heartbeat_at < v_now - w.stale_after
    order by w.worker_id
    for update skip locked
  loop
    update graphile_worker._private_jobs as jobs
    set
      locked_at = null,
      locked_by = null,
      run_at = greatest(jobs.run_at, v_now) + recovery_delay,
      last_error = format(
        'worker %s was lost (last heartbeat at %s); the job was released by the stale-worker sweep at %s',
        v_worker.worker_id,
        to_char(v_worker.last_heartbeat_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        to_char(v_now at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
    where jobs.locked_by = v_worker.worker_id
      and jobs.locked_at is not null;  -- lets the planner use jobs_gw_locked_index
    get diagnostics v_count = row_count;

    update graphile_worker._private_job_queues as q
    set locked_at = null, locked_by = null
    where q.locked_by = v_worker.worker_id;

    delete from graphile_worker._private_workers as w
    where w.worker_id = v_worker.worker_id;

    worker_id := v_worker.worker_id;
    last_heartbeat_at := v_worker.last_heartbeat_at;
    jobs_recovered := v_count;
    return next;
  end loop;
end;
$$;

comment on function graphile_worker.recover_stale_workers(interval, timestamptz) is
  'Recovery: for every registered worker whose last heartbeat is older than its stale_after, release its jobs (last_error names the lost worker, run_at delayed by recovery_delay, the attempt is not refunded) and queue locks, and delete the worker. Safe to run from many runners at once. Below the admin level a now other than the server''s clock is GWA06.';
