-- Delete jobs from the jobs table (docs/operations.md): any job that is not running (waiting,
-- scheduled, retrying, failed, or cancelling with no live lock; a lock older than
-- _private_lock_expiry() is stale). A running job is left alone: cancel_jobs stops it. A
-- deletion is an erasure, not an outcome: nothing is added to the finished-jobs store (a job
-- that failed for good keeps the record of its failure; use cancel_jobs to keep a record of a
-- job that never ran), the job's recorded attempt errors and cancel request go with it, and
-- job_status says unknown afterwards unless the store has the job. One row per id given, in the
-- order given: deleted, and the state the job was in (completed and cancelled for a job only
-- in the store, which is left to prune_finished_jobs; unknown for an id in neither).
-- security definer: admin-level roles get EXECUTE on this function and no rights on the
-- private tables, so it acts with the owner's rights; it pins search_path and qualifies every
-- name.
create function graphile_worker.delete_jobs(job_ids bigint[])
returns table (job_id bigint, deleted boolean, state text)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_now timestamptz := pg_catalog.now();
  v_ids bigint[];
  v_states text[];
  v_gone bigint[];
begin
  perform graphile_worker._private_check_job_ids(delete_jobs.job_ids, 'delete_jobs');

  -- The jobs of the jobs table, locked in id order, and what each one is now; a live lock
  -- comes before a cancel request: a job its runner still holds is running and stays.
  select s.ids, s.states into v_ids, v_states
  from graphile_worker._private_lock_job_states(delete_jobs.job_ids, v_now,
    live_lock_first => true) as s;

  v_gone := array(
    select s.id from rows from (pg_catalog.unnest(v_ids), pg_catalog.unnest(v_states)) as s(id, st)
    where s.st <> 'running');
  if cardinality(v_gone) > 0 then
    delete from graphile_worker._private_jobs as jobs where jobs.id = any(v_gone);
    delete from graphile_worker._private_attempt_errors as e where e.job_id = any(v_gone);
    delete from graphile_worker._private_cancel_requests as r where r.job_id = any(v_gone);
  end if;

  return query
  select i.id, coalesce(s.st <> 'running', false), coalesce(s.st, f.outcome, 'unknown')
  from pg_catalog.unnest(delete_jobs.job_ids) with ordinality as i(id, ord)
  left join rows from (pg_catalog.unnest(v_ids), pg_catalog.unnest(v_states)) as s(id, st)
    on s.id = i.id
  left join graphile_worker._private_finished_jobs as f on f.id = i.id and s.id is null
  order by i.ord;
end;
$$;

comment on function graphile_worker.delete_jobs(bigint[]) is
  'Admin: delete jobs that are not running from the jobs table (running ones: cancel_jobs), with their recorded attempt errors; nothing is recorded in the finished-jobs store. One row per id given: deleted, and the state it was in (running, and completed, cancelled or unknown for ids not in the jobs table, are left alone). An empty array, a null id or more than 10000 ids: GWF01.';
