-- graphile_worker 0.1.5 -> 0.1.6: autovacuum settings of the queue's tables (issue 15, item 3).
-- The public functions keep their signatures, results and errors.

-- from sql/src/20_tables/90_storage_parameters.sql, except that a parameter the database's
-- owner has already set on a table (docs/performance.md recommended some) is left as it is.
do $$
declare
  v_table regclass;
  v_option text;
  v_current text[];
begin
  for v_table, v_option in
    select t::regclass, o
    from (values
      ('graphile_worker._private_jobs', 'autovacuum_vacuum_scale_factor=0.01'),
      ('graphile_worker._private_jobs', 'autovacuum_vacuum_threshold=1000'),
      ('graphile_worker._private_jobs', 'autovacuum_analyze_scale_factor=0.02'),
      ('graphile_worker._private_jobs', 'autovacuum_vacuum_cost_limit=2000'),
      ('graphile_worker._private_job_queues', 'autovacuum_vacuum_cost_delay=0'),
      ('graphile_worker._private_claim_floors', 'autovacuum_vacuum_cost_delay=0'),
      ('graphile_worker._private_claim_floor_log', 'autovacuum_vacuum_cost_delay=0'),
      ('graphile_worker._private_claim_clock', 'autovacuum_vacuum_cost_delay=0'),
      ('graphile_worker._private_workers', 'autovacuum_vacuum_cost_delay=0'),
      ('graphile_worker._private_wait_marks', 'autovacuum_vacuum_cost_delay=0')
    ) as v(t, o)
  loop
    select coalesce(c.reloptions, '{}') into v_current from pg_catalog.pg_class as c where c.oid = v_table;
    if not exists (
      select 1 from pg_catalog.unnest(v_current) as r(opt)
      where pg_catalog.split_part(r.opt, '=', 1) = pg_catalog.split_part(v_option, '=', 1)
    ) then
      execute pg_catalog.format('alter table %s set (%s = %s)', v_table,
        pg_catalog.split_part(v_option, '=', 1), pg_catalog.split_part(v_option, '=', 2));
    end if;
  end loop;
end;
$$;

-- from sql/src/30_functions/00_version.sql (always last)
-- The version of the installed SQL, for both install kinds (extension and standalone script).
create or replace function graphile_worker.version()
returns text
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select '0.1.6'::text;
$$;

comment on function graphile_worker.version() is
  'The version of the graphile_worker SQL installed in this database (extension or standalone script).';
