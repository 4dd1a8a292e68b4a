-- Where get_jobs() starts its scans of the claim index of jobs without a queue, per task and
-- priority: no available job of that task and priority sorts before (run_at, id), except jobs
-- whose change is logged in _private_claim_floor_log. Written only by get_jobs (which locks a
-- row, FOR UPDATE SKIP LOCKED, before the snapshot it moves the row with); rows hold derived
-- state, so a dump leaves them out and an empty table is always correct (scans start at the
-- beginning). Not part of the graphile-worker schema.
--
-- Why: a claimed or deleted job leaves its entry in the claim index until vacuum removes it,
-- and while a long transaction holds an old snapshot open vacuum cannot; every claim that
-- starts at the beginning of a priority walks all of those entries (docs/scaling.md, "Long
-- transactions").
create table graphile_worker._private_claim_floors (
  task_id integer not null,
  priority smallint not null,
  run_at timestamptz,  -- null: from the start (a new row)
  id bigint,  -- null: any id
  constraint claim_floors_pkey primary key (task_id, priority)
) with (fillfactor = 50);

alter table graphile_worker._private_claim_floors enable row level security;

comment on table graphile_worker._private_claim_floors is
  'Claim floors: per task and priority, the (run_at, id) before which get_jobs() finds no available job without a queue, except those logged in _private_claim_floor_log; written by get_jobs only.';
