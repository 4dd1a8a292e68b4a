-- The first minute in (after, until] at which the UTC offset of `time_zone` differs from its
-- offset at `after` (a DST change), or null. Probes one day apart, then bisects to the minute;
-- `after` and `until` are whole minutes. Two changes less than a day apart that cancel out are
-- not seen (tzdata has none since 1970).
create function graphile_worker._private_cron_first_transition(
  time_zone text,
  after timestamptz,
  until timestamptz
) returns timestamptz
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_offset interval := (after at time zone time_zone) - (after at time zone 'UTC');
  v_low timestamptz := after;
  v_high timestamptz;
  v_middle timestamptz;
begin
  if time_zone = 'UTC' then
    return null;
  end if;
  while v_low < until loop
    v_high := least(v_low + interval '24 hours', until);
    if (v_high at time zone time_zone) - (v_high at time zone 'UTC') <> v_offset then
      while v_high - v_low > interval '1 minute' loop
        v_middle := date_trunc('minute', v_low + (v_high - v_low) / 2, 'UTC');
        if (v_middle at time zone time_zone) - (v_middle at time zone 'UTC') = v_offset then
          v_low := v_middle;
        else
          v_high := v_middle;
        end if;
      end loop;
      return v_high;
    end if;
    v_low := v_high;
  end loop;
  return null;
end;
$$;
