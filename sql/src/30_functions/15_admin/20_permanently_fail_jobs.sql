-- Admin: stop retrying jobs that are not locked (graphile-worker 0.18 contract); a lock older
-- than _private_lock_expiry() has expired and does not count. Since 0.1.7 the jobs are
-- recorded as failed when their task keeps history (docs/history.md); they stay in the jobs
-- table, as in graphile-worker.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.permanently_fail_jobs(job_ids bigint[], error_message text default null)
returns setof graphile_worker._private_jobs
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_rows graphile_worker._private_jobs[];
begin
  with failed as (
    update graphile_worker._private_jobs as jobs
    set
      last_error = coalesce(error_message, 'Manually marked as failed'),
      attempts = jobs.max_attempts,
      updated_at = now()
    where jobs.id = any(job_ids)
      and (jobs.locked_at is null or jobs.locked_at < now() - graphile_worker._private_lock_expiry())
    returning jobs
  )
  select array_agg(failed.jobs) into v_rows from failed;
  if v_rows is not null and graphile_worker._private_history_on() then
    perform graphile_worker._private_record_finished(v_rows, 'failed', null, null, now());
  end if;
  return query select * from pg_catalog.unnest(v_rows);
end;
$$;

comment on function graphile_worker.permanently_fail_jobs(bigint[], text) is
  'Admin: mark jobs as permanently failed (attempts = max_attempts, last_error set; recorded as failed when their task keeps history); locked jobs are left alone. Returns the changed rows.';
