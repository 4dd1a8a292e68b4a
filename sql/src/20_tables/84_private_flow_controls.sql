-- Flow control (0.1.8, docs/flow-control.md): pauses and fleet-wide limits, read by get_jobs.
-- Keyed by name, not by the ids of _private_tasks and _private_job_queues: a task or queue may
-- be paused or limited before its first job exists, and gc_task_identifiers/gc_job_queues
-- may delete and re-create those rows. Not part of the graphile-worker schema; Node workers do
-- not read them (docs/flow-control.md, "Node workers").

-- One row per task that is paused or has a limit. running_ids: the jobs of the task claimed
-- through get_jobs since the limit was set and, when the row was last refreshed, still locked
-- (a job leaves the set once it is no longer locked, however it was released: reported,
-- returned, swept, unlocked by reset_locked). rate_slots/rate_counts: starts per slot of
-- rate_period / 60, newest last, kept for two periods.
create table graphile_worker._private_task_controls (
  task_identifier text not null,
  paused boolean not null default false,
  max_running integer,
  rate_limit integer,
  rate_period interval,
  running_ids bigint[] not null default '{}',
  rate_slots bigint[] not null default '{}',
  rate_counts integer[] not null default '{}',
  updated_at timestamptz not null default now(),
  constraint task_controls_pkey primary key (task_identifier),
  constraint task_controls_max_running_check check (max_running >= 1),
  constraint task_controls_rate_check check (
    (rate_limit is null and rate_period is null)
    or (rate_limit >= 1 and rate_period >= interval '1 second'
      and rate_period <= interval '7 days')
  )
);

alter table graphile_worker._private_task_controls enable row level security;

-- extension-only:begin
select pg_catalog.pg_extension_config_dump('graphile_worker._private_task_controls', '');
-- extension-only:end

comment on table graphile_worker._private_task_controls is
  'Flow control per task (pause_tasks(), set_task_limits()): paused, max_running, rate_limit per rate_period, with the claimed jobs still running and the recent starts that get_jobs counts against the limits.';

-- One row per paused named queue.
create table graphile_worker._private_queue_controls (
  queue_name text not null,
  paused_at timestamptz not null default now(),
  constraint queue_controls_pkey primary key (queue_name)
);

alter table graphile_worker._private_queue_controls enable row level security;

-- extension-only:begin
select pg_catalog.pg_extension_config_dump('graphile_worker._private_queue_controls', '');
-- extension-only:end

comment on table graphile_worker._private_queue_controls is
  'Paused named queues (pause_queues()): get_jobs claims none of their jobs.';

-- Running jobs whose cancellation was asked for (cancel_jobs()). The job row also has its
-- attempts raised to max_attempts, so it never runs again whatever happens to its runner; the
-- runner's report (or return) of the job deletes it and records it as cancelled.
create table graphile_worker._private_cancel_requests (
  job_id bigint not null,
  requested_at timestamptz not null default now(),
  constraint cancel_requests_pkey primary key (job_id)
);

alter table graphile_worker._private_cancel_requests enable row level security;

-- extension-only:begin
select pg_catalog.pg_extension_config_dump('graphile_worker._private_cancel_requests', '');
-- extension-only:end

comment on table graphile_worker._private_cancel_requests is
  'Running jobs being cancelled (cancel_jobs()): their report or return deletes them and records them as cancelled.';
