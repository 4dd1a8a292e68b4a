-- security definer: callers get EXECUTE on this function only, not on the _private_cron
-- helpers it calls; it reads no table, pins search_path and qualifies every name.
create function graphile_worker.cron_times_between(
  schedule text,
  after timestamptz,
  until timestamptz,
  time_zone text default 'UTC',
  max_results integer default 10000
) returns setof timestamptz
language sql
security definer
stable
strict
set search_path = pg_catalog, pg_temp
begin atomic
  select t
  from graphile_worker.cron_times_between(
    graphile_worker._private_cron_parse_schedule('cron schedule', schedule, time_zone),
    after, until, max_results) as t;
end;

comment on function graphile_worker.cron_times_between(text, timestamptz, timestamptz, text, integer) is
  'The minutes t with after < t <= until at which the schedule fires in time_zone (default '
  'UTC), in order; the same as cron_times_between on a parsed item, with the same bound '
  '(max_results, default 10000, at most 1000000; GWC10 beyond).';
