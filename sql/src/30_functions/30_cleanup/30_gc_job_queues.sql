-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.gc_job_queues(wait interval default interval '5 seconds')
returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_count integer;
begin
  if not graphile_worker._private_gc_lock(wait) then
    raise exception 'gc_job_queues could not start: enqueuing transactions are still open after %', wait
      using errcode = 'GWA04',
      detail = 'Garbage collection waits for transactions that enqueued jobs to finish, so it never deletes a queue an enqueuer is about to use.',
      hint = 'Run it again later, or pass a longer wait.';
  end if;

  delete from graphile_worker._private_job_queues as q
  where q.locked_at is null
    and not exists (
      select 1 from graphile_worker._private_jobs as jobs where jobs.job_queue_id = q.id
    );
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;

comment on function graphile_worker.gc_job_queues(interval) is
  'Admin cleanup: delete unlocked queue rows that no job references. Safe while enqueuers and runners run. Returns how many were deleted.';
