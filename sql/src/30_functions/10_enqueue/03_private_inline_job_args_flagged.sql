-- The screen in front of _private_check_job_args: true when one job's arguments may break one
-- of its rules, false when they surely do not. add_job and add_jobs call the checker only for
-- flagged jobs, as calling it for every job measured 15 to 30 % more server time for add_job and
-- about a third more for add_jobs (the call and the switch to its pinned search_path,
-- PostgreSQL 15). The payload is flagged for whatever jsonb may reject, and the checker
-- converts only those: a \u escape (\u0000, an unpaired surrogate), an e followed by a sign or
-- digit and 4 more digits (a number beyond numeric has an exponent of 5 digits or more, or more
-- than 6000 digits), more than 6000 bytes. A rule added to the checker is added here too
-- (tests/sql/test_bad_input.py runs every rule through both callers).
-- Inlined: a single-expression SQL function without SET, SECURITY DEFINER or STRICT, which the
-- planner replaces by its expression in the caller's statement, so it costs nothing. It runs
-- (and is parsed) only inside add_job and add_jobs, under their pinned search_path; its function
-- and table names are qualified all the same (see CONTRIBUTING.md, "Inlined helpers").
create function graphile_worker._private_inline_job_args_flagged(
  identifier text,
  payload json,
  queue_name text,
  run_at timestamptz,
  max_attempts integer,
  job_key text,
  priority integer,
  flags text[]
)
returns boolean
language sql
stable
as $$
  select $1 is null
    or pg_catalog.length($1) > 128
    or pg_catalog.length($3) > 128
    or pg_catalog.length($6) not between 1 and 512
    or $5 not between 1 and 32767
    or $7 not between -32768 and 32767
    or pg_catalog.array_position($8, null::text) is not null
    or $4 < '0001-01-02 00:00:00+00'::timestamptz or $4 >= '9999-12-31 00:00:00+00'::timestamptz
    or pg_catalog.octet_length($2::text) > 6000
    or pg_catalog.strpos($2::text, E'\\u') > 0
    or $2::text ~ '[eE][-+0-9][0-9]{4}'
$$;

comment on function graphile_worker._private_inline_job_args_flagged(text, json, text, timestamptz, integer, text, integer, text[]) is
  'Private, inlined into add_job and add_jobs: true when one job''s arguments may break a rule of _private_check_job_args (which then decides), false when they surely do not.';
