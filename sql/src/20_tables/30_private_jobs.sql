-- The jobs. Columns, defaults, constraint and index names are those of graphile-worker 0.18
-- (migration 20), so Node workers run against this table unchanged.
create table graphile_worker._private_jobs (
  id bigint generated always as identity (sequence name graphile_worker.jobs_id_seq1),
  job_queue_id integer,
  task_id integer not null,
  payload json default '{}'::json not null,
  priority smallint default 0 not null,
  run_at timestamptz default now() not null,
  attempts smallint default 0 not null,
  max_attempts smallint default 25 not null,
  last_error text,
  created_at timestamptz default now() not null,
  updated_at timestamptz default now() not null,
  key text,
  locked_at timestamptz,
  locked_by text,
  revision integer default 0 not null,
  flags jsonb,
  is_available boolean generated always as ((locked_at is null) and (attempts < max_attempts)) stored not null,
  constraint jobs_pkey1 primary key (id),
  constraint jobs_key_key1 unique (key),
  constraint jobs_key_check check ((length(key) > 0) and (length(key) <= 512)),
  constraint jobs_max_attempts_check check (max_attempts >= 1)
);

create index jobs_main_index on graphile_worker._private_jobs
  using btree (priority, run_at) include (id, task_id, job_queue_id)
  where (is_available = true);

create index jobs_no_queue_index on graphile_worker._private_jobs
  using btree (priority, run_at) include (id, task_id)
  where ((is_available = true) and (job_queue_id is null));

alter table graphile_worker._private_jobs enable row level security;

-- extension-only:begin
select pg_catalog.pg_extension_config_dump('graphile_worker._private_jobs', '');
select pg_catalog.pg_extension_config_dump('graphile_worker.jobs_id_seq1', '');
-- extension-only:end

-- Extension additions (not in graphile-worker's schema; Node workers ignore them). They let
-- get_jobs() claim at a cost that does not grow with jobs it must skip: future jobs (a range
-- per priority), jobs of tasks the runner does not handle (one range per task), and jobs
-- waiting behind a locked named queue (one probe per queue). Within a named queue, jobs with the
-- same priority and run_at (e.g. from one add_jobs call) run in id order: first in, first out.
-- The claim index of jobs without a queue has id in its key (0.1.4) so that a claim can start
-- at a remembered (priority, run_at, id) (_private_claim_floors) instead of walking the entries
-- of jobs claimed before it.
create index jobs_gw_claim_no_queue_index on graphile_worker._private_jobs
  using btree (task_id, priority, run_at, id)
  where (is_available = true and job_queue_id is null);

create index jobs_gw_claim_queue_index on graphile_worker._private_jobs
  using btree (job_queue_id, priority, run_at, id) include (task_id)
  where (is_available = true and job_queue_id is not null);

-- Locked jobs only (a small set: what runners hold right now), so the stale-lock sweep
-- (reset_locked), the stale-worker sweep and force_unlock_workers never scan the whole table.
create index jobs_gw_locked_index on graphile_worker._private_jobs
  using btree (locked_by, locked_at)
  where (locked_at is not null);
