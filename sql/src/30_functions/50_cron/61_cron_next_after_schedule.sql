-- security definer: callers get EXECUTE on this function only, not on the _private_cron
-- helpers it calls; it reads no table, pins search_path and qualifies every name.
create function graphile_worker.cron_next_after(
  schedule text,
  after timestamptz,
  time_zone text default 'UTC'
) returns timestamptz
language sql
security definer
stable
strict
set search_path = pg_catalog, pg_temp
return graphile_worker.cron_next_after(
  graphile_worker._private_cron_parse_schedule('cron schedule', schedule, time_zone), after);

comment on function graphile_worker.cron_next_after(text, timestamptz, text) is
  'The next minute strictly after `after` at which the schedule fires in time_zone (default '
  'UTC); the same as cron_next_after on a parsed item.';
