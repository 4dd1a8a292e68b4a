-- Give back jobs a worker claimed (return_jobs, return_unheld_jobs): the attempt counted at
-- checkout is refunded, and the job and its named queue are unlocked. Only jobs this worker
-- still locks are touched; one cancelled meanwhile (cancel_jobs) is deleted and recorded as
-- cancelled instead. Returns how many jobs were given back or so cancelled.
create function graphile_worker._private_return_jobs(worker_id text, job_ids bigint[])
returns integer
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_count integer;
  v_queue_ids integer[];
begin
  with returned as (
    update graphile_worker._private_jobs as jobs
    set attempts = greatest(0, jobs.attempts - 1), locked_by = null, locked_at = null
    where jobs.id = any(job_ids)
      and jobs.locked_by = _private_return_jobs.worker_id
    returning jobs.job_queue_id
  )
  select count(*), array_agg(r.job_queue_id) filter (where r.job_queue_id is not null)
  into v_count, v_queue_ids
  from returned as r;
  perform graphile_worker._private_unlock_job_queues(_private_return_jobs.worker_id, v_queue_ids);
  -- jobs being cancelled (cancel_jobs) end here, as cancelled: looked up after their rows were
  -- locked, in a new snapshot, so a cancel that committed meanwhile is seen
  if v_count > 0 and exists (select 1 from graphile_worker._private_cancel_requests) then
    perform graphile_worker._private_finish_cancelled(null, null);
  end if;
  return v_count;
end;
$$;

comment on function graphile_worker._private_return_jobs(text, bigint[]) is
  'Private: give back jobs worker_id claimed: refund the attempt, unlock each job and its queue; only jobs that worker still locks; those being cancelled end as cancelled. Returns their number.';
