-- Parse a bare schedule (`*/15 9-17 * * mon-fri`, `@daily`) into a cron_item, for cron_matches,
-- cron_next_after and cron_times_between without a crontab.
-- security definer: callers get EXECUTE on this function only, not on the _private_cron
-- helpers it calls; it reads no table, pins search_path and qualifies every name.
create function graphile_worker.parse_cron_schedule(schedule text, time_zone text default 'UTC')
returns graphile_worker.cron_item
language plpgsql
security definer
stable
set search_path = pg_catalog, pg_temp
as $$
begin
  if schedule is null then
    raise exception 'cron schedule: schedule is null'
      using errcode = 'GWC09',
        detail = 'parse_cron_schedule needs a schedule such as ''0 4 * * *''.',
        hint = 'Pass the five time fields or an @ shorthand.';
  end if;
  return graphile_worker._private_cron_parse_schedule('cron schedule', schedule, time_zone);
end;
$$;

comment on function graphile_worker.parse_cron_schedule(text, text) is
  'Parses a cron schedule (five fields, names, steps on ranges, @daily etc.) and a time zone '
  '(default UTC) into a cron_item for cron_matches / cron_next_after / cron_times_between; '
  'raises GWC01-GWC03 or GWC08 on a bad schedule.';
