-- Cron items seen by any scheduler, and the last minute each was scheduled for: the upsert on
-- last_execution is the guard that makes every minute run once across any number of runners.
create table graphile_worker._private_known_crontabs (
  identifier text not null,
  known_since timestamptz not null,
  last_execution timestamptz,
  constraint known_crontabs_pkey primary key (identifier)
);

alter table graphile_worker._private_known_crontabs enable row level security;

-- extension-only:begin
select pg_catalog.pg_extension_config_dump('graphile_worker._private_known_crontabs', '');
-- extension-only:end
