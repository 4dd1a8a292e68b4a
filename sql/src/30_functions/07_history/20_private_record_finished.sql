-- Record finished jobs in the store, in the caller's transaction: the rows as they were when
-- they finished (deleted, or updated to permanently failed), their outcome, the worker that ran
-- them (null for an admin's action: the row's locked_by is used), and for completed jobs the
-- results keyed by job id ({"<id>": {"v": value}} or {"<id>": {"dropped": why}}). A job is
-- recorded when its task keeps history, or for at least 10 minutes when someone waits for it;
-- those waited for are announced on graphile_worker:finished ({"id","outcome"}). A job that
-- finished before (failed, then retried by an admin) has its row replaced. A completed or
-- cancelled job leaves the jobs table, so its attempt errors move into its row.
create function graphile_worker._private_record_finished(
  jobs graphile_worker._private_jobs[],
  outcome text,
  worker_id text,
  results jsonb,
  now timestamptz
)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_watched bigint[];
begin
  if jobs is null or cardinality(jobs) = 0 then
    return;
  end if;

  with j as (
    -- the retention as _private_keep_for() computes it, joined here rather than called: a
    -- function with its own search_path is never inlined, and a call per job cost 3x the
    -- insert (docs/history.md)
    select r.*, coalesce(t.identifier, 'task #' || r.task_id) as identifier, q.queue_name,
      coalesce(own.keep,
        (select d.keep from graphile_worker._private_retention as d where d.task_identifier is null),
        interval '0') as keep,
      exists (select 1 from graphile_worker._private_finish_watches as w where w.job_id = r.id)
        as watched
    from pg_catalog.unnest(_private_record_finished.jobs) as r
    left join graphile_worker._private_tasks as t on t.id = r.task_id
    left join graphile_worker._private_job_queues as q on q.id = r.job_queue_id
    left join graphile_worker._private_retention as own on own.task_identifier = t.identifier
  ),
  ins as (
    insert into graphile_worker._private_finished_jobs as f (
      id, task_identifier, queue_name, payload, key, priority, flags, attempts, max_attempts,
      outcome, result, result_note, last_error, errors, created_at, first_started_at, finished_at,
      worker_id, expires_at)
    select j.id, j.identifier, j.queue_name, j.payload, j.key, j.priority, j.flags, j.attempts,
      j.max_attempts, _private_record_finished.outcome,
      _private_record_finished.results -> (j.id::text) -> 'v',
      _private_record_finished.results -> (j.id::text) ->> 'dropped',
      j.last_error,
      coalesce(e.errors, '[]'::jsonb),
      j.created_at,
      coalesce(e.first_started_at, case when j.attempts <= 1 then j.locked_at end),
      _private_record_finished.now,
      coalesce(_private_record_finished.worker_id, j.locked_by),
      _private_record_finished.now
        + greatest(j.keep, case when j.watched then interval '10 minutes' else interval '0' end)
    from j
    left join graphile_worker._private_attempt_errors as e on e.job_id = j.id
    where j.keep > interval '0' or j.watched
    on conflict (id) do update
    set task_identifier = excluded.task_identifier, queue_name = excluded.queue_name,
      payload = excluded.payload, key = excluded.key, priority = excluded.priority,
      flags = excluded.flags, attempts = excluded.attempts, max_attempts = excluded.max_attempts,
      outcome = excluded.outcome, result = excluded.result, result_note = excluded.result_note,
      last_error = excluded.last_error,
      errors = excluded.errors, created_at = excluded.created_at,
      first_started_at = coalesce(f.first_started_at, excluded.first_started_at),
      finished_at = excluded.finished_at, worker_id = excluded.worker_id,
      expires_at = excluded.expires_at
  ),
  moved as (
    delete from graphile_worker._private_attempt_errors as e
    where _private_record_finished.outcome <> 'failed'
      and e.job_id in (select j.id from j)
  )
  select array_agg(j.id) filter (where j.watched) into v_watched from j;

  if v_watched is not null then
    perform pg_catalog.pg_notify('graphile_worker:finished',
      json_build_object('id', w.id, 'outcome', _private_record_finished.outcome)::text)
    from pg_catalog.unnest(v_watched) as w(id);
  end if;
end;
$$;

comment on function graphile_worker._private_record_finished(graphile_worker._private_jobs[], text, text, jsonb, timestamptz) is
  'History: record finished jobs (outcome completed, failed or cancelled) for their task''s retention, or 10 minutes when someone waits for them, and notify graphile_worker:finished for those waited for.';
