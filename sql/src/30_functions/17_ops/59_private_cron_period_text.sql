-- A fill period as a crontab writes it (docs/cron.md, "Options"): weeks, days, hours,
-- minutes and seconds, largest first, zero parts left out ('1d', '4w3d2h1m'); null for none.
create function graphile_worker._private_cron_period_text(period interval)
returns text
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select string_agg(v.n::text || v.unit, '' order by v.ord)
  from (select pg_catalog.floor(pg_catalog.date_part('epoch', period))::bigint as s) as e,
    lateral (values
      (1, 'w', e.s / 604800),
      (2, 'd', e.s % 604800 / 86400),
      (3, 'h', e.s % 86400 / 3600),
      (4, 'm', e.s % 3600 / 60),
      (5, 's', e.s % 60)) as v(ord, unit, n)
  where v.n > 0;
$$;

comment on function graphile_worker._private_cron_period_text(interval) is
  'Cron: a fill period as crontab text (1d, 4w3d2h1m), null for zero or null.';
