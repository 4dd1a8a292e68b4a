-- Admin: change run_at / priority / attempts / max_attempts of jobs that are not locked
-- (graphile-worker 0.18 contract; a lock older than _private_lock_expiry() does not count); a
-- null argument keeps the current value. The arguments are checked before any row is touched,
-- with upstream's SQLSTATEs (23514 for max_attempts < 1, 22003 outside smallint) but a message
-- with DETAIL and HINT instead of the failing row; GWE01 for a run_at no client can read back;
-- a negative attempts is rejected (22003), where upstream stores it.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.reschedule_jobs(
  job_ids bigint[],
  run_at timestamptz default null,
  priority integer default null,
  attempts integer default null,
  max_attempts integer default null
)
returns setof graphile_worker._private_jobs
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if reschedule_jobs.run_at < '0001-01-02 00:00:00+00'
     or reschedule_jobs.run_at >= '9999-12-31 00:00:00+00' then
    raise exception 'run_at must be between 0001-01-02 and 9999-12-30 UTC, not %', reschedule_jobs.run_at
      using errcode = 'GWE01',
      detail = 'Runners read run_at back as a date and time: infinity, -infinity and years '
        'outside 1 to 9999 cannot be represented by them (Python''s datetime).',
      hint = 'Pass null to keep each job''s run_at, or a time from 0001-01-02 to 9999-12-30 UTC.';
  end if;
  if reschedule_jobs.priority not between -32768 and 32767 then
    raise exception 'smallint out of range: priority % is outside -32768..32767', reschedule_jobs.priority
      using errcode = 'numeric_value_out_of_range',
      detail = 'priority is stored as a smallint; lower numbers run first.',
      hint = 'Pass a priority from -32768 to 32767, or null to keep each job''s priority.';
  end if;
  if reschedule_jobs.attempts not between 0 and 32767 then
    raise exception 'attempts must be between 0 and 32767, not %', reschedule_jobs.attempts
      using errcode = 'numeric_value_out_of_range',
      detail = 'attempts counts the attempts made so far and is stored as a smallint; a negative '
        'count is rejected (graphile-worker 0.18 stores it).',
      hint = 'Pass 0 to give the jobs all their attempts again, or null to keep each job''s count.';
  end if;
  if reschedule_jobs.max_attempts < 1 then
    raise exception 'max_attempts must be at least 1, not %', reschedule_jobs.max_attempts
      using errcode = 'check_violation', constraint = 'jobs_max_attempts_check',
      detail = 'A job needs at least one attempt.',
      hint = 'Pass a number from 1 to 32767, or null to keep each job''s max_attempts.';
  end if;
  if reschedule_jobs.max_attempts > 32767 then
    raise exception 'smallint out of range: max_attempts % is above 32767', reschedule_jobs.max_attempts
      using errcode = 'numeric_value_out_of_range',
      detail = 'max_attempts is stored as a smallint.',
      hint = 'Pass a number from 1 to 32767, or null to keep each job''s max_attempts.';
  end if;

  return query
  update graphile_worker._private_jobs as jobs
  set
    run_at = coalesce(reschedule_jobs.run_at, jobs.run_at),
    priority = coalesce(reschedule_jobs.priority::smallint, jobs.priority),
    attempts = coalesce(reschedule_jobs.attempts::smallint, jobs.attempts),
    max_attempts = coalesce(reschedule_jobs.max_attempts::smallint, jobs.max_attempts),
    updated_at = now()
  where jobs.id = any(job_ids)
    and (jobs.locked_at is null or jobs.locked_at < now() - graphile_worker._private_lock_expiry())
  returning jobs.*;
end;
$$;

comment on function graphile_worker.reschedule_jobs(bigint[], timestamptz, integer, integer, integer) is
  'Admin: change run_at, priority, attempts or max_attempts of jobs that are not locked (null keeps the value). Returns the changed rows. Arguments are checked first: run_at from 0001-01-02 to 9999-12-30 UTC, priority a smallint, attempts 0..32767, max_attempts 1..32767.';
