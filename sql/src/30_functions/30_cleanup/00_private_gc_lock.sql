-- The guard between enqueuers and the garbage collectors (gc_task_identifiers, gc_job_queues),
-- so a task or queue row is never deleted between an enqueuer reading its id and committing
-- its job. Enqueuers (add_job, add_jobs) take _private_tasks in ROW SHARE mode before they
-- read task and queue ids and keep it until they commit; a collector takes the table in
-- EXCLUSIVE mode, which conflicts with ROW SHARE (and with the ROW EXCLUSIVE of a Node
-- worker inserting a task) but not with the ACCESS SHARE of readers such as get_jobs: it
-- waits for open enqueuing transactions, and enqueuers wait for it while it deletes, then
-- read the rows it left. Table locks, not advisory locks: LOCK TABLE checks the caller's rights
-- on the table first, so no role outside the extension's functions can take or hold them.
-- The collector tries with NOWAIT for at most `wait`: it never queues, so a long application
-- transaction that enqueued a job delays a GC run instead of queueing every new enqueue behind
-- the GC's lock request. Returns false when the lock could not be had in time.
create function graphile_worker._private_gc_lock(wait interval)
returns boolean
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_deadline timestamptz := clock_timestamp() + coalesce(wait, interval '0');
begin
  loop
    begin
      lock table graphile_worker._private_tasks in exclusive mode nowait;
      return true;
    exception when lock_not_available then
      null;  -- an enqueuing transaction is open: try again
    end;
    if clock_timestamp() >= v_deadline then
      return false;
    end if;
    perform pg_catalog.pg_sleep(0.01);
  end loop;
  return false;  -- not reached: the loop only ends by returning
end;
$$;
