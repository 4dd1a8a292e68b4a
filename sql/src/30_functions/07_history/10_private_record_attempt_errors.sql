-- Append the error of a failed attempt to each job's list (_private_attempt_errors), for jobs
-- still locked by worker_id whose task keeps history or that someone waits for. The rows are
-- locked first, so a concurrent sweep cannot release a job between the check and the write.
-- started_at is the attempt's start (the job's locked_at). The list keeps the newest 25
-- entries; an error text is kept up to 8,000 characters (the job's last_error keeps it whole).
create function graphile_worker._private_record_attempt_errors(
  worker_id text,
  job_ids bigint[],
  messages text[],
  now timestamptz
)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  insert into graphile_worker._private_attempt_errors as e (job_id, first_started_at, errors)
  select x.id,
    case when x.attempts <= 1 then x.locked_at end,
    jsonb_build_array(jsonb_build_object(
      'attempt', x.attempts,
      'started_at', x.locked_at,
      'failed_at', _private_record_attempt_errors.now,
      'worker_id', _private_record_attempt_errors.worker_id,
      'error', left(x.message, 8000)))
  from (
    select jobs.id, jobs.attempts, jobs.locked_at, m.message
    from rows from (pg_catalog.unnest(job_ids), pg_catalog.unnest(messages)) as m(id, message)
    join graphile_worker._private_jobs as jobs on jobs.id = m.id
    join graphile_worker._private_tasks as tasks on tasks.id = jobs.task_id
    left join graphile_worker._private_retention as own on own.task_identifier = tasks.identifier
    where jobs.locked_by = _private_record_attempt_errors.worker_id
      -- the retention as _private_keep_for() computes it (joined, not called per job)
      and (coalesce(own.keep,
          (select d.keep from graphile_worker._private_retention as d
           where d.task_identifier is null),
          interval '0') > interval '0'
        or exists (select 1 from graphile_worker._private_finish_watches as w where w.job_id = jobs.id))
    order by jobs.id
    for update of jobs
  ) as x
  on conflict (job_id) do update
  set errors = (
    select jsonb_agg(a.v order by a.o)
    from jsonb_array_elements(e.errors || excluded.errors) with ordinality as a(v, o)
    where a.o > jsonb_array_length(e.errors) + 1 - 25
  );
end;
$$;

comment on function graphile_worker._private_record_attempt_errors(text, bigint[], text[], timestamptz) is
  'History: append each failed attempt''s error (attempt, started_at, failed_at, worker_id, error) to the job''s list, newest 25 kept, for jobs still locked by worker_id whose task keeps history or that someone waits for.';
