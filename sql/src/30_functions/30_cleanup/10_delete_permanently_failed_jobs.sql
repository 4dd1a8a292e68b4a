-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.delete_permanently_failed_jobs(task_identifiers text[] default null)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_count integer;
begin
  delete from graphile_worker._private_jobs as jobs
  where jobs.attempts >= jobs.max_attempts
    and jobs.locked_at is null
    and (
      task_identifiers is null
      or jobs.task_id in (
        select t.id from graphile_worker._private_tasks as t
        where t.identifier = any(task_identifiers)
      )
    );
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;

comment on function graphile_worker.delete_permanently_failed_jobs(text[]) is
  'Admin cleanup: delete unlocked jobs whose attempts are used up (optionally only of these tasks). Returns how many were deleted.';
