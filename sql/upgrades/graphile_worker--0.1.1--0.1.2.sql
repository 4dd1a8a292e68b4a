-- graphile_worker 0.1.1 -> 0.1.2: return_unheld_jobs, for a runner that lost the result of a
-- claim. New function at the runner level; roles granted the runner level before this upgrade
-- get it when grant_role(role, 'runner') is called again (or by the GRANT in docs/security.md).

-- from sql/src/30_functions/20_runner/35_return_unheld_jobs.sql
-- Give back every job a worker has locked except those it holds: for a runner that lost the
-- result of a claim (the connection dropped after get_jobs committed), whose jobs would
-- otherwise stay locked by a live worker until reset_locked's 4-hour rule.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.return_unheld_jobs(
  worker_id text,
  held_job_ids bigint[],
  now timestamptz default now()
)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_count integer;
begin
  if return_unheld_jobs.worker_id is null or return_unheld_jobs.worker_id = ''
     or length(return_unheld_jobs.worker_id) > 128 then
    perform graphile_worker._private_check_worker_id(return_unheld_jobs.worker_id);
  end if;
  if held_job_ids is null then
    raise exception 'held_job_ids must not be null'
      using errcode = 'GWA01',
      detail = 'Every job locked by the worker and not in held_job_ids is given back.',
      hint = 'Pass the ids of the jobs the worker still holds, or an empty array for none.';
  end if;
  if return_unheld_jobs.now is null then
    raise exception 'now must not be null'
      using errcode = 'GWA01', hint = 'Leave now out to use the transaction time.';
  end if;

  with returned as (
    update graphile_worker._private_jobs as jobs
    set attempts = greatest(0, jobs.attempts - 1), locked_by = null, locked_at = null
    where jobs.locked_by = return_unheld_jobs.worker_id
      and jobs.locked_at is not null
      and not (jobs.id = any(held_job_ids))
    returning jobs.id, jobs.job_queue_id
  ),
  unlocked as (
    update graphile_worker._private_job_queues as q
    set locked_by = null, locked_at = null
    where q.locked_by = return_unheld_jobs.worker_id
      and q.id in (select r.job_queue_id from returned as r)
  )
  select count(*) into v_count from returned;
  return v_count;
end;
$$;

comment on function graphile_worker.return_unheld_jobs(text, bigint[], timestamptz) is
  'Runner: give back every job locked by worker_id except held_job_ids (for a runner that lost the result of a claim): the attempt is refunded and the job and its queue are unlocked. Returns how many jobs were returned.';

revoke all on function graphile_worker.return_unheld_jobs(text, bigint[], timestamptz) from public;

-- from sql/src/90_privileges/20_role_levels.sql
create or replace function graphile_worker._private_level_functions(level text)
returns setof regprocedure
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select p.oid::regprocedure
  from pg_catalog.pg_proc as p
  where p.pronamespace = 'graphile_worker'::regnamespace
    and p.proname = any (
      case level
        when 'producer' then array['add_job', 'add_jobs', 'remove_job', 'version']
        when 'runner' then array[
          'get_jobs', 'report_jobs', 'return_jobs', 'return_unheld_jobs', 'reset_locked',
          'next_job_due_at',
          'register_worker', 'heartbeat', 'deregister_worker', 'recover_stale_workers',
          'parse_crontab', 'register_crontab', 'schedule_crontab',
          'cron_matches', 'cron_next_after', 'cron_times_between']
        when 'admin' then array[
          'complete_jobs', 'permanently_fail_jobs', 'reschedule_jobs', 'force_unlock_workers',
          'delete_permanently_failed_jobs', 'gc_task_identifiers', 'gc_job_queues',
          'queue_stats', 'worker_stats']
      end
    )
  order by 1::text;
$$;

-- from sql/src/30_functions/00_version.sql
-- The version of the installed SQL, for both install kinds (extension and standalone script).
create or replace function graphile_worker.version()
returns text
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select '@EXTVERSION@'::text;
$$;

comment on function graphile_worker.version() is
  'The version of the graphile_worker SQL installed in this database (extension or standalone script).';
