-- security definer: callers get EXECUTE on this function and no rights on the private tables
-- or helpers, so it acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.register_crontab(crontab text, now timestamptz default now())
returns int
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_count int;
  v_items graphile_worker.cron_item[];
begin
  if now is distinct from pg_catalog.now() then  -- below the admin level, the server's clock
    perform graphile_worker._private_check_clock(now, 'register_crontab');
  end if;
  v_items := array(select i from graphile_worker.parse_crontab(crontab) as i);
  insert into graphile_worker._private_known_crontabs (identifier, known_since, last_execution)
  select i.identifier, now, null
  from pg_catalog.unnest(v_items) as i
  order by i.identifier
  on conflict (identifier) do nothing;
  get diagnostics v_count = row_count;
  -- 0.1.8: the items as registered, for cron_items() and run_cron_item()
  perform graphile_worker._private_store_cron_specs(v_items, now);
  return v_count;
end;
$$;

comment on function graphile_worker.register_crontab(text, timestamptz) is
  'Parses the crontab and records each item not yet in _private_known_crontabs as known since '
  '`now` (so it is never backfilled before then), and each item as registered (cron_items); '
  'returns how many were new. Idempotent; schedule_crontab does this itself.';
