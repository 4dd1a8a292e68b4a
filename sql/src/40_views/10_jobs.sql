-- The public view of jobs (graphile-worker 0.18): no payload, task and queue names resolved.
create view graphile_worker.jobs as
select
  jobs.id,
  job_queues.queue_name,
  tasks.identifier as task_identifier,
  jobs.priority,
  jobs.run_at,
  jobs.attempts,
  jobs.max_attempts,
  jobs.last_error,
  jobs.created_at,
  jobs.updated_at,
  jobs.key,
  jobs.locked_at,
  jobs.locked_by,
  jobs.revision,
  jobs.flags
from graphile_worker._private_jobs as jobs
join graphile_worker._private_tasks as tasks on tasks.id = jobs.task_id
left join graphile_worker._private_job_queues as job_queues on job_queues.id = jobs.job_queue_id;

comment on view graphile_worker.jobs is
  'Jobs with task identifier and queue name (without payload), as in graphile-worker 0.18.';
