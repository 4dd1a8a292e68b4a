-- The version of the installed SQL, for both install kinds (extension and standalone script).
create function graphile_worker.version()
returns text
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select '@EXTVERSION@'::text;
$$;

comment on function graphile_worker.version() is
  'The version of the graphile_worker SQL installed in this database (extension or standalone script).';
