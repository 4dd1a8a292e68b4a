-- Serialise enqueues per job key (fix for upstream issue #580: a keyed add_job racing another
-- keyed add_job could return no row). Keys hash into 1024 buckets; the transaction-level
-- advisory locks are taken in bucket order so two callers never deadlock on each other, and
-- a transaction holds at most 1024 of them however many keys it enqueues. Transaction-level
-- locks also work through PgBouncer's transaction pooling.
create function graphile_worker._private_lock_job_keys(job_keys text[])
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  perform pg_catalog.pg_advisory_xact_lock(2037542722, b.bucket)
  from (
    select distinct pg_catalog.hashtext(k) & 1023 as bucket
    from pg_catalog.unnest(job_keys) as k
    where k is not null
    order by 1
  ) as b;
end;
$$;
