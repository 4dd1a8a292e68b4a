-- Whether an item fires at the minute containing `at`, in the item's time zone (DESIGN: DST
-- rule in docs/cron.md). Fixed-time items fire once per local occurrence: a time repeated by a
-- fall-back fires on its first pass only, and a time skipped by spring-forward fires at the first
-- minute after the gap. Other items match the wall clock at each real minute.
-- security definer: callers get EXECUTE on this function only, not on the _private_cron
-- helpers it calls; it reads no table, pins search_path and qualifies every name.
create function graphile_worker.cron_matches(item graphile_worker.cron_item, at timestamptz)
returns boolean
language plpgsql
security definer
stable
strict
set search_path = pg_catalog, pg_temp
as $$
declare
  v_zone text := coalesce(item.time_zone, 'UTC');
  v_at timestamptz := date_trunc('minute', at, 'UTC');
  v_local timestamp := v_at at time zone v_zone;
  v_previous timestamp;
begin
  if v_zone = 'UTC' or not item.fixed_time then
    return graphile_worker._private_cron_local_matches(item, v_local);
  end if;
  if graphile_worker._private_cron_local_matches(item, v_local)
    and not graphile_worker._private_cron_is_repeat(v_zone, v_at)
  then
    return true;
  end if;
  v_previous := (v_at - interval '1 minute') at time zone v_zone;
  if v_local - v_previous > interval '1 minute' then
    -- `at` is the first minute after a spring-forward gap: fire for any skipped match.
    return graphile_worker._private_cron_next_local(item, v_previous) < v_local;
  end if;
  return false;
end;
$$;

comment on function graphile_worker.cron_matches(graphile_worker.cron_item, timestamptz) is
  'Whether the item fires at the minute containing at, exact to the minute in its time zone; '
  'fixed-time items fire once per local occurrence across DST changes (skipped times at the '
  'first minute after the gap, repeated times once).';
