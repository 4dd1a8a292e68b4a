-- The first minute strictly after `after` at which the item fires, or null if there is none up
-- to `until`. Walks constant-offset stretches of the time zone: within one, the next wall-clock
-- match is the answer; at a DST change, cron_matches decides (gap and repeat rules).
create function graphile_worker._private_cron_next_after(
  item graphile_worker.cron_item,
  after timestamptz,
  until timestamptz
) returns timestamptz
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_zone text := coalesce(item.time_zone, 'UTC');
  v_from timestamptz := date_trunc('minute', after, 'UTC');
  v_until timestamptz := date_trunc('minute', until, 'UTC');
  v_local timestamp;
  v_next timestamp;
  v_candidate timestamptz;
  v_change timestamptz;
begin
  if not isfinite(v_from) then
    return null;
  end if;
  if v_zone = 'UTC' then
    v_candidate := graphile_worker._private_cron_next_local(item, v_from at time zone 'UTC')
      at time zone 'UTC';
    return case when v_candidate <= v_until then v_candidate end;
  end if;
  for v_step in 1..100000 loop
    v_local := v_from at time zone v_zone;
    v_next := graphile_worker._private_cron_next_local(item, v_local);
    if v_next is null then
      return null;
    end if;
    -- The instant of v_next if the offset stays as it is at v_from.
    v_candidate := v_from + (v_next - v_local);
    v_change := graphile_worker._private_cron_first_transition(
      v_zone, v_from, least(v_candidate, v_until));
    if v_change is null then
      if v_candidate > v_until then
        return null;
      end if;
      if not item.fixed_time or not graphile_worker._private_cron_is_repeat(v_zone, v_candidate)
      then
        return v_candidate;
      end if;
      v_from := v_candidate;
    else
      if graphile_worker.cron_matches(item, v_change) then
        return v_change;
      end if;
      v_from := v_change;
    end if;
  end loop;
  raise exception 'cron: no due time found after % for schedule ''%''', after, item.schedule
    using errcode = 'GWC09',
      detail = 'The search gave up after 100000 steps.',
      hint = 'Report this schedule and time zone as a bug.';
end;
$$;
