-- 0.1.8 (docs/operations.md): list_jobs with a queue filter reads the finished-jobs store by
-- this index instead of walking its primary key past every other row (about 100 ms for a
-- queue with few finished rows among 1,000,000, bench/ops.py). Partial: jobs without a queue,
-- the common case, cost nothing more to record; a job of a named queue about 1.7 us.
create index finished_jobs_queue_index on graphile_worker._private_finished_jobs
  (queue_name, id)
  where queue_name is not null;
