-- The stale-worker sweep. Any runner may call it; concurrent sweeps skip each other's worker
-- rows (FOR UPDATE SKIP LOCKED), so each dead worker is processed once. A crash uses up the
-- attempt (not refunded), so a job that kills every worker ends permanently failed. Below the
-- admin level now is the server's clock (GWA06): a runner cannot declare live workers lost.
-- Since 0.1.7 the lost attempt's error is recorded, and a job with no attempts left recorded as
-- failed, when its task keeps history (docs/history.md).
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
  v_message text;
  v_history boolean := graphile_worker._private_history_on();
  v_ids bigint[];
  v_spent graphile_worker._private_jobs[];
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
    v_message := format(
      'worker %s was lost (last heartbeat at %s); the job was released by the stale-worker sweep at %s',
      v_worker.worker_id,
      to_char(v_worker.last_heartbeat_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
      to_char(v_now at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'));
    -- its jobs being cancelled (cancel_jobs) end as cancelled, not released
    if exists (select 1 from graphile_worker._private_cancel_requests) then
      perform graphile_worker._private_finish_cancelled(v_worker.worker_id, array(
        select jobs.id from graphile_worker._private_jobs as jobs
        where jobs.locked_by = v_worker.worker_id and jobs.locked_at is not null));
    end if;
    if v_history then
      -- the lost attempt's error, while the jobs are still locked by the lost worker
      select array_agg(jobs.id) into v_ids
      from graphile_worker._private_jobs as jobs
      where jobs.locked_by = v_worker.worker_id and jobs.locked_at is not null;
      if v_ids is not null then
        perform graphile_worker._private_record_attempt_errors(v_worker.worker_id, v_ids,
          array_fill(v_message, array[cardinality(v_ids)]), v_now);
      end if;
    end if;

    with released as (
      update graphile_worker._private_jobs as jobs
      set
        locked_at = null,
        locked_by = null,
        run_at = greatest(jobs.run_at, v_now) + recovery_delay,
        last_error = v_message
      where jobs.locked_by = v_worker.worker_id
        and jobs.locked_at is not null  -- lets the planner use jobs_gw_locked_index
      returning jobs
    )
    select count(*)::integer,
      array_agg(r.jobs) filter (where (r.jobs).attempts >= (r.jobs).max_attempts)
    into v_count, v_spent
    from released as r;
    if v_history and v_spent is not null then
      -- a job whose last attempt was lost with the worker has failed for good
      perform graphile_worker._private_record_finished(v_spent, 'failed', v_worker.worker_id,
        null, v_now);
    end if;

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

  -- Cancels left over (0.1.8): a job being cancelled that no runner holds any more, and the
  -- request of a job that completed just before its cancel committed, end here.
  if exists (select 1 from graphile_worker._private_cancel_requests) then
    perform graphile_worker._private_finish_cancelled(null, null);
  end if;
end;
$$;

comment on function graphile_worker.recover_stale_workers(interval, timestamptz) is
  'Recovery: for every registered worker whose last heartbeat is older than its stale_after, release its jobs (last_error names the lost worker, run_at delayed by recovery_delay, the attempt is not refunded) and queue locks, and delete the worker. Safe to run from many runners at once. Below the admin level a now other than the server''s clock is GWA06.';
