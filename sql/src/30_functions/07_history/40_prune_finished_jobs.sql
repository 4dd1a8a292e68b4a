-- Delete finished jobs past their expiry, oldest expiry first, at most max_rows per call, so a
-- call holds few row locks and a short transaction; the runner calls it again while it returns
-- a full batch (docs/history.md, "Pruning", for the numbers that chose batches over dropped
-- partitions). One pruner at a time: a call that finds another running returns 0 at once.
-- It also removes the attempt errors of jobs that left the jobs table by other means (a Node
-- worker, delete_permanently_failed_jobs) and the watches of sessions that ended. Below the
-- admin level now is the server's clock (GWA06): a runner cannot prune what is still kept.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.prune_finished_jobs(
  max_rows integer default 10000,
  now timestamptz default now()
)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_now timestamptz := prune_finished_jobs.now;
  v_count integer;
begin
  if max_rows is null or max_rows not between 1 and 1000000 then
    raise exception 'prune_finished_jobs: max_rows must be from 1 to 1000000, not %',
      coalesce(max_rows::text, 'null')
      using errcode = 'GWH01',
      detail = 'Each call deletes at most max_rows rows, so its transaction stays short.',
      hint = 'Leave it out for 10000, and call again while the result equals max_rows.';
  end if;
  if v_now is null then
    raise exception 'prune_finished_jobs: now must not be null'
      using errcode = 'GWA01', hint = 'Leave now out to use the transaction time.';
  end if;
  if v_now <> pg_catalog.now() then
    perform graphile_worker._private_check_clock(v_now, 'prune_finished_jobs');
  end if;
  -- One pruner at a time: SHARE ROW EXCLUSIVE on the retention table conflicts with itself (and
  -- with set_retention's writes) but not with the reads of the functions that finish jobs. A
  -- lock on a table of the extension, which LOCK TABLE grants only to roles with rights on the
  -- table: no role outside the extension's functions can take or hold it.
  begin
    lock table graphile_worker._private_retention in share row exclusive mode nowait;
  exception when lock_not_available then
    return 0;
  end;

  delete from graphile_worker._private_finished_jobs as f
  where f.id in (
    select p.id from graphile_worker._private_finished_jobs as p
    where p.expires_at < v_now
    order by p.expires_at
    limit max_rows
    for update skip locked
  );
  get diagnostics v_count = row_count;

  delete from graphile_worker._private_attempt_errors as e
  where e.job_id in (
    select a.job_id from graphile_worker._private_attempt_errors as a
    where not exists (select 1 from graphile_worker._private_jobs as jobs where jobs.id = a.job_id)
    limit max_rows
  );

  delete from graphile_worker._private_finish_watches as w
  where not exists (
    select 1 from pg_catalog.pg_stat_activity as s where s.pid = w.backend_pid);

  return v_count;
end;
$$;

comment on function graphile_worker.prune_finished_jobs(integer, timestamptz) is
  'Runner/admin: delete at most max_rows (1 to 1000000, default 10000) finished jobs past their retention, oldest expiry first, and the leftovers of jobs deleted by other means; returns the number of finished jobs deleted (0 when another prune is running). Call again while it returns max_rows. Below the admin level now is the server''s clock (GWA06).';
