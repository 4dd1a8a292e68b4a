-- Parse the time part of a crontab line (five fields, or an @ shorthand) into a cron_item with
-- the expanded fields filled in; `context` prefixes every error ("crontab line 3").
create function graphile_worker._private_cron_parse_schedule(
  context text,
  schedule text,
  time_zone text
) returns graphile_worker.cron_item
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_item graphile_worker.cron_item;
  v_fields text[];
  v_expanded text;
begin
  v_fields := regexp_split_to_array(btrim(schedule, E' \t'), '[ \t]+');
  if left(v_fields[1], 1) = '@' then
    v_expanded := case lower(v_fields[1])
      when '@yearly' then '0 0 1 1 *'
      when '@annually' then '0 0 1 1 *'
      when '@monthly' then '0 0 1 * *'
      when '@weekly' then '0 0 * * 0'
      when '@daily' then '0 0 * * *'
      when '@midnight' then '0 0 * * *'
      when '@hourly' then '0 * * * *'
    end;
    if v_expanded is null or cardinality(v_fields) <> 1 then
      raise exception '%: ''%'' is not a supported schedule shorthand', context, v_fields[1]
        using errcode = 'GWC01',
          detail = 'Supported: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly.',
          hint = 'Write the five time fields instead (minute hour day-of-month month day-of-week).';
    end if;
    v_fields := string_to_array(v_expanded, ' ');
  end if;
  if cardinality(v_fields) <> 5 then
    raise exception '%: expected 5 time fields, found %', context, cardinality(v_fields)
      using errcode = 'GWC01',
        detail = format('The schedule is ''%s''.', schedule),
        hint = 'Write minute hour day-of-month month day-of-week, or an @ shorthand.';
  end if;
  v_item.schedule := btrim(schedule, E' \t');
  v_item.minutes := graphile_worker._private_cron_parse_field(
    context, 'minute', v_fields[1], 0, 59);
  v_item.hours := graphile_worker._private_cron_parse_field(context, 'hour', v_fields[2], 0, 23);
  v_item.days := graphile_worker._private_cron_parse_field(
    context, 'day of month', v_fields[3], 1, 31);
  v_item.months := graphile_worker._private_cron_parse_field(context, 'month', v_fields[4], 1, 12);
  v_item.weekdays := graphile_worker._private_cron_parse_field(
    context, 'day of week', v_fields[5], 0, 6);
  -- As upstream: a day field is restricted when its values are not the full set, so `1-31` and
  -- `0-6` count as `*`; when both day fields are restricted, either one matching fires.
  v_item.dom_restricted := cardinality(v_item.days) < 31;
  v_item.dow_restricted := cardinality(v_item.weekdays) < 7;
  -- Fixed-time schedules (minute and hour written as plain values, lists or ranges) run once per
  -- local occurrence across DST changes; `*` or a step in either field follows real time.
  v_item.fixed_time := v_fields[1] !~ '[*/]' and v_fields[2] !~ '[*/]';
  v_item.time_zone := graphile_worker._private_cron_time_zone(context, coalesce(time_zone, 'UTC'));
  v_item.fill := interval '0';
  return v_item;
end;
$$;
