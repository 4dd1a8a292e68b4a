-- Move jobs to another time (docs/operations.md): a job that is waiting, scheduled or retrying
-- (not running, and with attempts left) gets this run_at; attempts, priority and key are kept.
-- Runners are woken when the time is not in the future. One row per id given, in the order
-- given: rescheduled, and the state the job was in. Left alone: running, cancelling, failed
-- (no attempts left: retry_jobs runs it again), completed, cancelled, unknown.
-- reschedule_jobs (graphile-worker's contract) changes more columns but returns only the rows
-- it changed.
-- security definer: admin-level roles get EXECUTE on this function and no rights on the
-- private tables, so it acts with the owner's rights; it pins search_path and qualifies every
-- name.
create function graphile_worker.run_jobs_at(job_ids bigint[], run_at timestamptz)
returns table (job_id bigint, rescheduled boolean, state text)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_now timestamptz := pg_catalog.now();
  v_ids bigint[];
  v_states text[];
  v_move bigint[];
begin
  perform graphile_worker._private_check_job_ids(run_jobs_at.job_ids, 'run_jobs_at');
  if run_jobs_at.run_at is null then
    raise exception 'run_jobs_at: run_at must not be null'
      using errcode = 'GWF01',
      detail = 'run_jobs_at sets the time the jobs run at.',
      hint = 'Pass now() to run them now, or a later time.';
  end if;
  if run_jobs_at.run_at < '0001-01-02 00:00:00+00'
     or run_jobs_at.run_at >= '9999-12-31 00:00:00+00' then
    raise exception 'run_at must be between 0001-01-02 and 9999-12-30 UTC, not %', run_jobs_at.run_at
      using errcode = 'GWE01',
      detail = 'Runners read run_at back as a date and time: infinity, -infinity and years '
        'outside 1 to 9999 cannot be represented by them (Python''s datetime).',
      hint = 'Pass a time from 0001-01-02 to 9999-12-30 UTC.';
  end if;

  -- The jobs of the jobs table, locked in id order, and what each one is now.
  select s.ids, s.states into v_ids, v_states
  from graphile_worker._private_lock_job_states(run_jobs_at.job_ids, v_now,
    live_lock_first => false) as s;

  v_move := array(
    select s.id from rows from (pg_catalog.unnest(v_ids), pg_catalog.unnest(v_states)) as s(id, st)
    where s.st in ('waiting', 'scheduled', 'retrying'));
  if cardinality(v_move) > 0 then
    -- a stale lock goes: the job is not running
    update graphile_worker._private_jobs as jobs
    set run_at = run_jobs_at.run_at, locked_at = null, locked_by = null, updated_at = v_now
    where jobs.id = any(v_move);
    if run_jobs_at.run_at <= v_now and pg_catalog.pg_notification_queue_usage() < 0.5
       and graphile_worker._private_wake_runners() then
      perform pg_catalog.pg_notify('jobs:insert',
        '{"r":' || random()::text || ',"count":' || cardinality(v_move)::text || '}');
    end if;
  end if;

  return query
  select i.id, coalesce(s.st in ('waiting', 'scheduled', 'retrying'), false),
    coalesce(s.st, f.outcome, 'unknown')
  from pg_catalog.unnest(run_jobs_at.job_ids) with ordinality as i(id, ord)
  left join rows from (pg_catalog.unnest(v_ids), pg_catalog.unnest(v_states)) as s(id, st)
    on s.id = i.id
  left join graphile_worker._private_finished_jobs as f on f.id = i.id and s.id is null
  order by i.ord;
end;
$$;

comment on function graphile_worker.run_jobs_at(bigint[], timestamptz) is
  'Admin: set run_at of waiting, scheduled and retrying jobs (not running, attempts left), waking runners when it is not in the future. One row per id given: rescheduled, and the state it was in (running, cancelling, failed, completed, cancelled and unknown are left alone). An empty array, a null id, more than 10000 ids or a null run_at: GWF01; a run_at outside 0001-01-02..9999-12-30 UTC: GWE01.';
