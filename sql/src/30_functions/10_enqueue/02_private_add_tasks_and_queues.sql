-- Create the task identifiers and queue names of these specs that do not exist yet (add_jobs, and
-- add_job's unsafe_dedupe). Only missing ones are inserted, so an existing identifier or queue
-- name burns no identity value (#619); ON CONFLICT covers a concurrent enqueuer creating the same
-- one. Callers hold the enqueuers' ROW SHARE lock on _private_tasks (see _private_gc_lock), so
-- what exists or is created here stays until they commit.
create function graphile_worker._private_add_tasks_and_queues(specs graphile_worker.job_spec[])
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  insert into graphile_worker._private_tasks (identifier)
  select distinct s.identifier
  from pg_catalog.unnest(specs) as s
  where not exists (
    select 1 from graphile_worker._private_tasks as t where t.identifier = s.identifier
  )
  on conflict do nothing;

  insert into graphile_worker._private_job_queues (queue_name)
  select distinct s.queue_name
  from pg_catalog.unnest(specs) as s
  where s.queue_name is not null
    and not exists (
      select 1 from graphile_worker._private_job_queues as q where q.queue_name = s.queue_name
    )
  on conflict do nothing;
end;
$$;

comment on function graphile_worker._private_add_tasks_and_queues(graphile_worker.job_spec[]) is
  'Private: create the missing task identifiers and queue names of these specs, burning no identity value for existing ones.';
