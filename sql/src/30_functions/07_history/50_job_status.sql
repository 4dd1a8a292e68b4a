-- The state of one job (docs/history.md, "Status"): from the jobs table while it is there,
-- else from the finished-jobs store, else unknown. States: waiting (due), scheduled (run_at in
-- the future, never attempted), running (locked, the lock younger than 4 hours), retrying
-- (attempted and failed, attempts left), failed (no attempts left, still in the jobs table, or
-- recorded as failed), completed, cancelled (recorded), unknown (no such job, or finished
-- without a record). errors lists the failed attempts recorded for the job (tasks with a
-- retention); last_error is the jobs table's, or the recorded one.
-- security definer: producers get EXECUTE on this function and no rights on the private
-- tables, so the function acts with the owner's rights; it pins search_path and qualifies
-- every name.
create function graphile_worker.job_status(job_id bigint, now timestamptz default now())
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
  result_note text
)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select
    job_status.job_id,
    coalesce(q.identifier, f.task_identifier),
    case when q.id is not null then q.queue_name else f.queue_name end,
    case
      when q.id is null then coalesce(f.outcome, 'unknown')
      else graphile_worker._private_inline_job_state(q.locked_at, q.attempts, q.max_attempts, q.run_at,
        job_status.now - graphile_worker._private_lock_expiry(), job_status.now)
    end,
    coalesce(q.attempts, f.attempts),
    coalesce(q.max_attempts, f.max_attempts),
    q.run_at,
    case when q.id is not null then q.last_error
      else f.last_error end,
    case when q.id is null then f.result end,
    coalesce(q.created_at, f.created_at),
    case when q.id is null or (q.attempts >= q.max_attempts and q.locked_at is null)
      then f.finished_at end,
    case when q.id is not null then coalesce(q.errors, '[]'::jsonb)
      else coalesce(f.errors, '[]'::jsonb) end,
    case when q.id is null then f.result_note end
  from (select 1) as one
  left join lateral (
    select jobs.id, tasks.identifier, queues.queue_name, jobs.locked_at, jobs.attempts,
      jobs.max_attempts, jobs.run_at, jobs.last_error, jobs.created_at, e.errors
    from graphile_worker._private_jobs as jobs
    join graphile_worker._private_tasks as tasks on tasks.id = jobs.task_id
    left join graphile_worker._private_job_queues as queues on queues.id = jobs.job_queue_id
    left join graphile_worker._private_attempt_errors as e on e.job_id = jobs.id
    where jobs.id = job_status.job_id
  ) as q on true
  left join graphile_worker._private_finished_jobs as f on f.id = job_status.job_id;
$$;

comment on function graphile_worker.job_status(bigint, timestamptz) is
  'Producer: the state of a job (waiting, scheduled, running, retrying, failed, completed, cancelled or unknown) with its attempts, run_at, last_error, result, times and the errors of its recorded attempts. An unknown id gives one row with state unknown.';

-- security definer: as job_status.
create function graphile_worker.job_status_by_key(job_key text, now timestamptz default now())
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
  result_note text
)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select s.*
  from (
    select coalesce(
      (select jobs.id from graphile_worker._private_jobs as jobs where jobs.key = job_key),
      (select f.id from graphile_worker._private_finished_jobs as f
       where f.key = job_key
       order by f.finished_at desc
       limit 1)) as id
  ) as k,
  graphile_worker.job_status(k.id, job_status_by_key.now) as s;
$$;

comment on function graphile_worker.job_status_by_key(text, timestamptz) is
  'Producer: job_status() of the job that holds this key, else of the last recorded job that had it; state unknown (id null) when neither exists.';

-- Waiting for a job (gw_runner's wait_for_job): the session LISTENs on graphile_worker:finished,
-- calls watch_job, then reads job_status until the job has finished. While the watch exists,
-- the function that finishes the job records it (for at least 10 minutes) and notifies the
-- channel with {"id","outcome"}. unwatch_job ends the watch (null: every watch of the
-- session); prune_finished_jobs removes those of sessions that ended.
-- security definer: producers get EXECUTE and no rights on the private tables.
create function graphile_worker.watch_job(job_id bigint)
returns void
language plpgsql
security definer
strict
set search_path = pg_catalog, pg_temp
as $$
begin
  insert into graphile_worker._private_finish_watches (job_id, backend_pid, watched_at)
  values (watch_job.job_id, pg_catalog.pg_backend_pid(), pg_catalog.now())
  on conflict on constraint finish_watches_pkey do update set watched_at = excluded.watched_at;
end;
$$;

comment on function graphile_worker.watch_job(bigint) is
  'Producer: announce that this session waits for the job: when it finishes, it is recorded for at least 10 minutes and graphile_worker:finished is notified with {"id","outcome"}. End with unwatch_job().';

-- security definer: as watch_job.
create function graphile_worker.unwatch_job(job_id bigint default null)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_count integer;
begin
  delete from graphile_worker._private_finish_watches as w
  where w.backend_pid = pg_catalog.pg_backend_pid()
    and (unwatch_job.job_id is null or w.job_id = unwatch_job.job_id);
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;

comment on function graphile_worker.unwatch_job(bigint) is
  'Producer: end this session''s watch of a job (null: of every job); returns how many watches ended.';
