-- Enqueuers hold this shared transaction-level advisory lock while they resolve task and queue
-- ids; the garbage collectors (gc_task_identifiers, gc_job_queues) take it exclusively, so a
-- task or queue row is never deleted between an enqueuer reading its id and inserting the job.
create function graphile_worker._private_gc_guard()
returns void
language sql
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.pg_advisory_xact_lock_shared(2037542723, 0);
$$;
