-- DEV ONLY (never moved into sql/src): the contract objects the cron code uses, so that the
-- cron functions can be developed before the lead's tables and add_job land in sql/src.
create schema if not exists graphile_worker;
create table if not exists graphile_worker._private_known_crontabs (
  identifier text not null,
  known_since timestamptz not null,
  last_execution timestamptz,
  constraint known_crontabs_pkey primary key (identifier)
);
create table if not exists graphile_worker._stub_jobs (
  id bigint generated always as identity primary key,
  task_identifier text not null,
  payload json not null,
  queue_name text,
  run_at timestamptz not null,
  max_attempts int not null,
  key text unique,
  priority int not null,
  revision int not null default 0
);
create or replace function graphile_worker.add_job(
  identifier text, payload json = null, queue_name text = null, run_at timestamptz = null,
  max_attempts int = null, job_key text = null, priority int = null, flags text[] = null,
  job_key_mode text = 'replace'
) returns graphile_worker._stub_jobs
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_job graphile_worker._stub_jobs;
begin
  insert into graphile_worker._stub_jobs as j
    (task_identifier, payload, queue_name, run_at, max_attempts, key, priority)
  values (identifier, coalesce(payload, '{}'), queue_name, coalesce(run_at, now()),
    coalesce(max_attempts, 25), job_key, coalesce(priority, 0))
  on conflict (key) do update set
    task_identifier = excluded.task_identifier, payload = excluded.payload,
    queue_name = excluded.queue_name,
    run_at = case when job_key_mode = 'preserve_run_at' then j.run_at else excluded.run_at end,
    max_attempts = excluded.max_attempts, priority = excluded.priority,
    revision = j.revision + 1
  returning * into v_job;
  return v_job;
end;
$$;
