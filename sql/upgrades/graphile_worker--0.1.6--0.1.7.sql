-- graphile_worker 0.1.6 -> 0.1.7: no change to any object yet (0.1.7 corrects a source comment
-- of _private_wait_marks, which is not stored in the database). The public functions keep their
-- signatures, results and errors.

-- from sql/src/30_functions/00_version.sql (always last)
-- The version of the installed SQL, for both install kinds (extension and standalone script).
create or replace function graphile_worker.version()
returns text
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select '0.1.7'::text;
$$;

comment on function graphile_worker.version() is
  'The version of the graphile_worker SQL installed in this database (extension or standalone script).';
