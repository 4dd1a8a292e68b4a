-- 1,000,000 jobs that no runner of task `noop` may run now, the upstream "full scan" cases:
-- 250k in the future, 250k permanently failed, 250k waiting behind two locked named queues,
-- 250k of a task no runner handles. The last two sit at a higher priority (-1) than the
-- runnable jobs, so a scan in (priority, run_at) order would meet them first. Run
-- `vacuum analyze graphile_worker._private_jobs` afterwards (bench/run.py does).
select count(*) from graphile_worker.add_jobs(array(
  select row('noop', '{}'::json, null, now() + interval '1 day', null, null, null, null)::graphile_worker.job_spec
  from generate_series(1, 250000)));
select count(*) from graphile_worker.add_jobs(array(
  select row('noop', '{}'::json, null, null, 1::smallint, null, null, null)::graphile_worker.job_spec
  from generate_series(1, 250000)));
update graphile_worker._private_jobs set attempts = 1, last_error = 'failed for good'
where max_attempts = 1;
select count(*) from graphile_worker.add_jobs(array(
  select row('noop', '{}'::json, 'stuck' || (i % 2), now() - interval '1 hour', null, null, -1::smallint, null)::graphile_worker.job_spec
  from generate_series(1, 250000) as i));
update graphile_worker._private_job_queues set locked_at = now(), locked_by = 'elsewhere'
where queue_name like 'stuck%';
select count(*) from graphile_worker.add_jobs(array(
  select row('not_handled', '{}'::json, null, now() - interval '1 hour', null, null, -1::smallint, null)::graphile_worker.job_spec
  from generate_series(1, 250000)));
