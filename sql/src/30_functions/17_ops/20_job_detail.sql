-- Everything known about one job: job_status() plus its payload and the columns an operator
-- looks at (priority, key, lock, flags, when its first attempt started, the worker of its
-- finished record). From the jobs table while the job is there, else from the finished-jobs
-- store; no row for an id in neither.
-- security definer: monitor-level roles get EXECUTE on this function and no rights on the
-- private tables, so it acts with the owner's rights; it pins search_path and qualifies every
-- name.
create function graphile_worker.job_detail(job_id bigint)
returns table (
  id bigint,
  task_identifier text,
  queue_name text,
  state text,
  attempts smallint,
  max_attempts smallint,
  run_at timestamptz,
  last_error text,
  result jsonb,
  created_at timestamptz,
  finished_at timestamptz,
  errors jsonb,
  result_note text,
  payload json,
  priority smallint,
  key text,
  locked_by text,
  locked_at timestamptz,
  flags jsonb,
  first_started_at timestamptz,
  worker_id text,
  updated_at timestamptz,
  expires_at timestamptz
)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select s.id, s.task_identifier, s.queue_name, s.state, s.attempts, s.max_attempts, s.run_at,
    s.last_error, s.result, s.created_at, s.finished_at, s.errors, s.result_note,
    coalesce(j.payload, f.payload),
    coalesce(j.priority, f.priority),
    case when j.id is not null then j.key else f.key end,
    j.locked_by,
    j.locked_at,
    case when j.id is not null then j.flags else f.flags end,
    coalesce(f.first_started_at, e.first_started_at),
    f.worker_id,
    j.updated_at,
    f.expires_at
  from graphile_worker.job_status(job_detail.job_id) as s
  left join graphile_worker._private_jobs as j on j.id = s.id
  left join graphile_worker._private_finished_jobs as f on f.id = s.id
  left join graphile_worker._private_attempt_errors as e on e.job_id = s.id
  where s.state <> 'unknown';
$$;

comment on function graphile_worker.job_detail(bigint) is
  'Monitor: one row with job_status() of the job plus payload, priority, key, locked_by, locked_at, flags, first_started_at, worker_id (of its finished record), updated_at and expires_at; no row for an unknown id. Shows the payload: monitor level, not producer.';
