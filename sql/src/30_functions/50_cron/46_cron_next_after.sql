-- security definer: callers get EXECUTE on this function only, not on the _private_cron
-- helpers it calls; it reads no table, pins search_path and qualifies every name.
create function graphile_worker.cron_next_after(item graphile_worker.cron_item, after timestamptz)
returns timestamptz
language sql
security definer
stable
strict
set search_path = pg_catalog, pg_temp
return graphile_worker._private_cron_next_after(item, after, 'infinity'::timestamptz);

comment on function graphile_worker.cron_next_after(graphile_worker.cron_item, timestamptz) is
  'The next minute strictly after `after` at which the item fires (the same rule as cron_matches,'
  ' DST included), found by jumping over fields, never minute by minute; null if the schedule '
  'can never fire (e.g. 0 0 30 2 *).';
