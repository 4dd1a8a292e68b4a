-- History of finished jobs (0.1.7; docs/history.md). Not part of the graphile-worker schema:
-- Node workers never read or write these tables (a job a Node worker completes leaves no row).
--
-- _private_retention: how long a finished job is kept, per task identifier, with one default
-- row (task_identifier null) for every task without its own. No row at all means nothing is
-- recorded, which is the default: report_jobs then does no extra work.
create table graphile_worker._private_retention (
  task_identifier text,
  keep interval not null,
  set_at timestamptz not null default now(),
  constraint retention_task_identifier_check check (length(task_identifier) between 1 and 128),
  constraint retention_keep_check check (keep >= interval '0')
);

create unique index retention_task_index on graphile_worker._private_retention (task_identifier)
  where task_identifier is not null;
create unique index retention_default_index on graphile_worker._private_retention ((true))
  where task_identifier is null;

alter table graphile_worker._private_retention enable row level security;

comment on table graphile_worker._private_retention is
  'How long finished jobs are kept (set_retention()): one row per task with its own setting, and the default (task_identifier null). No row: nothing is recorded.';

-- _private_finished_jobs: one row per job that completed, failed for good or was cancelled
-- through the extension's functions, written in the same transaction as the job's change.
-- A permanently failed job stays in the jobs table too (graphile-worker keeps it); its row here
-- says when it failed and with which errors. expires_at = finished_at + the task's retention;
-- prune_finished_jobs() deletes past it in batches (docs/history.md says why batches and not
-- dropped partitions).
create table graphile_worker._private_finished_jobs (
  id bigint not null,
  task_identifier text not null,
  queue_name text,
  payload json not null,
  key text,
  priority smallint not null,
  flags jsonb,
  attempts smallint not null,
  max_attempts smallint not null,
  outcome text not null,
  result jsonb,
  result_note text,
  last_error text,
  errors jsonb not null default '[]'::jsonb,
  created_at timestamptz not null,
  first_started_at timestamptz,
  finished_at timestamptz not null,
  worker_id text,
  expires_at timestamptz not null,
  constraint finished_jobs_pkey primary key (id),
  constraint finished_jobs_outcome_check check (outcome in ('completed', 'failed', 'cancelled'))
);

create index finished_jobs_expires_at_index on graphile_worker._private_finished_jobs (expires_at);
create index finished_jobs_key_index on graphile_worker._private_finished_jobs (key, finished_at)
  where key is not null;
create index finished_jobs_finished_at_index on graphile_worker._private_finished_jobs
  (finished_at, id);

alter table graphile_worker._private_finished_jobs enable row level security;

-- extension-only:begin
select pg_catalog.pg_extension_config_dump('graphile_worker._private_retention', '');
select pg_catalog.pg_extension_config_dump('graphile_worker._private_finished_jobs', '');
-- extension-only:end

comment on table graphile_worker._private_finished_jobs is
  'Finished jobs kept for their task''s retention: outcome (completed, failed, cancelled), result, the errors of every attempt, times and worker. Read through job_status() and the finished_jobs view; pruned by prune_finished_jobs().';

-- _private_attempt_errors: the errors of a job's failed attempts while it is still in the
-- jobs table (it retries, or failed for good), newest last and at most 25 (the bounded list of
-- docs/history.md), for tasks with a retention. Moved into the job's finished row when it
-- completes or is cancelled; rows of jobs deleted by other means (a Node worker, an admin's
-- delete) are removed by prune_finished_jobs().
create table graphile_worker._private_attempt_errors (
  job_id bigint not null,
  first_started_at timestamptz,
  errors jsonb not null,
  constraint attempt_errors_pkey primary key (job_id)
);

alter table graphile_worker._private_attempt_errors enable row level security;

-- extension-only:begin
select pg_catalog.pg_extension_config_dump('graphile_worker._private_attempt_errors', '');
-- extension-only:end

comment on table graphile_worker._private_attempt_errors is
  'Errors of the failed attempts of jobs still in the jobs table (tasks with a retention): [{"attempt","started_at","failed_at","worker_id","error"}], newest last, at most 25.';

-- _private_finish_watches: jobs someone waits for (watch_job(), gw_runner's wait_for_job).
-- When such a job finishes, the function that finishes it notifies graphile_worker:finished
-- and records it for at least 10 minutes even without a retention; jobs nobody waits for cost
-- no notification. Unlogged: waiters reconnect and watch again after a crash.
create unlogged table graphile_worker._private_finish_watches (
  job_id bigint not null,
  backend_pid integer not null,
  watched_at timestamptz not null,
  constraint finish_watches_pkey primary key (job_id, backend_pid)
);

alter table graphile_worker._private_finish_watches enable row level security;

comment on table graphile_worker._private_finish_watches is
  'Jobs a session waits for (watch_job()): finishing one notifies graphile_worker:finished with {"id","outcome"}.';
