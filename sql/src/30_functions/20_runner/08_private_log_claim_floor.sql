-- Logs a job without a queue that becomes available at a place a claim floor may have passed
-- (_private_claim_floor_log). The trigger's WHEN keeps it off the common paths: a claim makes
-- rows unavailable, a failure reschedules into the future, and a job enqueued in a short
-- transaction is written within 200 ms of its run_at. It fires for returned and unlocked jobs,
-- rescheduled or replaced ones with an older run_at, and jobs enqueued with a run_at in the
-- past or late in a long transaction, whoever writes them (our functions, Node workers, SQL).
-- security definer: writers of _private_jobs (Node workers' roles among them) get no rights on
-- the log; the function pins search_path and qualifies every name.
create function graphile_worker._private_log_claim_floor()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  insert into graphile_worker._private_claim_floor_log (task_id, priority, run_at, id)
  values (new.task_id, new.priority, new.run_at, new.id);
  return null;
end;
$$;

comment on function graphile_worker._private_log_claim_floor() is
  'Trigger: logs a job without a queue made available more than 200 ms after its run_at, for get_jobs() claim floors.';

-- 200 ms: keep in step with v_fresh in get_jobs.
create trigger _private_claim_floor_log
  after insert or update on graphile_worker._private_jobs
  for each row
  when (new.is_available and new.job_queue_id is null
    and new.run_at < pg_catalog.clock_timestamp() - interval '200 milliseconds')
  execute function graphile_worker._private_log_claim_floor();
