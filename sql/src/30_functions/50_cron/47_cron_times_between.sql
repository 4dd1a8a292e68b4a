-- Bounded: at most max_results times (default 10000, at most 1000000); a window with more
-- raises GWC10 instead of running until statement_timeout (cron_times_between('* * * * *',
-- '1900-01-01', '2200-01-01') asks for 157 million). Each step jumps to the next due time, so
-- the work is proportional to what is returned.
-- security definer: callers get EXECUTE on this function only, not on the _private_cron
-- helpers it calls; it reads no table, pins search_path and qualifies every name.
create function graphile_worker.cron_times_between(
  item graphile_worker.cron_item,
  after timestamptz,
  until timestamptz,
  max_results integer default 10000
) returns setof timestamptz
language plpgsql
security definer
stable
strict
set search_path = pg_catalog, pg_temp
as $$
declare
  v_time timestamptz := after;
  v_count integer := 0;
begin
  if max_results < 1 or max_results > 1000000 then
    raise exception 'max_results must be between 1 and 1000000, not %', max_results
      using errcode = 'GWA02',
        detail = 'cron_times_between returns at most max_results times, so a call is bounded.',
        hint = 'Leave it out for the default of 10000; for more, ask for a shorter window.';
  end if;
  loop
    v_time := graphile_worker._private_cron_next_after(item, v_time, until);
    exit when v_time is null;
    if v_count = max_results then
      raise exception 'cron: schedule ''%'' is due more than % times between % and %',
        item.schedule, max_results, after, until
        using errcode = 'GWC10',
          detail = format('cron_times_between returns at most max_results (%s) times; time '
            '%s would be number %s.', max_results, v_time, max_results + 1),
          hint = 'Ask for a shorter window (call again with after = the last time returned), '
            'or pass a larger max_results (at most 1000000).';
    end if;
    v_count := v_count + 1;
    return next v_time;
  end loop;
end;
$$;

comment on function graphile_worker.cron_times_between(
  graphile_worker.cron_item, timestamptz, timestamptz, integer) is
  'The minutes t with after < t <= until at which the item fires, in order (the same rule as '
  'cron_matches, DST included); used for backfill and catch-up. Bounded: more than '
  'max_results (default 10000, at most 1000000) times in the window raises GWC10.';
