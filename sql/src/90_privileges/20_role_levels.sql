-- The privilege levels (docs/security.md). producer < runner < admin is a chain: a level
-- includes the ones before it. monitor (0.1.8) stands beside it: admin includes it, and it
-- includes no other level.
--   producer  enqueue, replace or remove a job by its key, read a job's status and wait for it
--   runner    claim, report, return, sweep, heartbeats, cron scheduling, prune finished jobs
--   monitor   read only: list, count and show jobs (payloads included), job status,
--             statistics, workers, flow controls, retention settings, cron items, storage
--             sizes, the version, the jobs and finished_jobs views
--   admin     admin functions, cleanup, retention, flow control (pause, limits, cancel),
--             operations (retry, delete, run at, run a cron item); and monitor
-- The function lists live here only; grant_role() and the tests read them.
create function graphile_worker._private_level_functions(level text)
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
        when 'producer' then array['add_job', 'add_jobs', 'remove_job', 'version',
          'job_status', 'job_status_by_key', 'watch_job', 'unwatch_job']
        when 'runner' then array[
          'get_jobs', 'report_jobs', 'return_jobs', 'return_unheld_jobs', 'reset_locked',
          'next_job_due_at', 'wait_for_jobs',
          'register_worker', 'heartbeat', 'deregister_worker', 'recover_stale_workers',
          'parse_crontab', 'register_crontab', 'schedule_crontab',
          'cron_matches', 'cron_next_after', 'cron_times_between', 'prune_finished_jobs']
        when 'monitor' then array[
          'list_jobs', 'count_jobs', 'job_detail', 'job_status', 'job_status_by_key',
          'queue_stats', 'worker_stats', 'flow_controls', 'retention_settings', 'cron_items',
          'storage_stats', 'finished_per_minute', 'version']
        when 'admin' then array[
          'complete_jobs', 'permanently_fail_jobs', 'reschedule_jobs', 'force_unlock_workers',
          'delete_permanently_failed_jobs', 'gc_task_identifiers', 'gc_job_queues',
          'set_retention', 'clear_retention',
          'pause_tasks', 'resume_tasks', 'pause_queues', 'resume_queues',
          'set_task_limits', 'cancel_jobs', 'cancel_jobs_by_key',
          'retry_jobs', 'delete_jobs', 'run_jobs_at', 'run_cron_item']
      end
    )
  order by 1::text;
$$;

create function graphile_worker.grant_role(role_name text, level text)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_levels text[];
  v_fn regprocedure;
begin
  if level is null or level not in ('producer', 'runner', 'monitor', 'admin') then
    raise exception 'unknown privilege level %', coalesce(quote_literal(level), 'null')
      using errcode = 'GWA02',
      detail = 'The levels are producer, runner, monitor and admin: producer < runner < admin '
        'each include the ones before them; monitor is read-only, and admin includes it.',
      hint = 'Call e.g. graphile_worker.grant_role(''app'', ''producer'').';
  end if;
  if role_name is null or not exists (select 1 from pg_catalog.pg_roles where rolname = role_name) then
    raise exception 'role % does not exist', coalesce(quote_ident(role_name), 'null')
      using errcode = 'undefined_object',
      detail = 'grant_role() grants rights to an existing role; the extension creates no roles.',
      hint = 'Create the role first, e.g. CREATE ROLE app LOGIN.';
  end if;

  v_levels := case level
    when 'producer' then array['producer']
    when 'runner' then array['producer', 'runner']
    when 'monitor' then array['monitor']
    else array['producer', 'runner', 'monitor', 'admin']
  end;

  execute format('grant usage on schema graphile_worker to %I', role_name);
  for v_fn in
    select f from pg_catalog.unnest(v_levels) as l, graphile_worker._private_level_functions(l) as f
  loop
    execute format('grant execute on function %s to %I', v_fn, role_name);
  end loop;
  if level in ('monitor', 'admin') then
    execute format('grant select on graphile_worker.jobs to %I', role_name);
    execute format('grant select on graphile_worker.finished_jobs to %I', role_name);
  end if;
end;
$$;

comment on function graphile_worker.grant_role(text, text) is
  'Owner only: grant an existing role one of the levels producer (enqueue, remove by key, job status and waiting), runner (claim, report, heartbeats, cron, pruning), admin (admin functions, cleanup, retention, flow control: pause, limits, cancel; operations: retry, delete, run at, run a cron item) or monitor (read only: list, count and show jobs with payloads, statistics, workers, flow controls, retention settings, cron items, storage sizes; the jobs and finished_jobs views). producer < runner < admin each include the ones before them; admin includes monitor; monitor includes no other level.';

create function graphile_worker.revoke_role(role_name text)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_fn regprocedure;
begin
  if role_name is null or not exists (select 1 from pg_catalog.pg_roles where rolname = role_name) then
    raise exception 'role % does not exist', coalesce(quote_ident(role_name), 'null')
      using errcode = 'undefined_object', hint = 'Pass the name of an existing role.';
  end if;
  for v_fn in
    select f from pg_catalog.unnest(array['producer', 'runner', 'monitor', 'admin']) as l,
      graphile_worker._private_level_functions(l) as f
  loop
    execute format('revoke execute on function %s from %I', v_fn, role_name);
  end loop;
  execute format('revoke select on graphile_worker.jobs from %I', role_name);
  execute format('revoke select on graphile_worker.finished_jobs from %I', role_name);
  execute format('revoke usage on schema graphile_worker from %I', role_name);
end;
$$;

comment on function graphile_worker.revoke_role(text) is
  'Owner only: take back every right grant_role() gave this role.';
