-- Sizes of the extension's tables and indexes (docs/operations.md): for a table, its heap and
-- TOAST (pg_table_size, without its indexes, which have their own rows), for an index, itself;
-- the rows estimate of the last ANALYZE (null before the first), the dead tuples and last
-- autovacuum of the statistics collector (tables only). Largest first. Reads catalogs only.
create function graphile_worker.storage_stats()
returns table (
  relation text,
  kind text,
  rows_estimate bigint,
  total_bytes bigint,
  dead_tuples bigint,
  last_autovacuum timestamptz,
  table_name text,
  last_autoanalyze timestamptz
)
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select c.relname::text,
    case c.relkind when 'i' then 'index' else 'table' end,
    case when c.reltuples >= 0 then c.reltuples::bigint end,
    case c.relkind when 'i' then pg_catalog.pg_relation_size(c.oid)
      else pg_catalog.pg_table_size(c.oid) end,
    st.n_dead_tup,
    st.last_autovacuum,
    coalesce(tbl.relname, c.relname)::text,
    st.last_autoanalyze
  from pg_catalog.pg_class as c
  left join pg_catalog.pg_stat_all_tables as st on st.relid = c.oid
  left join pg_catalog.pg_index as ix on ix.indexrelid = c.oid
  left join pg_catalog.pg_class as tbl on tbl.oid = ix.indrelid
  where c.relnamespace = 'graphile_worker'::regnamespace
    and c.relkind in ('r', 'p', 'i')
  order by 4 desc, 1;
$$;

comment on function graphile_worker.storage_stats() is
  'Monitor: each table and index of the extension: kind, rows estimate (last ANALYZE), bytes (a table without its indexes; each index its own row), dead tuples, last autovacuum and autoanalyze (tables), and the table an index belongs to.';
