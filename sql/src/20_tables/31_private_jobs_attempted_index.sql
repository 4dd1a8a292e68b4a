-- 0.1.8 (docs/operations.md): the jobs that were tried and are not running, i.e. those waiting
-- for a retry or failed for good (unlocked, attempts > 0): list_jobs and count_jobs with the
-- states retrying and failed read them here instead of walking the primary key past every
-- waiting job (bench/dashboard.py, 1,000,000 waiting jobs: about 180 ms -> a few ms). An
-- enqueue and a claim add no entry (a new job has no attempt, a claimed one is locked), so
-- they only test the predicate; a failed attempt's report adds one.
create index jobs_gw_attempted_index on graphile_worker._private_jobs
  using btree (id)
  where (attempts > 0 and locked_at is null);
