-- Whether the wall-clock time of minute `at` in `time_zone` already occurred earlier (the second
-- pass through a time repeated by a fall-back change). Looks for an offset drop within 25 hours.
create function graphile_worker._private_cron_is_repeat(time_zone text, at timestamptz)
returns boolean
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_local timestamp := at at time zone time_zone;
  v_offset interval := v_local - (at at time zone 'UTC');
  v_before timestamptz := at - interval '25 hours';
  v_offset_before interval := (v_before at time zone time_zone) - (v_before at time zone 'UTC');
begin
  if v_offset_before <= v_offset then
    return false;
  end if;
  return ((at - (v_offset_before - v_offset)) at time zone time_zone) = v_local;
end;
$$;
