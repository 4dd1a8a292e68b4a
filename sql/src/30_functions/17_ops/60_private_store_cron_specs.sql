-- Store the parsed items of a crontab (_private_cron_specs), called by register_crontab and
-- schedule_crontab. A row is written only when its item changed (compared as text: the item
-- holds json, which has no equality), so the call a runner makes every minute writes nothing
-- while its crontab stays the same. Two crontabs with the same identifier share one row: the
-- last one registered.
create function graphile_worker._private_store_cron_specs(
  items graphile_worker.cron_item[],
  now timestamptz
)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  insert into graphile_worker._private_cron_specs as s (identifier, item, registered_at)
  select distinct on (i.identifier) i.identifier, i, _private_store_cron_specs.now
  from pg_catalog.unnest(_private_store_cron_specs.items) as i
  where i.identifier is not null
  order by i.identifier
  on conflict on constraint cron_specs_pkey do update
    set item = excluded.item, registered_at = excluded.registered_at
    where s.item::text is distinct from excluded.item::text;
end;
$$;

comment on function graphile_worker._private_store_cron_specs(graphile_worker.cron_item[], timestamptz) is
  'Cron: store parsed items in _private_cron_specs, rewriting a row only when its item changed.';
