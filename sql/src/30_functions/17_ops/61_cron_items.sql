-- The cron items known to the database (docs/operations.md): each identifier of
-- _private_known_crontabs (graphile-worker's scheduling state) and of _private_cron_specs (the
-- items as last registered). task_identifier, schedule (as written: the five time fields or
-- the @ shorthand), options (those given, as crontab option names: fill, max, queue, jobKey,
-- jobKeyMode, priority, tz), payload and next_run (the first minute after now, and after the
-- last execution, at which it fires) are null for an item registered only by a Node worker or
-- before 0.1.8, until a 0.1.8 runner or register_crontab registers it again.
-- security definer: monitor-level roles get EXECUTE on this function and no rights on the
-- private tables, so it acts with the owner's rights; it pins search_path and qualifies every
-- name.
create function graphile_worker.cron_items(now timestamptz default now())
returns table (
  identifier text,
  task_identifier text,
  schedule text,
  options jsonb,
  payload json,
  known_since timestamptz,
  last_execution timestamptz,
  next_run timestamptz,
  registered_at timestamptz
)
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if cron_items.now is null then
    raise exception 'cron_items: now must not be null'
      using errcode = 'GWF01',
      detail = 'next_run is the first minute after now at which an item fires.',
      hint = 'Leave now out to use the transaction time.';
  end if;
  return query
  select coalesce(k.identifier, s.identifier),
    (s.item).task_identifier,
    (s.item).schedule,
    case when s.identifier is not null then jsonb_strip_nulls(jsonb_build_object(
      'fill', graphile_worker._private_cron_period_text((s.item).fill),
      'max', (s.item).max_attempts,
      'queue', (s.item).queue_name,
      'jobKey', (s.item).job_key,
      'jobKeyMode', (s.item).job_key_mode,
      'priority', (s.item).priority,
      'tz', (s.item).time_zone)) end,
    (s.item).payload,
    k.known_since,
    k.last_execution,
    case when s.identifier is not null then graphile_worker.cron_next_after(s.item,
      greatest(cron_items.now, k.last_execution)) end,
    s.registered_at
  from graphile_worker._private_known_crontabs as k
  full join graphile_worker._private_cron_specs as s on s.identifier = k.identifier
  order by 1;
end;
$$;

comment on function graphile_worker.cron_items(timestamptz) is
  'Monitor: every known cron item: identifier, task, schedule and options as registered, payload, known_since, last_execution and next_run (the next minute it fires after now); task, schedule, options and next_run are null for items no 0.1.8 scheduler registered.';
