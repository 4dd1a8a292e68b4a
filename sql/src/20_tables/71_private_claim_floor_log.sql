-- Jobs without a queue that became available at a place that may lie below a claim floor:
-- returned, unlocked, rescheduled or enqueued with a run_at more than 200 ms before the row was
-- written (a row written within 200 ms of its run_at is covered by how far get_jobs lets a
-- floor advance). The trigger on _private_jobs (_private_log_claim_floor) writes a row; the next
-- claim for the task starts below it and deletes it when it moves the floor. Derived state,
-- not dumped. Not part of the graphile-worker schema.
create table graphile_worker._private_claim_floor_log (
  task_id integer not null,
  priority smallint not null,
  run_at timestamptz not null,
  id bigint not null
);

create index claim_floor_log_position_index on graphile_worker._private_claim_floor_log
  using btree (task_id, priority, run_at, id);

alter table graphile_worker._private_claim_floor_log enable row level security;

comment on table graphile_worker._private_claim_floor_log is
  'Jobs without a queue made available below where a claim floor may stand (returned, unlocked, rescheduled, enqueued late); read and deleted by get_jobs().';
