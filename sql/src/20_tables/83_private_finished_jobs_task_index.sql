-- 0.1.8 (docs/operations.md): list_jobs with a task filter reads the finished-jobs store by
-- this index instead of walking its primary key past every other task's rows. Measured
-- (bench/ops.py, 1,000,000 finished rows): a page of a task with no or few finished rows went
-- from about 100 ms (a full walk or sequential scan) to under 1 ms; recording a finished job
-- costs about 1.7 us more (inserting 200,000 rows: 3.3 s -> 5.1 s per million), well under 1 %
-- of a job's report. (The jobs table gets only jobs_gw_attempted_index, which enqueue and claim
-- never write: every index there slows them.)
create index finished_jobs_task_index on graphile_worker._private_finished_jobs
  (task_identifier, id);
