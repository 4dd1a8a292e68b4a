-- Retry jobs now (docs/operations.md). A job of the jobs table that failed for good or is
-- waiting for its next attempt (failed, retrying; not running: a lock older than
-- _private_lock_expiry() is stale and is dropped) runs now: run_at = now(), attempts = 0 (it
-- gets its full max_attempts again), unlocked; last_error and its recorded errors are kept.
-- Runners are woken as add_job wakes them. A job that failed for good and is only in the
-- finished-jobs store (deleted after its last attempt, e.g. by delete_permanently_failed_jobs)
-- is enqueued again as a new job from its record: same task, queue, payload, priority,
-- max_attempts and flags, and its key when no job holds that key now (else no key);
-- new_job_id is the new job's id. Every other job is left alone: waiting, scheduled, running,
-- cancelling (a cancel is under way), completed, cancelled, unknown. One row per id given, in
-- the order given: retried, and the state the job was in.
-- security definer: admin-level roles get EXECUTE on this function and no rights on the
-- private tables, so it acts with the owner's rights; it pins search_path and qualifies every
-- name.
create function graphile_worker.retry_jobs(job_ids bigint[])
returns table (job_id bigint, retried boolean, state text, new_job_id bigint)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_now timestamptz := pg_catalog.now();
  v_ids bigint[];
  v_states text[];
  v_retry bigint[];
  v_old bigint[];
  v_new bigint[];
  v_rec record;
  v_job graphile_worker._private_jobs;
begin
  perform graphile_worker._private_check_job_ids(retry_jobs.job_ids, 'retry_jobs');

  -- The jobs of the jobs table, locked in id order, and what each one is now.
  select s.ids, s.states into v_ids, v_states
  from graphile_worker._private_lock_job_states(retry_jobs.job_ids, v_now,
    live_lock_first => false) as s;

  v_retry := array(
    select s.id from rows from (pg_catalog.unnest(v_ids), pg_catalog.unnest(v_states)) as s(id, st)
    where s.st in ('failed', 'retrying'));
  if cardinality(v_retry) > 0 then
    update graphile_worker._private_jobs as jobs
    set run_at = v_now, attempts = 0, locked_at = null, locked_by = null, updated_at = v_now
    where jobs.id = any(v_retry);
    if pg_catalog.pg_notification_queue_usage() < 0.5
       and graphile_worker._private_wake_runners() then
      perform pg_catalog.pg_notify('jobs:insert',
        '{"r":' || random()::text || ',"count":' || cardinality(v_retry)::text || '}');
    end if;
  end if;

  -- Failed jobs that are only in the finished-jobs store: enqueued again.
  v_old := array[]::bigint[];
  v_new := array[]::bigint[];
  for v_rec in
    select f.id, f.task_identifier, f.queue_name, f.payload, f.priority, f.max_attempts, f.key,
      f.flags
    from graphile_worker._private_finished_jobs as f
    where f.id = any(retry_jobs.job_ids) and f.outcome = 'failed' and f.id <> all(v_ids)
    order by f.id
    for update of f
  loop
    v_job := graphile_worker.add_job(
      v_rec.task_identifier,
      payload => v_rec.payload,
      queue_name => v_rec.queue_name,
      max_attempts => v_rec.max_attempts,
      job_key => case when not exists (select 1 from graphile_worker._private_jobs as j
                                       where j.key = v_rec.key) then v_rec.key end,
      priority => v_rec.priority,
      flags => case when v_rec.flags is not null
        then array(select k from jsonb_object_keys(v_rec.flags) as k) end,
      job_key_mode => 'unsafe_dedupe');
    v_old := v_old || v_rec.id;
    v_new := v_new || v_job.id;
  end loop;

  return query
  select i.id,
    coalesce(s.st in ('failed', 'retrying'), false) or n.new_id is not null,
    coalesce(s.st, f.outcome, 'unknown'),
    n.new_id
  from pg_catalog.unnest(retry_jobs.job_ids) with ordinality as i(id, ord)
  left join rows from (pg_catalog.unnest(v_ids), pg_catalog.unnest(v_states)) as s(id, st)
    on s.id = i.id
  left join rows from (pg_catalog.unnest(v_old), pg_catalog.unnest(v_new)) as n(old_id, new_id)
    on n.old_id = i.id
  left join graphile_worker._private_finished_jobs as f on f.id = i.id and s.id is null
  order by i.ord;
end;
$$;

comment on function graphile_worker.retry_jobs(bigint[]) is
  'Admin: run failed and retrying jobs (not running) now with all their attempts again (run_at = now, attempts = 0), waking runners; a failed job only in the finished-jobs store is enqueued again as a new job (new_job_id) from its record. One row per id given: retried, and the state it was in (waiting, scheduled, running, cancelling, completed, cancelled and unknown are left alone). An empty array, a null id or more than 10000 ids: GWF01.';
