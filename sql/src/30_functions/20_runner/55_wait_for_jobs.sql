-- A runner found nothing to claim: mark it waiting (_private_wait_marks), so that the next
-- add_job or add_jobs notifies jobs:insert, and return when the next not-yet-due job of these
-- tasks becomes runnable (as next_job_due_at). While no runner waits, enqueuers do not notify,
-- and so do not queue behind the lock a notifying commit takes. The runner must claim again
-- right after this call (a job committed before the mark was visible found no runner waiting),
-- and again after short, growing pauses while it waits (an enqueue whose transaction was still
-- open when the mark was written commits later without notifying); gw_runner claims after 50,
-- 100, 200 ms and so on, up to its poll interval. waiting => false removes the worker's mark
-- (at shutdown). Marks older than 10 minutes count for nothing and are removed now and then. A
-- worker registered by another role is refused (GWA05) unless the caller is admin-level.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.wait_for_jobs(
  worker_id text,
  task_identifiers text[],
  forbidden_flags text[] default null,
  waiting boolean default true
)
returns timestamptz
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform graphile_worker._private_check_worker_id(wait_for_jobs.worker_id);
  perform graphile_worker._private_check_worker_holder(wait_for_jobs.worker_id, 'wait_for_jobs');
  if wait_for_jobs.waiting is not true then
    delete from graphile_worker._private_wait_marks as m
    where m.worker_id = wait_for_jobs.worker_id;
    return null;
  end if;

  insert into graphile_worker._private_wait_marks as m (worker_id, waiting, marked_at)
  values (wait_for_jobs.worker_id, true, pg_catalog.now())
  on conflict on constraint wait_marks_pkey do update
  set waiting = true, marked_at = excluded.marked_at;
  if pg_catalog.random() < 0.01 then
    delete from graphile_worker._private_wait_marks as m
    where m.marked_at < pg_catalog.now() - interval '10 minutes';
  end if;

  return graphile_worker.next_job_due_at(task_identifiers, forbidden_flags);
end;
$$;

comment on function graphile_worker.wait_for_jobs(text, text[], text[], boolean) is
  'Runner: nothing is claimable now; mark this worker waiting, so the next add_job/add_jobs notifies jobs:insert (enqueuers do not notify while no runner waits), and return next_job_due_at(task_identifiers, forbidden_flags). Claim again right after, and after short pauses while waiting. waiting => false removes the mark. A worker registered by another role is GWA05 (unless the caller is admin-level).';
