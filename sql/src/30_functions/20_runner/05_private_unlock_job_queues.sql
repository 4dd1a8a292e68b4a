-- Unlock the named queues of jobs a worker is done with (reported by report_jobs, given back by
-- _private_return_jobs for return_jobs and return_unheld_jobs): get_jobs locks a job's queue row
-- together with the job, and the queue stays locked, running nothing else, until that job is
-- reported or returned. job_queue_ids are those jobs' queue ids (null for none: nothing to
-- do); only queue rows this worker still locks are touched, so a queue another worker locked
-- since is left alone. Callers update their jobs first, then call this: the order of
-- reset_locked and force_unlock_workers (jobs, then queues), so none of them waits for another
-- in a cycle.
create function graphile_worker._private_unlock_job_queues(worker_id text, job_queue_ids integer[])
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  if job_queue_ids is null then
    return;
  end if;
  update graphile_worker._private_job_queues as q
  set locked_by = null, locked_at = null
  where q.id = any(job_queue_ids)
    and q.locked_by = _private_unlock_job_queues.worker_id;
end;
$$;

comment on function graphile_worker._private_unlock_job_queues(text, integer[]) is
  'Private: unlock the named queues (job_queue_ids) of jobs worker_id reported or gave back, where that worker still locks them.';
