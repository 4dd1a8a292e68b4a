-- Garbage collectors take the enqueuers' guard exclusively (see _private_gc_guard). They try
-- for at most `wait`, so a long application transaction that enqueued a job delays a GC run
-- instead of queueing every new enqueue behind the GC's lock request. Returns false when the
-- lock could not be had in time.
create function graphile_worker._private_gc_lock(wait interval)
returns boolean
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_deadline timestamptz := clock_timestamp() + coalesce(wait, interval '0');
begin
  loop
    if pg_catalog.pg_try_advisory_xact_lock(2037542723, 0) then
      return true;
    end if;
    if clock_timestamp() >= v_deadline then
      return false;
    end if;
    perform pg_catalog.pg_sleep(0.01);
  end loop;
  return false;  -- not reached: the loop only ends by returning
end;
$$;
