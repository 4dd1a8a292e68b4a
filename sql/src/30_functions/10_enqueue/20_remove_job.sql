-- Remove a pending job by key (graphile-worker 0.18 contract). A job that is running (locked,
-- and the lock younger than _private_lock_expiry()) cannot be removed: it loses its key and
-- will not be retried. The key's row is locked first (FOR UPDATE), so an enqueue of the same
-- key waits for this call, and this call for an open enqueue of the same key; callers of other
-- keys never wait (no advisory lock, no bucket). Since 0.1.7 a removed job is recorded as
-- cancelled when its task keeps history (docs/history.md).
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
  for v_round in 1..100 loop
    select * into v_job
    from graphile_worker._private_jobs as jobs
    where jobs.key = remove_job.job_key
    for update;
    exit when found;
    -- No row. If one holding the key was detached while this statement waited for it, the new
    -- job that took the key committed after this statement's snapshot: look again.
    if not exists (
      select 1 from graphile_worker._private_jobs as jobs where jobs.key = remove_job.job_key
    ) then
      return null;
    end if;
  end loop;
  if v_job.id is null then
    return null;
  end if;

  if v_job.locked_at is null
     or v_job.locked_at < now() - graphile_worker._private_lock_expiry() then
    delete from graphile_worker._private_jobs as jobs
    where jobs.id = v_job.id
    returning * into v_job;
    if graphile_worker._private_history_on() then
      perform graphile_worker._private_record_finished(array[v_job], 'cancelled', null, null, now());
    end if;
    if pg_catalog.pg_notification_queue_usage() < 0.5 then
      perform pg_catalog.pg_notify('jobs:insert', '{"r":' || random()::text || ',"count":-1}');
    end if;
    return v_job;
  end if;

  update graphile_worker._private_jobs as jobs
  set key = null, attempts = jobs.max_attempts, updated_at = now()
  where jobs.id = v_job.id
  returning * into v_job;
  return v_job;
end;
$$;

comment on function graphile_worker.remove_job(text) is
  'Delete the pending job with this key (notifies jobs:insert with count -1; recorded as cancelled when its task keeps history); a running job with the key instead loses its key and will not be retried. Returns the row, or null. Waits only for open transactions that enqueued or removed the same key.';
