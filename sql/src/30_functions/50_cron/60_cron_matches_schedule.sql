-- security definer: callers get EXECUTE on this function only, not on the _private_cron
-- helpers it calls; it reads no table, pins search_path and qualifies every name.
create function graphile_worker.cron_matches(
  schedule text,
  at timestamptz,
  time_zone text default 'UTC'
) returns boolean
language sql
security definer
stable
strict
set search_path = pg_catalog, pg_temp
return graphile_worker.cron_matches(
  graphile_worker._private_cron_parse_schedule('cron schedule', schedule, time_zone), at);

comment on function graphile_worker.cron_matches(text, timestamptz, text) is
  'Whether the schedule (five fields, names, steps, @daily ...) fires at the minute containing '
  'at, in time_zone (default UTC); the same as cron_matches on a parsed item.';
