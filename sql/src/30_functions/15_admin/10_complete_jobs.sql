-- Admin: delete jobs that are not locked (graphile-worker 0.18 contract); a lock older than
-- _private_lock_expiry() has expired and does not count. Since 0.1.7 the deleted jobs are
-- recorded as completed (no result) when their task keeps history (docs/history.md).
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.complete_jobs(job_ids bigint[])
returns setof graphile_worker._private_jobs
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_rows graphile_worker._private_jobs[];
begin
  with done as (
    delete from graphile_worker._private_jobs as jobs
    where jobs.id = any(job_ids)
      and (jobs.locked_at is null or jobs.locked_at < now() - graphile_worker._private_lock_expiry())
    returning jobs
  )
  select array_agg(done.jobs) into v_rows from done;
  if v_rows is not null and graphile_worker._private_history_on() then
    perform graphile_worker._private_record_finished(v_rows, 'completed', null, null, now());
  end if;
  return query select * from pg_catalog.unnest(v_rows);
end;
$$;

comment on function graphile_worker.complete_jobs(bigint[]) is
  'Admin: mark jobs as done by deleting them (recorded as completed when their task keeps history); jobs locked by a worker (within 4 hours) are left alone. Returns the deleted rows.';
