-- Check a time zone name against the server's IANA database and return its spelling.
-- Region/City names are checked cheaply by using them (a string with a slash and no comma can
-- only be a zone file); others by a scan of pg_timezone_names (about 20 ms). Abbreviations (EST)
-- that are not zone names and POSIX strings (UTC+3, whose sign PostgreSQL inverts) are
-- rejected: they do not follow a place's DST rules.
create function graphile_worker._private_cron_time_zone(context text, time_zone text)
returns text
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_name text;
begin
  if time_zone in ('UTC', 'Etc/UTC') then
    return 'UTC';
  end if;
  if time_zone ~ '^[A-Za-z][-A-Za-z0-9_+]*(/[-A-Za-z0-9_+]+)+$' then
    begin
      perform pg_catalog.now() at time zone time_zone;
      return time_zone;
    exception when invalid_parameter_value then
      null; -- reported below
    end;
  end if;
  select z.name into v_name
  from pg_catalog.pg_timezone_names as z
  where lower(z.name) = lower(time_zone)
  order by z.name = time_zone desc, z.name
  limit 1;
  if v_name is null then
    raise exception '%: time zone ''%'' is not known', context, time_zone
      using errcode = 'GWC08',
        detail = 'The tz option takes an IANA time zone name known to this server '
          '(see pg_timezone_names).',
        hint = 'Use a name such as Europe/London, America/New_York or UTC.';
  end if;
  return v_name;
end;
$$;
