-- Report the outcomes of a batch of jobs in one call: completed jobs are deleted, failed jobs
-- are scheduled for retry with graphile-worker's backoff (or failed for good). Only rows still
-- locked by this worker are touched, so a worker whose jobs were swept and re-claimed by
-- another never deletes or changes what the other now runs.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.report_jobs(
  worker_id text,
  completed_job_ids bigint[] default null,
  failures json default null,
  now timestamptz default now()
)
returns table (
  job_id bigint,
  outcome text,
  attempts smallint,
  max_attempts smallint,
  run_at timestamptz
)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_now timestamptz := report_jobs.now;
  v_bad text;
begin
  -- the checker raises the error; the plain expression saves a call on every claim
  if report_jobs.worker_id is null or report_jobs.worker_id = '' or length(report_jobs.worker_id) > 128 then
    perform graphile_worker._private_check_worker_id(report_jobs.worker_id);
  end if;
  if v_now is null then
    raise exception 'now must not be null'
      using errcode = 'GWA01', hint = 'Leave now out to use the transaction time.';
  end if;

  if failures is not null then
    if json_typeof(failures) <> 'array' then
      raise exception 'failures must be a JSON array, not %', json_typeof(failures)
        using errcode = 'GWA03',
        detail = 'failures lists one object per failed job.',
        hint = 'Pass e.g. [{"id": 42, "message": "timeout"}].';
    end if;
    select e::text into v_bad
    from json_array_elements(failures) as e
    where json_typeof(e) <> 'object'
       or json_typeof(e -> 'id') is distinct from 'number'
       or (e -> 'message') is null
       or json_typeof(e -> 'message') not in ('string', 'null')
       or json_typeof(e -> 'permanent') not in ('boolean', 'null')
       or json_typeof(e -> 'retry_delay') not in ('number', 'null')
       or (e ->> 'retry_delay')::double precision < 0
    limit 1;
    if v_bad is not null then
      raise exception 'malformed failure entry: %', left(v_bad, 200)
        using errcode = 'GWA03',
        detail = 'Each entry needs "id" (a job id) and "message" (text); "payload", "permanent" (boolean) and "retry_delay" (seconds, >= 0) are optional.',
        hint = 'Pass e.g. [{"id": 42, "message": "timeout", "retry_delay": 30}].';
    end if;
  end if;

  return query
  with done as (
    delete from graphile_worker._private_jobs as jobs
    where jobs.id = any(completed_job_ids)
      and jobs.locked_by = report_jobs.worker_id
    returning jobs.id, jobs.job_queue_id, jobs.attempts, jobs.max_attempts, jobs.run_at
  ),
  f as (
    select x.id, x.message, x.payload, coalesce(x.permanent, false) as permanent, x.retry_delay
    from json_to_recordset(coalesce(failures, '[]'::json))
      as x(id bigint, message text, payload json, permanent boolean, retry_delay double precision)
  ),
  failed as (
    update graphile_worker._private_jobs as jobs
    set
      last_error = coalesce(f.message, 'Non error or error without message thrown.'),
      run_at = case
        when f.retry_delay is not null then v_now + f.retry_delay * interval '1 second'
        else greatest(v_now, jobs.run_at) + exp(least(jobs.attempts, 10)) * interval '1 second'
      end,
      attempts = case when f.permanent then jobs.max_attempts else jobs.attempts end,
      payload = coalesce(f.payload, jobs.payload),
      locked_by = null,
      locked_at = null
    from f
    where jobs.id = f.id
      and jobs.locked_by = report_jobs.worker_id
    returning jobs.id, jobs.job_queue_id, jobs.attempts, jobs.max_attempts, jobs.run_at
  ),
  unlocked as (
    update graphile_worker._private_job_queues as q
    set locked_by = null, locked_at = null
    where q.locked_by = report_jobs.worker_id
      and q.id in (
        select d.job_queue_id from done as d
        union all
        select fl.job_queue_id from failed as fl
      )
  )
  select d.id, 'completed'::text, d.attempts, d.max_attempts, d.run_at
  from done as d
  union all
  select fl.id,
    case when fl.attempts >= fl.max_attempts then 'permanently_failed' else 'failed' end,
    fl.attempts, fl.max_attempts, fl.run_at
  from failed as fl
  union all
  select x.id, 'lost'::text, null::smallint, null::smallint, null::timestamptz
  from (
    select c.id from pg_catalog.unnest(completed_job_ids) as c(id)
    union
    select f.id from f
  ) as x
  where not exists (select 1 from done as d where d.id = x.id)
    and not exists (select 1 from failed as fl where fl.id = x.id);
end;
$$;

comment on function graphile_worker.report_jobs(text, bigint[], json, timestamptz) is
  'Runner: report a batch of outcomes in one call. Completed jobs are deleted; failures ([{"id","message","payload"?,"permanent"?,"retry_delay"?}]) get last_error and run_at = greatest(now, run_at) + exp(least(attempts, 10)) s (or now + retry_delay); their queues are unlocked. Only rows still locked by worker_id are touched; others come back as outcome lost.';
