-- security definer: callers get EXECUTE on this function only, not on the _private_cron
-- helpers it calls; it reads no table, pins search_path and qualifies every name.
create function graphile_worker.cron_times_between(
  item graphile_worker.cron_item,
  after timestamptz,
  until timestamptz
) returns setof timestamptz
language plpgsql
security definer
stable
strict
set search_path = pg_catalog, pg_temp
as $$
declare
  v_time timestamptz := after;
begin
  loop
    v_time := graphile_worker._private_cron_next_after(item, v_time, until);
    exit when v_time is null;
    return next v_time;
  end loop;
end;
$$;

comment on function graphile_worker.cron_times_between(
  graphile_worker.cron_item, timestamptz, timestamptz) is
  'The minutes t with after < t <= until at which the item fires, in order (the same rule as '
  'cron_matches, DST included); used for backfill and catch-up.';
