-- graphile-worker's migration ledger. Node workers read max(id) and the highest breaking id at
-- start: rows 1..20 with upstream's breaking flags tell them the schema is at 0.18 (migration
-- 20) and they run unchanged. Extension-only changes never add rows here.
create table graphile_worker.migrations (
  id integer not null,
  ts timestamptz default now() not null,
  breaking boolean default false not null,
  constraint migrations_pkey primary key (id)
);

insert into graphile_worker.migrations (id, breaking)
select v.id, v.id = any (array[1, 3, 11, 13, 14, 16, 19])
from pg_catalog.generate_series(1, 20) as v(id);

comment on table graphile_worker.migrations is
  'graphile-worker migration ledger: rows 1..20 (schema of graphile-worker 0.18). Never add rows for extension-only changes.';

-- extension-only:begin
-- Rows 1..20 come from the install script; only rows a later Node version might add are data.
select pg_catalog.pg_extension_config_dump('graphile_worker.migrations', 'where id > 20');
-- extension-only:end
