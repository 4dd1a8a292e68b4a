-- The lock-expiry rule of graphile-worker 0.18: a job or queue locked for longer than this
-- counts as unlocked (its worker is presumed lost). remove_job and the admin functions treat
-- such a job as not locked, reset_locked sweeps its lock, and below the admin level
-- reset_locked's threshold may not be shorter. The interval is written here only (reset_locked
-- repeats it as the default of older_than, which \df shows and callers evaluate with their own
-- rights). Immutable and without arguments: the planner folds a call into the constant, so a
-- query using it plans exactly as with the literal.
create function graphile_worker._private_lock_expiry()
returns interval
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select interval '4 hours';
$$;

comment on function graphile_worker._private_lock_expiry() is
  'Private: the age after which a job or queue lock counts as expired (4 hours, the graphile-worker rule).';
