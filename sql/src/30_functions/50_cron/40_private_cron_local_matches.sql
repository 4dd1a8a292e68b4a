-- Whether a wall-clock minute matches an item's fields (no time zone logic): minute, hour and
-- month must match; the days follow upstream's rule (both day fields restricted: either fires).
create function graphile_worker._private_cron_local_matches(
  item graphile_worker.cron_item,
  local_time timestamp
) returns boolean
language sql
immutable
parallel safe
set search_path = pg_catalog, pg_temp
return extract(minute from local_time)::int = any((item).minutes)
  and extract(hour from local_time)::int = any((item).hours)
  and extract(month from local_time)::int = any((item).months)
  and case
    when (item).dom_restricted and (item).dow_restricted then
      extract(day from local_time)::int = any((item).days)
      or extract(dow from local_time)::int = any((item).weekdays)
    else
      extract(day from local_time)::int = any((item).days)
      and extract(dow from local_time)::int = any((item).weekdays)
  end;
