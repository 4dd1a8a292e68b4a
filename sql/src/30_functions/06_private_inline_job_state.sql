-- The state of a job of the jobs table, the one place its rule is written (job_status,
-- list_jobs, count_jobs and the admin actions through _private_lock_job_states): running while
-- it is locked and the lock is not older than _private_lock_expiry() (stale_before is now minus
-- that expiry), then failed (no attempts left), retrying (attempted, attempts left), scheduled
-- (run_at after now) and waiting. A job being cancelled, and jobs only in the finished-jobs
-- store, are the callers' own cases.
-- Inlined: a single-expression SQL function without SET, SECURITY DEFINER or STRICT, which the
-- planner replaces by its CASE in the caller's statement, so a filter on the state plans as
-- the expression written in place. Parallel safe: PostgreSQL decides whether a query may run
-- in parallel before it inlines, and a function not marked so kept count_jobs' scan of the jobs
-- table on one process (100 -> 160-200 ms at a million jobs). It runs only inside the
-- extension's functions, under their pinned search_path (see CONTRIBUTING.md, "Inlined
-- helpers").
create function graphile_worker._private_inline_job_state(
  locked_at timestamptz,
  attempts smallint,
  max_attempts smallint,
  run_at timestamptz,
  stale_before timestamptz,
  now timestamptz
)
returns text
language sql
immutable
parallel safe
as $$
  select case
    when $1 is not null and $1 >= $5 then 'running'
    when $2 >= $3 then 'failed'
    when $2 > 0 then 'retrying'
    when $4 > $6 then 'scheduled'
    else 'waiting'
  end
$$;

comment on function graphile_worker._private_inline_job_state(timestamptz, smallint, smallint, timestamptz, timestamptz, timestamptz) is
  'Private, inlined: the state of a job of the jobs table (running, failed, retrying, scheduled, waiting) from its lock, attempts and run_at, locks before stale_before counting as expired.';
