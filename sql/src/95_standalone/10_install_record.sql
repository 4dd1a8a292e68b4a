-- standalone-only:begin
-- The standalone script (no CREATE EXTENSION) records what it installed in a table of its own;
-- upgrades of a standalone install apply sql/upgrades/graphile_worker--A--B.sql with psql and
-- add a row (see CONTRIBUTING.md and docs/install.md).
create table graphile_worker._private_standalone_installs (
  version text not null,
  installed_at timestamptz not null default now(),
  constraint standalone_installs_pkey primary key (version)
);

alter table graphile_worker._private_standalone_installs enable row level security;

insert into graphile_worker._private_standalone_installs (version) values ('@EXTVERSION@');
-- standalone-only:end
