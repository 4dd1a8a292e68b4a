-- Report the outcomes of a batch of jobs in one call: completed jobs are deleted, failed jobs
-- are scheduled for retry with graphile-worker's backoff (or failed for good). Only rows still
-- locked by this worker are touched, so a worker whose jobs were swept and re-claimed by
-- another never deletes or changes what the other now runs. A malformed failures document is
-- GWA03 (DETAIL names the entry) and changes nothing. A worker registered by another role is
-- refused (GWA05), and below the admin level now is the server's clock (GWA06).
-- History (0.1.7, docs/history.md): when some task keeps finished jobs or someone waits for a
-- job, the same call records each failed attempt's error and each finished job (completed, or
-- failed for good) with the handler's result (results: a JSON array aligned with
-- completed_job_ids, null entries for none; a result over _private_result_cap() bytes, or one
-- jsonb cannot hold, is not stored and result_note says why). Otherwise results are ignored.
-- Snooze (0.1.8, issue 17): a failures entry with "snooze": true is no failure: the job runs
-- again after retry_delay seconds, its attempt is given back and last_error is left as it was.
-- Cancel (0.1.8, issue 17): a job cancelled while it ran (cancel_jobs) is deleted and recorded
-- as cancelled whatever its outcome; it comes back with outcome cancelled.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.report_jobs(
  worker_id text,
  completed_job_ids bigint[] default null,
  failures json default null,
  now timestamptz default now(),
  results json default null
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
  v_failures jsonb;
  v_bad_ord bigint;
  v_problem text;
  v_problem_detail text;
  v_entry json;
  v_dup_id bigint;
  v_dup_positions text;
  v_also_completed boolean;
  v_ids bigint[];
  v_outcomes text[];
  v_attempts smallint[];
  v_max_attempts smallint[];
  v_run_ats timestamptz[];
  v_queue_ids integer[];
  v_bound oid;
  v_history boolean;
  v_results jsonb;
  v_done_rows graphile_worker._private_jobs[];
  v_failed_rows graphile_worker._private_jobs[];
  v_cancelled bigint[];
  v_cancel_rows graphile_worker._private_jobs[];
begin
  -- the checker raises the error; the plain expression saves a call on every report
  if report_jobs.worker_id is null or report_jobs.worker_id = '' or length(report_jobs.worker_id) > 128 then
    perform graphile_worker._private_check_worker_id(report_jobs.worker_id);
  end if;
  if v_now is null then
    raise exception 'now must not be null'
      using errcode = 'GWA01', hint = 'Leave now out to use the transaction time.';
  end if;
  if v_now <> pg_catalog.now() then
    perform graphile_worker._private_check_clock(v_now, 'report_jobs');
  end if;
  -- the holder check inline (a call costs every report); the checker raises GWA05 unless the
  -- caller is admin-level
  select w.registered_by into v_bound
  from graphile_worker._private_workers as w where w.worker_id = report_jobs.worker_id;
  if v_bound is not null and pg_catalog.pg_get_userbyid(v_bound) <> session_user then
    perform graphile_worker._private_check_worker_holder(report_jobs.worker_id, 'report_jobs');
  end if;

  if failures is not null then
    if json_typeof(failures) <> 'array' then
      raise exception 'failures must be a JSON array, not %', json_typeof(failures)
        using errcode = 'GWA03',
        detail = 'failures lists one object per failed job.',
        hint = 'Pass e.g. [{"id": 42, "message": "timeout"}].';
    end if;

    -- Read as jsonb, once: json accepts what jsonb (and text) cannot hold, \u0000 or an
    -- unpaired surrogate in a string, a number beyond numeric; such an entry is malformed.
    begin
      v_failures := failures::jsonb;
    exception when data_exception or program_limit_exceeded then
      for v_bad_ord, v_entry in
        select a.ord, a.e from json_array_elements(failures) with ordinality as a(e, ord)
        order by a.ord
      loop
        begin
          perform v_entry::jsonb;
        exception when data_exception or program_limit_exceeded then
          get stacked diagnostics v_problem = message_text, v_problem_detail = pg_exception_detail;
          raise exception 'malformed failure entry: %', left(v_entry::text, 200)
            using errcode = 'GWA03',
            detail = format('Entry %s of failures cannot be converted to jsonb (%s%s): its '
              '"message" must be storable as text and its "payload" as jsonb.',
              v_bad_ord, v_problem, ': ' || rtrim(nullif(v_problem_detail, ''), '.')),
            hint = E'Replace \\u0000 and unpaired surrogates (\\ud800 to \\udfff) in the '
              'message and payload, e.g. with U+FFFD.';
        end;
      end loop;
      raise exception 'failures cannot be converted to jsonb'
        using errcode = 'GWA03',
        detail = 'Each entry converts, but the whole document does not (it is too large).',
        hint = 'Report the failures in smaller batches.';
    end;

    -- The first malformed entry. Each test runs only when the ones before it passed (a CASE),
    -- so the numeric casts never fail. {id} and {retry_delay} are filled in below.
    select x.ord, x.problem into v_bad_ord, v_problem
    from (
      select a.ord, case
        when jsonb_typeof(a.e) <> 'object' then
          'it is not a JSON object'
        when jsonb_typeof(a.e -> 'id') is distinct from 'number' then
          '"id" must be a job id (a whole number)'
        when scale((a.e -> 'id')::numeric) > 0
             or (a.e -> 'id')::numeric not between -9223372036854775808 and 9223372036854775807 then
          '"id" {id} is not a job id (a whole number within bigint)'
        when (a.e -> 'message') is null then
          '"message" is missing'
        when jsonb_typeof(a.e -> 'message') <> 'string' then
          format('"message" must be a string, not JSON %s', jsonb_typeof(a.e -> 'message'))
        when jsonb_typeof(a.e -> 'permanent') not in ('boolean', 'null') then
          format('"permanent" must be true or false, not JSON %s', jsonb_typeof(a.e -> 'permanent'))
        when jsonb_typeof(a.e -> 'retry_delay') not in ('number', 'null') then
          format('"retry_delay" must be a number of seconds, not JSON %s',
            jsonb_typeof(a.e -> 'retry_delay'))
        when jsonb_typeof(a.e -> 'retry_delay') = 'number'
             and (a.e -> 'retry_delay')::numeric not between 0 and 315360000 then
          '"retry_delay" {retry_delay} is outside 0 to 315360000 seconds (10 years)'
        when jsonb_typeof(a.e -> 'snooze') not in ('boolean', 'null') then
          format('"snooze" must be true or false, not JSON %s', jsonb_typeof(a.e -> 'snooze'))
        when (a.e -> 'snooze') = 'true'::jsonb
             and jsonb_typeof(a.e -> 'retry_delay') is distinct from 'number' then
          '"snooze" needs "retry_delay", the seconds until the job runs again'
        when (a.e -> 'snooze') = 'true'::jsonb and (a.e -> 'permanent') = 'true'::jsonb then
          '"snooze" and "permanent" cannot both be true'
      end as problem
      from jsonb_array_elements(v_failures) with ordinality as a(e, ord)
    ) as x
    where x.problem is not null
    order by x.ord
    limit 1;
    if v_bad_ord is not null then
      -- the entry and its values as written (jsonb normalises numbers)
      select a.e into v_entry
      from json_array_elements(failures) with ordinality as a(e, ord)
      where a.ord = v_bad_ord;
      v_problem := replace(replace(v_problem,
        '{id}', coalesce(left((v_entry -> 'id')::text, 40), '')),
        '{retry_delay}', coalesce(left((v_entry -> 'retry_delay')::text, 40), ''));
      raise exception 'malformed failure entry: %', left(v_entry::text, 200)
        using errcode = 'GWA03',
        detail = format('Entry %s of failures: %s. Each entry needs "id" (a job id) and "message" '
          '(text); "payload", "permanent" (boolean), "retry_delay" (seconds, 0 to 315360000) '
          'and "snooze" (boolean, with retry_delay) are optional.', v_bad_ord, v_problem),
        hint = 'Pass e.g. [{"id": 42, "message": "timeout", "retry_delay": 30}].';
    end if;

    -- One outcome per job: the same id twice in failures, or in failures and completed_job_ids.
    select x.id, x.positions, x.also_completed into v_dup_id, v_dup_positions, v_also_completed
    from (
      select (a.e ->> 'id')::bigint as id,
        string_agg(a.ord::text, ', ' order by a.ord) as positions,
        min(a.ord) as first,
        count(*) as n,
        (a.e ->> 'id')::bigint = any(completed_job_ids) as also_completed
      from jsonb_array_elements(v_failures) with ordinality as a(e, ord)
      group by 1
    ) as x
    where x.n > 1 or x.also_completed
    order by x.first
    limit 1;
    if v_dup_id is not null and v_also_completed then
      raise exception 'job % is reported both completed and failed', v_dup_id
        using errcode = 'GWA03',
        detail = format('The id %s is in completed_job_ids and in failures (entry %s).',
          v_dup_id, v_dup_positions),
        hint = 'Report each job once: in completed_job_ids or in failures.';
    elsif v_dup_id is not null then
      raise exception 'job % is in failures more than once', v_dup_id
        using errcode = 'GWA03',
        detail = format('Entries %s of failures have the id %s; only one outcome can be recorded.',
          v_dup_positions, v_dup_id),
        hint = 'Report each job once: one failure entry per job.';
    end if;
  end if;

  if results is not null and (json_typeof(results) <> 'array'
      or json_array_length(results) <> coalesce(cardinality(completed_job_ids), 0)) then
    raise exception 'results must be a JSON array with one entry per completed job'
      using errcode = 'GWA03',
      detail = format('results is %s; completed_job_ids has %s entries.',
        case when json_typeof(results) = 'array'
          then format('an array of %s entries', json_array_length(results))
          else 'JSON ' || json_typeof(results) end,
        coalesce(cardinality(completed_job_ids), 0)),
      hint = 'Pass results[i] for completed_job_ids[i] (null for none), or leave results out.';
  end if;

  v_history := graphile_worker._private_history_on();
  if v_history then
    if results is not null then
      v_results := graphile_worker._private_results_map(completed_job_ids, results);
    end if;
    if v_failures is not null then
      -- a snoozed attempt is no failure: it has no error
      perform graphile_worker._private_record_attempt_errors(report_jobs.worker_id,
        array(select (e ->> 'id')::bigint from jsonb_array_elements(v_failures) as e
              where (e -> 'snooze') is distinct from 'true'::jsonb),
        array(select e ->> 'message' from jsonb_array_elements(v_failures) as e
              where (e -> 'snooze') is distinct from 'true'::jsonb),
        v_now);
    end if;
  end if;

  -- The jobs this worker still holds: completed ones deleted, failed ones rescheduled; their
  -- outcomes are kept to be returned once the jobs' queues are unlocked.
  with done as (
    delete from graphile_worker._private_jobs as jobs
    where jobs.id = any(completed_job_ids)
      and jobs.locked_by = report_jobs.worker_id
    returning jobs.id, jobs.job_queue_id, jobs.attempts, jobs.max_attempts, jobs.run_at,
      jobs as job
  ),
  f as (
    select x.id, x.message, x.payload, coalesce(x.permanent, false) as permanent, x.retry_delay,
      coalesce(x.snooze, false) as snooze
    from jsonb_to_recordset(coalesce(v_failures, '[]'::jsonb))
      as x(id bigint, message text, payload json, permanent boolean, retry_delay numeric,
        snooze boolean)
  ),
  failed as (
    update graphile_worker._private_jobs as jobs
    set
      last_error = case when f.snooze then jobs.last_error else f.message end,
      run_at = case
        -- rounded to microseconds: 1e-400 is a valid retry_delay but no double precision
        when f.retry_delay is not null
          then v_now + round(f.retry_delay, 6)::double precision * interval '1 second'
        else greatest(v_now, jobs.run_at) + exp(least(jobs.attempts, 10)) * interval '1 second'
      end,
      -- a snooze gives the attempt back (attempts are counted when a job is claimed)
      attempts = case
        when f.permanent then jobs.max_attempts
        when f.snooze then greatest(jobs.attempts - 1, 0)
        else jobs.attempts
      end,
      payload = coalesce(f.payload, jobs.payload),
      locked_by = null,
      locked_at = null
    from f
    where jobs.id = f.id
      and jobs.locked_by = report_jobs.worker_id
    returning jobs.id, jobs.job_queue_id, jobs.attempts, jobs.max_attempts, jobs.run_at,
      jobs as job, f.snooze
  ),
  reported as (
    select d.id, 'completed'::text as outcome, d.attempts, d.max_attempts, d.run_at,
      d.job_queue_id, d.job
    from done as d
    union all
    select fl.id,
      case
        when fl.snooze then 'snoozed'
        when fl.attempts >= fl.max_attempts then 'permanently_failed'
        else 'failed'
      end,
      fl.attempts, fl.max_attempts, fl.run_at, fl.job_queue_id, fl.job
    from failed as fl
  )
  select array_agg(r.id), array_agg(r.outcome), array_agg(r.attempts), array_agg(r.max_attempts),
    array_agg(r.run_at), array_agg(r.job_queue_id) filter (where r.job_queue_id is not null),
    array_agg(r.job) filter (where v_history and r.outcome = 'completed'),
    array_agg(r.job) filter (where v_history and r.outcome = 'permanently_failed')
  into v_ids, v_outcomes, v_attempts, v_max_attempts, v_run_ats, v_queue_ids,
    v_done_rows, v_failed_rows
  from reported as r;

  -- Cancelled while running (cancel_jobs, 0.1.8): whatever the handler did, such a job is
  -- deleted and recorded as cancelled, and its outcome is cancelled. Looked up after the rows
  -- above were locked, in a new snapshot, so a cancel that committed while this call waited
  -- for one of them is seen. (One look at a table that is empty unless a cancel is under way.)
  if v_ids is not null and exists (select 1 from graphile_worker._private_cancel_requests) then
    select array_agg(r.job_id) into v_cancelled
    from graphile_worker._private_cancel_requests as r
    where r.job_id = any(v_ids);
    if v_cancelled is not null then
      -- the failed ones are still here (unlocked by this call, which holds their row locks)
      with gone as (
        delete from graphile_worker._private_jobs as jobs
        where jobs.id = any(v_cancelled)
        returning jobs
      )
      select array_agg(g.jobs) into v_cancel_rows from gone as g;
      delete from graphile_worker._private_cancel_requests as r
      where r.job_id = any(v_cancelled);
      if v_history then
        v_cancel_rows := coalesce(v_cancel_rows, '{}') || array(
          select d from pg_catalog.unnest(v_done_rows) as d where d.id = any(v_cancelled));
        v_done_rows := array(
          select d from pg_catalog.unnest(v_done_rows) as d where d.id <> all(v_cancelled));
        v_failed_rows := array(
          select d from pg_catalog.unnest(v_failed_rows) as d where d.id <> all(v_cancelled));
      end if;
      v_outcomes := array(
        select case when o.id = any(v_cancelled) then 'cancelled' else o.outcome end
        from rows from (pg_catalog.unnest(v_ids), pg_catalog.unnest(v_outcomes))
          with ordinality as o(id, outcome, ord)
        order by o.ord);
    end if;
  end if;

  if v_history then
    perform graphile_worker._private_record_finished(v_done_rows, 'completed',
      report_jobs.worker_id, v_results, v_now);
    perform graphile_worker._private_record_finished(v_failed_rows, 'failed',
      report_jobs.worker_id, null, v_now);
    perform graphile_worker._private_record_finished(v_cancel_rows, 'cancelled',
      report_jobs.worker_id, null, v_now);
  end if;

  perform graphile_worker._private_unlock_job_queues(report_jobs.worker_id, v_queue_ids);

  -- The outcomes, then the jobs this worker no longer holds (swept, or never its own): lost.
  return query
  select r.id, r.outcome,
    case when r.outcome <> 'cancelled' then r.attempts end,
    case when r.outcome <> 'cancelled' then r.max_attempts end,
    case when r.outcome <> 'cancelled' then r.run_at end
  from rows from (
    pg_catalog.unnest(v_ids), pg_catalog.unnest(v_outcomes), pg_catalog.unnest(v_attempts),
    pg_catalog.unnest(v_max_attempts), pg_catalog.unnest(v_run_ats)
  ) as r(id, outcome, attempts, max_attempts, run_at)
  union all
  select x.id, 'lost'::text, null::smallint, null::smallint, null::timestamptz
  from (
    select c.id from pg_catalog.unnest(completed_job_ids) as c(id)
    union
    select f.id
    from jsonb_to_recordset(coalesce(v_failures, '[]'::jsonb)) as f(id bigint)
  ) as x
  where not exists (select 1 from pg_catalog.unnest(v_ids) as r(id) where r.id = x.id);
end;
$$;

comment on function graphile_worker.report_jobs(text, bigint[], json, timestamptz, json) is
  'Runner: report a batch of outcomes in one call. Completed jobs are deleted (with results[i], a JSON array aligned with completed_job_ids, recorded when the task keeps history); failures ([{"id","message","payload"?,"permanent"?,"retry_delay"?,"snooze"?}], each job once, retry_delay 0 to 315360000 s) get last_error and run_at = greatest(now, run_at) + exp(least(attempts, 10)) s (or now + retry_delay); a snooze (with retry_delay) runs the job again then without using an attempt or touching last_error (outcome snoozed); a job cancelled while it ran (cancel_jobs) is deleted and recorded as cancelled (outcome cancelled); their queues are unlocked. Only rows still locked by worker_id are touched; others come back as outcome lost. A malformed document is GWA03 and changes nothing; a worker_id registered by another role is GWA05; below the admin level a now other than the server''s clock is GWA06.';
