-- Enqueue the job of a cron item now (docs/operations.md), as its schedule would: its task,
-- queue, max attempts, priority, job key and key mode, and its payload with
-- "_cron": {"ts": now, "backfilled": false, "manual": true}; run_at now. The item's schedule is
-- untouched: last_execution does not move, so its next scheduled run still happens (with a job
-- key, a run not yet started is replaced as the key mode says). Returns the job's id.
-- security definer: admin-level roles get EXECUTE on this function and no rights on the
-- private tables, so it acts with the owner's rights; it pins search_path and qualifies every
-- name.
create function graphile_worker.run_cron_item(identifier text)
returns bigint
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_item graphile_worker.cron_item;
  v_job graphile_worker._private_jobs;
  v_now timestamptz := pg_catalog.now();
begin
  if run_cron_item.identifier is null or run_cron_item.identifier = '' then
    raise exception 'run_cron_item: pass the identifier of a cron item, not %',
      coalesce(quote_literal(run_cron_item.identifier), 'null')
      using errcode = 'GWF01',
      detail = 'An item''s identifier is its id option, else its task identifier.',
      hint = 'cron_items() lists the identifiers.';
  end if;
  select (s.item).* into v_item
  from graphile_worker._private_cron_specs as s
  where s.identifier = run_cron_item.identifier;
  if not found then
    raise exception 'run_cron_item: no cron item % is registered with its schedule',
      quote_literal(left(run_cron_item.identifier, 200))
      using errcode = 'GWO01',
      detail = case when exists (select 1 from graphile_worker._private_known_crontabs as k
                                 where k.identifier = run_cron_item.identifier)
        then 'The item is known to the scheduler, but no 0.1.8 scheduler has registered its '
          'task and options yet (a Node worker, or a runner before 0.1.8, schedules it).'
        else 'No scheduler has registered an item with this identifier.' end,
      hint = 'cron_items() lists the items; a 0.1.8 runner with the crontab, or '
        'register_crontab(crontab), registers them.';
  end if;
  v_job := graphile_worker.add_job(
    v_item.task_identifier,
    payload => (coalesce(v_item.payload::jsonb, '{}'::jsonb) || jsonb_build_object('_cron',
      jsonb_build_object(
        'ts', to_char(v_now at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'backfilled', false,
        'manual', true)))::json,
    queue_name => v_item.queue_name,
    max_attempts => v_item.max_attempts,
    job_key => v_item.job_key,
    priority => v_item.priority,
    job_key_mode => coalesce(v_item.job_key_mode, 'replace'));
  return v_job.id;
end;
$$;

comment on function graphile_worker.run_cron_item(text) is
  'Admin: enqueue the job of a registered cron item now (payload _cron {ts, backfilled: false, manual: true}), leaving its schedule untouched; returns the job id. GWO01 for an item without a registered schedule.';
