-- Autovacuum settings of the queue's tables (0.1.6). Every job is inserted, updated when it is
-- claimed and deleted when it is done, so the jobs table and its indexes fill with dead row
-- versions at the rate jobs flow; the small tables beside it (queue locks, claim floors,
-- workers, the claim clock and log, wait marks) are rewritten as often while staying a few
-- pages. Vacuum starts on a table once its dead rows pass threshold + scale factor x its rows:
-- by default 50 + 20 %, which for a jobs table holding a large backlog (scheduled jobs) lets
-- dead rows reach a fifth of it before vacuum comes. Here vacuum comes after 1 % (plus 1,000
-- rows) and gets a 10x budget for the jobs table; the small tables are vacuumed without pauses.
-- The contract (docs/compatibility.md) covers columns, constraints and indexes, not storage
-- parameters, and Node workers do not read them. Measured with bench/sustained.py
-- (docs/scaling.md, "Hours of volume"); a user's own `alter table ... set (...)` overrides
-- them, and `ALTER EXTENSION ... UPDATE` does not touch them again.
alter table graphile_worker._private_jobs set (
  autovacuum_vacuum_scale_factor = 0.01,
  autovacuum_vacuum_threshold = 1000,
  autovacuum_analyze_scale_factor = 0.02,
  autovacuum_vacuum_cost_limit = 2000
);

alter table graphile_worker._private_job_queues set (autovacuum_vacuum_cost_delay = 0);
alter table graphile_worker._private_claim_floors set (autovacuum_vacuum_cost_delay = 0);
alter table graphile_worker._private_claim_floor_log set (autovacuum_vacuum_cost_delay = 0);
alter table graphile_worker._private_claim_clock set (autovacuum_vacuum_cost_delay = 0);
alter table graphile_worker._private_workers set (autovacuum_vacuum_cost_delay = 0);
alter table graphile_worker._private_wait_marks set (autovacuum_vacuum_cost_delay = 0);
-- 0.1.8: a limited task's control row is rewritten by each claim of the task
alter table graphile_worker._private_task_controls set (autovacuum_vacuum_cost_delay = 0);

-- 0.1.7: the finished-jobs store is appended to in finished_at order and pruned from the
-- other end in batches; vacuum after 1 % + 1,000 dead rows keeps its size level
-- (docs/history.md, "Pruning").
alter table graphile_worker._private_finished_jobs set (
  autovacuum_vacuum_scale_factor = 0.01,
  autovacuum_vacuum_threshold = 1000,
  autovacuum_vacuum_cost_limit = 2000
);
alter table graphile_worker._private_attempt_errors set (autovacuum_vacuum_cost_delay = 0);
alter table graphile_worker._private_finish_watches set (autovacuum_vacuum_cost_delay = 0);
