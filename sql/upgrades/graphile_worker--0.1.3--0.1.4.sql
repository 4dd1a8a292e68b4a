-- graphile_worker 0.1.3 -> 0.1.4. The public functions keep their signatures; no table change
-- in the sections below unless they say so. graphile_worker.version() comes last.
--
-- Issue 14, the SQL written once (nothing a user sees changes):
--  * new private helpers (revoked from public, granted to no level): _private_lock_expiry()
--    (the 4-hour lock-expiry rule; the planner folds it into the constant),
--    _private_add_tasks_and_queues(job_spec[]), _private_unlock_job_queues(text, integer[]),
--    _private_return_jobs(text, bigint[]), the job-row path of add_job and add_jobs
--    (_private_inline_job_args_flagged, _private_inline_job_row: SQL functions the planner
--    inlines, so without SET search_path, see CONTRIBUTING.md; _private_upsert_jobs);
--  * _private_check_job_args and _private_merge_array_payloads: bodies unchanged (comments
--    changed); add_jobs screens the specs in one pass (was two), and the upsert merges every
--    pair of array payloads with the helper;
--  * add_job: one insert without a key, the shared upsert with a key (unsafe_dedupe updates the
--    job of a key already taken first), add_jobs for a new task or queue and a held key; it
--    always takes generic plans (SET plan_cache_mode); add_jobs: a held key's spec goes
--    through the same upsert again;
--  * report_jobs unlocks queues with _private_unlock_job_queues, return_jobs and
--    return_unheld_jobs give jobs back with _private_return_jobs, which does too; their comments
--    say why they take now;
--  * remove_job, complete_jobs, permanently_fail_jobs, reschedule_jobs, reset_locked read the
--    lock expiry from _private_lock_expiry().
--  Private functions get a COMMENT ON from this version on (those above and the changed ones).

-- ---- issue 14 (SQL written once): begin

-- from sql/src/30_functions/05_private_lock_expiry.sql (new)
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

revoke all on function graphile_worker._private_lock_expiry() from public;

-- from sql/src/30_functions/10_enqueue/02_private_add_tasks_and_queues.sql (new)
-- Create the task identifiers and queue names of these specs that do not exist yet (add_jobs, and
-- add_job's unsafe_dedupe). Only missing ones are inserted, so an existing identifier or queue
-- name burns no identity value (#619); ON CONFLICT covers a concurrent enqueuer creating the same
-- one. Callers hold the enqueuers' ROW SHARE lock on _private_tasks (see _private_gc_lock), so
-- what exists or is created here stays until they commit.
create function graphile_worker._private_add_tasks_and_queues(specs graphile_worker.job_spec[])
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  insert into graphile_worker._private_tasks (identifier)
  select distinct s.identifier
  from pg_catalog.unnest(specs) as s
  where not exists (
    select 1 from graphile_worker._private_tasks as t where t.identifier = s.identifier
  )
  on conflict do nothing;

  insert into graphile_worker._private_job_queues (queue_name)
  select distinct s.queue_name
  from pg_catalog.unnest(specs) as s
  where s.queue_name is not null
    and not exists (
      select 1 from graphile_worker._private_job_queues as q where q.queue_name = s.queue_name
    )
  on conflict do nothing;
end;
$$;

comment on function graphile_worker._private_add_tasks_and_queues(graphile_worker.job_spec[]) is
  'Private: create the missing task identifiers and queue names of these specs, burning no identity value for existing ones.';

revoke all on function graphile_worker._private_add_tasks_and_queues(graphile_worker.job_spec[]) from public;

-- from sql/src/30_functions/10_enqueue/03_private_inline_job_args_flagged.sql (new)
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
revoke all on function graphile_worker._private_inline_job_args_flagged(text, json, text, timestamptz, integer, text, integer, text[]) from public;

-- from sql/src/30_functions/10_enqueue/04_private_inline_job_row.sql (new)
-- One job's row as add_job and add_jobs insert it, the only place its expressions are written:
-- the task's and queue's ids and the defaults (payload {}, run_at now, 25 attempts, priority 0,
-- flags as the keys of a JSON object). No row when the task, or a named queue, does not exist
-- yet: the callers create them first (_private_add_tasks_and_queues), or add_job then goes
-- through add_jobs. The arguments were checked (_private_check_job_args).
-- Inlined: a single-SELECT SQL function without SET, SECURITY DEFINER or STRICT, not volatile;
-- the planner merges it into the caller's INSERT, for add_jobs' specs as a lateral join that it
-- pulls up into a plain join (the queue is therefore looked up in subqueries: an outer join
-- whose condition names the specs would keep the lateral subquery apart, a nested loop that
-- measured 6 to 8 % slower for 5,000 specs than the join written in place; this form, 2 %).
-- It runs (and is parsed) only inside add_job and add_jobs, under their pinned search_path; its
-- function and table names are qualified all the same (see CONTRIBUTING.md, "Inlined helpers").
create function graphile_worker._private_inline_job_row(
  identifier text,
  payload json,
  queue_name text,
  run_at timestamptz,
  max_attempts smallint,
  job_key text,
  priority smallint,
  flags text[]
)
returns table (
  job_queue_id integer,
  task_id integer,
  job_payload json,
  job_run_at timestamptz,
  job_max_attempts smallint,
  key text,
  job_priority smallint,
  job_flags jsonb
)
language sql
stable
as $$
  select
    case when $3 is not null then
      (select q.id from graphile_worker._private_job_queues as q where q.queue_name = $3) end,
    t.id,
    coalesce($2, '{}'::json),
    coalesce($4, pg_catalog.now()),
    coalesce($5, 25::smallint),
    $6,
    coalesce($7, 0::smallint),
    case when $8 is not null then
      (select pg_catalog.jsonb_object_agg(f, true) from pg_catalog.unnest($8) as f) end
  from graphile_worker._private_tasks as t
  where t.identifier = $1
    and ($3 is null
         or exists (select from graphile_worker._private_job_queues as q where q.queue_name = $3))
$$;

comment on function graphile_worker._private_inline_job_row(text, json, text, timestamptz, smallint, text, smallint, text[]) is
  'Private, inlined into add_job and add_jobs: one job''s row (task and queue ids, defaults applied) for the insert; no row when the task or named queue does not exist yet.';
revoke all on function graphile_worker._private_inline_job_row(text, json, text, timestamptz, smallint, text, smallint, text[]) from public;

-- from sql/src/30_functions/10_enqueue/05_private_upsert_jobs.sql (new)
-- The one statement that writes keyed jobs, for add_jobs and for add_job with a key: an upsert
-- of the specs in job key order. Every caller takes the speculative insert or the ON CONFLICT
-- row lock of each key in the same order, so concurrent calls wait for each other key by key and
-- never deadlock. ON CONFLICT DO UPDATE locks every conflicting row, also one it does not update:
-- with replace, a key's job that is available is replaced (array payloads merged, run_at kept
-- with preserve_run_at while the job has not run), and the row of a running or permanently
-- failed job is only locked; without replace (add_job's unsafe_dedupe) no job is changed. Rows
-- come back for the jobs inserted or replaced, so a caller learns which keys it holds but did not
-- write. Ids are drawn in spec order first (FIFO within a named queue); the id of a spec that
-- replaces a job stays unused, as with the identity default. Specs without keys are inserted
-- too. The tasks and queues must exist (a spec whose task or queue is missing writes nothing).
-- A plpgsql function, not SQL: its plan is cached for the session. Always the generic plan: a
-- custom plan for each call (PostgreSQL's choice for the first five calls, and later whenever
-- the custom plans look cheaper) costs add_job with a key about half its speed.
create function graphile_worker._private_upsert_jobs(
  specs graphile_worker.job_spec[],
  preserve_run_at boolean,
  replace boolean
)
returns setof graphile_worker._private_jobs
language plpgsql
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
begin
  return query
  insert into graphile_worker._private_jobs as jobs
    (id, job_queue_id, task_id, payload, run_at, max_attempts, key, priority, flags)
  overriding system value
  select s.id, r.*
  from (
    -- not pulled up (ORDER BY, volatile target list): nextval runs after the sort
    select pg_catalog.nextval('graphile_worker.jobs_id_seq1'::regclass) as id, u.*
    from pg_catalog.unnest(specs) with ordinality
      as u(identifier, payload, queue_name, run_at, max_attempts, job_key, priority, flags, ord)
    order by u.ord
  ) as s
  cross join lateral graphile_worker._private_inline_job_row(
    s.identifier, s.payload, s.queue_name, s.run_at, s.max_attempts, s.job_key, s.priority,
    s.flags) as r
  order by s.job_key
  on conflict (key) do update set
    job_queue_id = excluded.job_queue_id,
    task_id = excluded.task_id,
    payload = case
      when json_typeof(jobs.payload) = 'array' and json_typeof(excluded.payload) = 'array'
        then graphile_worker._private_merge_array_payloads(jobs.payload, excluded.payload)
      else excluded.payload
    end,
    max_attempts = excluded.max_attempts,
    run_at = case
      when _private_upsert_jobs.preserve_run_at is true and jobs.attempts = 0 then jobs.run_at
      else excluded.run_at
    end,
    priority = excluded.priority,
    revision = jobs.revision + 1,
    flags = excluded.flags,
    attempts = 0,
    last_error = null,
    updated_at = now()
  where jobs.is_available and _private_upsert_jobs.replace
  returning jobs.*;
end;
$$;

comment on function graphile_worker._private_upsert_jobs(graphile_worker.job_spec[], boolean, boolean) is
  'Private: insert the specs'' jobs, in job key order; with replace, a key''s available job is replaced, otherwise left as it is. Returns the rows written.';
revoke all on function graphile_worker._private_upsert_jobs(graphile_worker.job_spec[], boolean, boolean) from public;

-- from sql/src/30_functions/20_runner/05_private_unlock_job_queues.sql (new)
-- Unlock the named queues of jobs a worker is done with (reported by report_jobs, given back by
-- _private_return_jobs for return_jobs and return_unheld_jobs): get_jobs locks a job's queue row
-- together with the job, and the queue stays locked, running nothing else, until that job is
-- reported or returned. job_queue_ids are those jobs' queue ids (null for none: nothing to
-- do); only queue rows this worker still locks are touched, so a queue another worker locked
-- since is left alone. Callers update their jobs first, then call this: the order of
-- reset_locked and force_unlock_workers (jobs, then queues), so none of them waits for another
-- in a cycle.
create function graphile_worker._private_unlock_job_queues(worker_id text, job_queue_ids integer[])
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  if job_queue_ids is null then
    return;
  end if;
  update graphile_worker._private_job_queues as q
  set locked_by = null, locked_at = null
  where q.id = any(job_queue_ids)
    and q.locked_by = _private_unlock_job_queues.worker_id;
end;
$$;

comment on function graphile_worker._private_unlock_job_queues(text, integer[]) is
  'Private: unlock the named queues (job_queue_ids) of jobs worker_id reported or gave back, where that worker still locks them.';

revoke all on function graphile_worker._private_unlock_job_queues(text, integer[]) from public;

-- from sql/src/30_functions/20_runner/06_private_return_jobs.sql (new)
-- Give back jobs a worker claimed (return_jobs, return_unheld_jobs): the attempt counted at
-- checkout is refunded, and the job and its named queue are unlocked. Only jobs this worker
-- still locks are touched. Returns how many jobs were given back.
create function graphile_worker._private_return_jobs(worker_id text, job_ids bigint[])
returns integer
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_count integer;
  v_queue_ids integer[];
begin
  with returned as (
    update graphile_worker._private_jobs as jobs
    set attempts = greatest(0, jobs.attempts - 1), locked_by = null, locked_at = null
    where jobs.id = any(job_ids)
      and jobs.locked_by = _private_return_jobs.worker_id
    returning jobs.job_queue_id
  )
  select count(*), array_agg(r.job_queue_id) filter (where r.job_queue_id is not null)
  into v_count, v_queue_ids
  from returned as r;
  perform graphile_worker._private_unlock_job_queues(_private_return_jobs.worker_id, v_queue_ids);
  return v_count;
end;
$$;

comment on function graphile_worker._private_return_jobs(text, bigint[]) is
  'Private: give back jobs worker_id claimed: refund the attempt, unlock each job and its queue; only jobs that worker still locks. Returns their number.';

revoke all on function graphile_worker._private_return_jobs(text, bigint[]) from public;

-- from sql/src/30_functions/10_enqueue/00_private_check_job_args.sql
-- The rules for one job's arguments, with their errors, each written once: the first rule
-- broken raises, in this order, before anything is written, so bad input gets a clear error and
-- burns no identity value: upstream's SQLSTATEs where upstream has them (23502 not null, 23514
-- check, 22003 range, 22004 null flag), GWE01 for a run_at no client can read back and GWE03
-- for a payload that jsonb cannot hold. Returns nothing when the arguments are fine.
-- add_job and add_jobs call it only for a job that _private_inline_job_args_flagged flags (see
-- there why); a rule added here is added there too.
create or replace function graphile_worker._private_check_job_args(
  identifier text,
  payload json,
  queue_name text,
  run_at timestamptz,
  max_attempts integer,
  job_key text,
  priority integer,
  flags text[],
  spec_position integer default null
)
returns void
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_where text := case when spec_position is null then '' else format(' (job spec %s)', spec_position) end;
  v_message text;
  v_detail text;
begin
  if identifier is null then
    raise exception 'task identifier must not be null%', v_where
      using errcode = 'not_null_violation', column = 'identifier',
      detail = 'Every job names the task that runs it.',
      hint = 'Pass the task identifier as the first argument, e.g. add_job(''send_email'', ...).';
  end if;
  if length(identifier) > 128 then
    raise exception 'task identifier is too long%: % characters, at most 128', v_where, length(identifier)
      using errcode = 'check_violation', constraint = 'tasks_identifier_check',
      detail = format('The identifier starts with %L.', left(identifier, 40)),
      hint = 'Use a task identifier of at most 128 characters.';
  end if;
  if length(queue_name) > 128 then
    raise exception 'queue name is too long%: % characters, at most 128', v_where, length(queue_name)
      using errcode = 'check_violation', constraint = 'job_queues_queue_name_check',
      detail = format('The queue name starts with %L.', left(queue_name, 40)),
      hint = 'Use a queue name of at most 128 characters.';
  end if;
  if job_key is not null and (length(job_key) = 0 or length(job_key) > 512) then
    raise exception 'job key must have 1 to 512 characters%, not %', v_where, length(job_key)
      using errcode = 'check_violation', constraint = 'jobs_key_check',
      detail = 'An empty job key or one longer than 512 characters cannot be stored.',
      hint = 'Pass null for no key, or a key of 1 to 512 characters.';
  end if;
  if max_attempts is not null and max_attempts < 1 then
    raise exception 'max_attempts must be at least 1%, not %', v_where, max_attempts
      using errcode = 'check_violation', constraint = 'jobs_max_attempts_check',
      detail = 'A job needs at least one attempt.',
      hint = 'Pass null for the default of 25, or a number from 1 to 32767.';
  end if;
  if max_attempts > 32767 then
    raise exception 'smallint out of range%: max_attempts % is above 32767', v_where, max_attempts
      using errcode = 'numeric_value_out_of_range',
      detail = 'max_attempts is stored as a smallint.',
      hint = 'Pass a number from 1 to 32767.';
  end if;
  if priority < -32768 or priority > 32767 then
    raise exception 'smallint out of range%: priority % is outside -32768..32767', v_where, priority
      using errcode = 'numeric_value_out_of_range',
      detail = 'priority is stored as a smallint; lower numbers run first.',
      hint = 'Pass a priority from -32768 to 32767.';
  end if;
  if flags is not null and array_position(flags, null) is not null then
    raise exception 'flags must not contain null%', v_where
      using errcode = 'null_value_not_allowed',
      detail = 'Flags are stored as the keys of a JSON object.',
      hint = 'Remove the null element from flags.';
  end if;
  -- The range a Python datetime can hold in any time zone (years 1 to 9999, one day of margin
  -- for the session's UTC offset); PostgreSQL itself would accept infinity and year 294276.
  if run_at < '0001-01-02 00:00:00+00' or run_at >= '9999-12-31 00:00:00+00' then
    raise exception 'run_at must be between 0001-01-02 and 9999-12-30 UTC%, not %', v_where, run_at
      using errcode = 'GWE01',
      detail = 'Runners read run_at back as a date and time: infinity, -infinity and years '
        'outside 1 to 9999 cannot be represented by them (Python''s datetime).',
      hint = 'Pass null to run the job now, or a time from 0001-01-02 to 9999-12-30 UTC.';
  end if;
  -- json accepts what jsonb cannot hold: \u0000, an unpaired surrogate (\ud800-\udfff), a
  -- number beyond the numeric type. Replacing a keyed job merges array payloads as jsonb.
  if payload is not null then
    begin
      perform payload::jsonb;
    exception when data_exception or program_limit_exceeded then
      get stacked diagnostics v_message = message_text, v_detail = pg_exception_detail;
      raise exception 'payload cannot be converted to jsonb%: %', v_where, v_message
        using errcode = 'GWE03',
        detail = format('The payload is valid json, but jsonb rejects it (%s). Keyed jobs merge '
          'array payloads as jsonb, and other tools read payloads as jsonb.',
          rtrim(coalesce(nullif(v_detail, ''), v_message), '.')),
        hint = E'Remove \\u0000 and unpaired surrogates (\\ud800 to \\udfff) from the payload''s '
          'strings and keep its numbers within PostgreSQL''s numeric range; send binary data '
          'as base64, for example.';
    end;
  end if;
end;
$$;

comment on function graphile_worker._private_check_job_args(text, json, text, timestamptz, integer, text, integer, text[], integer) is
  'Private: raise the error of the first rule one job''s arguments break (spec_position names the spec of add_jobs); return nothing when they are fine.';

-- from sql/src/30_functions/10_enqueue/01_private_merge_array_payloads.sql
-- The payload of a keyed job replaced by a spec whose payload is an array, when the stored
-- payload is an array too (add_job and add_jobs call this only then; other payloads are
-- replaced): the two arrays concatenated as jsonb, as graphile-worker 0.18 does. A job written by
-- Node or by hand may hold json that jsonb cannot convert (\u0000, an unpaired surrogate, a
-- number beyond numeric): its key stays replaceable, the two arrays are then joined as text (the
-- elements are kept exactly as written). The new payload was checked at enqueue. The
-- subtransaction that catches the conversion error writes nothing (no transaction id): about
-- 2 microseconds a call.
create or replace function graphile_worker._private_merge_array_payloads(existing json, added json)
returns json
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_existing text;
  v_added text;
begin
  return (existing::jsonb || added::jsonb)::json;
exception when data_exception or program_limit_exceeded then
  -- the elements between the outer brackets (json keeps the text as written)
  v_existing := btrim(existing::text, E' \t\n\r');
  v_existing := btrim(substr(v_existing, 2, length(v_existing) - 2), E' \t\n\r');
  v_added := btrim(added::text, E' \t\n\r');
  v_added := btrim(substr(v_added, 2, length(v_added) - 2), E' \t\n\r');
  return ('[' || v_existing
    || case when v_existing <> '' and v_added <> '' then ', ' else '' end
    || v_added || ']')::json;
end;
$$;

comment on function graphile_worker._private_merge_array_payloads(json, json) is
  'Private: the payload of a keyed job whose array payload is replaced by an array: both concatenated (as jsonb, or as text when jsonb rejects the stored one).';

-- from sql/src/30_functions/10_enqueue/10_add_jobs.sql
-- Enqueue many jobs in one statement (graphile-worker 0.18 contract, plus fixes):
--  * every spec is validated first, so bad input changes nothing and burns no identity value:
--    the rules of _private_check_job_args (also a run_at no client can read back, GWE01, and a
--    payload jsonb cannot hold, GWE03), and the same job key in two specs (GWE02; upstream
--    fails in the upsert with 21000);
--  * keyed specs are serialised per key by row locks of the jobs table only (never advisory
--    locks, which any role can hold): one upsert in job key order locks the row of each key,
--    also the row of a running or permanently failed job, which it does not update; that job
--    then loses its key and the spec makes a new job, while no one else can touch the key. So
--    a keyed spec always returns its row (#580), an open transaction blocks only callers of
--    its own keys, and two calls never deadlock on each other's keys;
--  * a job's row is built in one place (_private_inline_job_row), keyed specs are written by
--    one upsert (_private_upsert_jobs), both shared with add_job; specs without keys take a
--    plain insert (ON CONFLICT costs each row a speculative insertion);
--  * the enqueuers' guard against garbage collection (see _private_gc_lock) is a ROW SHARE
--    lock on _private_tasks, held from before task and queue ids are read until commit;
--  * jobs:insert is notified while the notification queue is less than half full: a session
--    that stops reading it (any role can LISTEN) cannot make enqueueing fail; runners poll.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create or replace function graphile_worker.add_jobs(
  specs graphile_worker.job_spec[],
  job_key_preserve_run_at boolean default false
)
returns setof graphile_worker._private_jobs
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_count integer := coalesce(cardinality(specs), 0);
  v_rows graphile_worker._private_jobs[] := '{}';
  v_held text[];
  v_flagged bigint[];
  v_keyed bigint;
  v_new_tasks bigint;
  v_new_queues bigint;
  v_dup_key text;
  v_dup_positions text;
begin
  if v_count = 0 then
    return;
  end if;

  -- The enqueuers' guard first: gc_task_identifiers and gc_job_queues wait for it (it
  -- conflicts with their EXCLUSIVE lock), so the tasks and queues seen below stay.
  lock table graphile_worker._private_tasks in row share mode;

  -- One pass over the specs: those the checker must see (_private_inline_job_args_flagged, as
  -- in add_job), any keyed, any new task identifier or queue name.
  select
    array_agg(s.ord) filter (where graphile_worker._private_inline_job_args_flagged(
      s.identifier, s.payload, s.queue_name, s.run_at, s.max_attempts, s.job_key, s.priority,
      s.flags)),
    count(s.job_key),
    count(*) filter (where t.id is null),
    count(*) filter (where s.queue_name is not null and q.id is null)
  into v_flagged, v_keyed, v_new_tasks, v_new_queues
  from pg_catalog.unnest(specs) with ordinality
    as s(identifier, payload, queue_name, run_at, max_attempts, job_key, priority, flags, ord)
  left join graphile_worker._private_tasks as t on t.identifier = s.identifier
  left join graphile_worker._private_job_queues as q on q.queue_name = s.queue_name;

  if v_flagged is not null then
    -- the checker decides, spec by spec in order: it raises for the first invalid one
    perform graphile_worker._private_check_job_args(
      s.identifier, s.payload, s.queue_name, s.run_at, s.max_attempts, s.job_key, s.priority,
      s.flags, s.ord::integer)
    from pg_catalog.unnest(specs) with ordinality
      as s(identifier, payload, queue_name, run_at, max_attempts, job_key, priority, flags, ord)
    where s.ord = any(v_flagged)
    order by s.ord;
  end if;

  -- One upsert cannot replace a keyed job twice (upstream fails there with 21000, after
  -- drawing an identity value per spec): say which key, before anything is written.
  if v_keyed > 1 then
    select s.job_key into v_dup_key
    from pg_catalog.unnest(specs) with ordinality
      as s(identifier, payload, queue_name, run_at, max_attempts, job_key, priority, flags, ord)
    where s.job_key is not null
    group by s.job_key
    having count(*) > 1
    order by min(s.ord)
    limit 1;
    if v_dup_key is not null then
      select string_agg(s.ord::text, ', ' order by s.ord) into v_dup_positions
      from pg_catalog.unnest(specs) with ordinality
        as s(identifier, payload, queue_name, run_at, max_attempts, job_key, priority, flags, ord)
      where s.job_key = v_dup_key;
      raise exception 'job key % is in more than one job spec (job specs %)',
        quote_literal(left(v_dup_key, 100)), v_dup_positions
        using errcode = 'GWE02',
        detail = format('Job specs %s of this add_jobs call have the job key %L; one call can '
          'replace the job of a key only once.', v_dup_positions, v_dup_key),
        hint = 'Send one spec per job key: merge the payloads into one spec, or enqueue the '
          'others in a later call.';
    end if;
  end if;

  if v_new_tasks > 0 or v_new_queues > 0 then
    perform graphile_worker._private_add_tasks_and_queues(specs);
  end if;

  -- The count over-estimates (updates and future run_at count too), as upstream's does.
  if pg_catalog.pg_notification_queue_usage() < 0.5 then
    perform pg_catalog.pg_notify('jobs:insert',
      '{"r":' || random()::text || ',"count":' || v_count::text || '}');
  end if;

  if v_keyed = 0 then
    return query
    insert into graphile_worker._private_jobs as jobs
      (job_queue_id, task_id, payload, run_at, max_attempts, key, priority, flags)
    select r.*
    from pg_catalog.unnest(specs) with ordinality
      as s(identifier, payload, queue_name, run_at, max_attempts, job_key, priority, flags, ord)
    cross join lateral graphile_worker._private_inline_job_row(
      s.identifier, s.payload, s.queue_name, s.run_at, s.max_attempts, s.job_key, s.priority,
      s.flags) as r
    order by s.ord  -- ids follow the order of the specs (FIFO within a named queue)
    returning jobs.*;
    return;
  end if;

  -- The keyed upsert (_private_upsert_jobs): every spec's job is written, or its key's row is
  -- locked because its job is running or failed for good.
  select coalesce(array_agg(u), '{}') into v_rows
  from graphile_worker._private_upsert_jobs(specs, job_key_preserve_run_at, true) as u;

  if cardinality(v_rows) < v_count then
    -- Keys whose job is running or failed for good (#580: a worker may have claimed it a
    -- moment ago). This transaction holds those rows' locks since the upsert, so nobody can
    -- change them or give their keys to another job: the job keeps its row but loses its key
    -- (and will not be retried), and the upsert runs again for those keys' specs, which now
    -- make new jobs under the keys.
    select array_agg(s.job_key) into v_held
    from pg_catalog.unnest(specs) as s
    where s.job_key is not null
      and not exists (select 1 from pg_catalog.unnest(v_rows) as r where r.key = s.job_key);

    update graphile_worker._private_jobs as jobs
    set key = null, attempts = jobs.max_attempts, updated_at = now()
    where jobs.key = any(v_held);

    select v_rows || coalesce(array_agg(u), '{}') into v_rows
    from graphile_worker._private_upsert_jobs(
      array(select s from pg_catalog.unnest(specs) as s where s.job_key = any(v_held)),
      job_key_preserve_run_at, true) as u;
  end if;

  -- One row per spec, in spec order (upstream returns the rows in the order of the specs): a
  -- keyed row is its key's spec, the n-th unkeyed row (by id) the n-th unkeyed spec.
  return query
  select (x.job).*
  from (
    select r as job, s.ord
    from pg_catalog.unnest(v_rows) as r
    join pg_catalog.unnest(specs) with ordinality
      as s(identifier, payload, queue_name, run_at, max_attempts, job_key, priority, flags, ord)
      on s.job_key = r.key
    union all
    select r.job, s.ord
    from (
      select r as job, row_number() over (order by r.id) as n
      from pg_catalog.unnest(v_rows) as r
      where r.key is null
    ) as r
    join (
      select s.ord, row_number() over (order by s.ord) as n
      from pg_catalog.unnest(specs) with ordinality
        as s(identifier, payload, queue_name, run_at, max_attempts, job_key, priority, flags, ord)
      where s.job_key is null
    ) as s on s.n = r.n
  ) as x
  order by x.ord;
end;
$$;

comment on function graphile_worker.add_jobs(graphile_worker.job_spec[], boolean) is
  'Enqueue many jobs in one statement (graphile-worker 0.18 semantics). Keyed specs replace the pending job with that key (array payloads are concatenated); job_key_preserve_run_at keeps its run_at. Always returns one row per spec, in spec order, also under concurrency; waits only for open transactions that enqueued or removed the same keys. Bad input (also a run_at outside 0001-01-02..9999-12-30 UTC, a payload jsonb cannot hold, one job key in two specs) raises before anything is written. Notifies jobs:insert.';

-- from sql/src/30_functions/10_enqueue/11_add_job.sql
-- Enqueue one job (graphile-worker 0.18 contract). Its arguments are checked as add_jobs checks
-- a spec (_private_inline_job_args_flagged, _private_check_job_args). When the task and queue
-- exist, one statement does the rest: for a job without a key, an insert of the row add_jobs
-- inserts (_private_inline_job_row; its own statement, as ON CONFLICT costs a job without a key
-- about a third more, a speculative insertion); for a key, add_jobs' upsert
-- (_private_upsert_jobs), which inserts the job or (replace, preserve_run_at) replaces the
-- waiting job of the key; unsafe_dedupe first returns the job of a key already taken, unchanged
-- but for revision and updated_at, whatever its state. A new task or queue, and (replace,
-- preserve_run_at) a key whose job is running or failed for good, go through add_jobs (row locks
-- per key, never a null row). Not a call of add_jobs for every job, which takes about twice the
-- time (add_job is the call most producers make). Takes no advisory lock: only the enqueuers'
-- ROW SHARE lock on _private_tasks (see add_jobs and _private_gc_lock) and row locks, which no
-- role outside the extension's functions can take or hold. Its statements always take their
-- generic plans: PostgreSQL would otherwise plan the insert for every call (a custom plan looks
-- cheaper once the queue name is known to be null), which measured 30 to 40 % fewer calls a
-- second.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create or replace function graphile_worker.add_job(
  identifier text,
  payload json default null,
  queue_name text default null,
  run_at timestamptz default null,
  max_attempts integer default null,
  job_key text default null,
  priority integer default null,
  flags text[] default null,
  job_key_mode text default 'replace'
)
returns graphile_worker._private_jobs
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
declare
  v_job graphile_worker._private_jobs;
  v_dedupe boolean;
  v_specs graphile_worker.job_spec[];  -- the job as add_jobs' spec
begin
  if job_key is not null and job_key_mode is not null
     and job_key_mode not in ('replace', 'preserve_run_at', 'unsafe_dedupe') then
    raise exception 'Invalid job_key_mode value, expected ''replace'', ''preserve_run_at'' or ''unsafe_dedupe''.'
      using errcode = 'GWBKM',
      detail = format('job_key_mode was %L.', job_key_mode),
      hint = 'Use replace (the default), preserve_run_at or unsafe_dedupe.';
  end if;

  if graphile_worker._private_inline_job_args_flagged(
       add_job.identifier, add_job.payload, add_job.queue_name, add_job.run_at,
       add_job.max_attempts, add_job.job_key, add_job.priority, add_job.flags) then
    perform graphile_worker._private_check_job_args(
      add_job.identifier, add_job.payload, add_job.queue_name, add_job.run_at,
      add_job.max_attempts, add_job.job_key, add_job.priority, add_job.flags);
  end if;

  -- The enqueuers' guard first (before the task and queue are read), as add_jobs takes it.
  lock table graphile_worker._private_tasks in row share mode;

  v_specs := array[row(
    add_job.identifier, add_job.payload, add_job.queue_name, add_job.run_at,
    add_job.max_attempts::smallint, add_job.job_key, add_job.priority::smallint, add_job.flags
  )::graphile_worker.job_spec];

  if job_key is null then
    insert into graphile_worker._private_jobs as jobs
      (job_queue_id, task_id, payload, run_at, max_attempts, key, priority, flags)
    select r.*
    from graphile_worker._private_inline_job_row(
      add_job.identifier, add_job.payload, add_job.queue_name, add_job.run_at,
      add_job.max_attempts::smallint, null, add_job.priority::smallint, add_job.flags) as r
    returning * into v_job;
  else
    v_dedupe := add_job.job_key_mode is not distinct from 'unsafe_dedupe';
    -- Up to three rounds, the others only for unsafe_dedupe: when the task or queue is new (the
    -- first round creates them), and when a concurrent call makes the key's job between the
    -- update and the upsert (the next update finds it).
    for v_round in 1..3 loop
      if v_dedupe then
        -- unsafe_dedupe: the job of the key as it is (only revision and updated_at change),
        -- whatever its state
        update graphile_worker._private_jobs as jobs
        set revision = jobs.revision + 1, updated_at = now()
        where jobs.key = add_job.job_key
        returning * into v_job;
        if found then
          return v_job;
        end if;
      end if;
      -- No row when the task or queue is new, or when the key's job is not replaced (running
      -- or failed for good; for unsafe_dedupe, a job made since the update): this transaction
      -- then holds that row's lock.
      select * into v_job
      from graphile_worker._private_upsert_jobs(
        v_specs, preserve_run_at => add_job.job_key_mode = 'preserve_run_at',
        replace => not v_dedupe);
      exit when v_job.id is not null or not v_dedupe;
      perform graphile_worker._private_add_tasks_and_queues(v_specs);
    end loop;
  end if;

  if v_job.id is null then
    -- A new task or queue, or (replace, preserve_run_at) the key's job is running or failed
    -- for good, locked by this transaction since the upsert: add_jobs creates the task and
    -- queue, and detaches the key from that job to make a new one. (Not reached for
    -- unsafe_dedupe: its rounds insert, or find the job that holds the key.)
    select * into v_job
    from graphile_worker.add_jobs(
      v_specs,
      job_key_mode = 'preserve_run_at'
    );
    return v_job;  -- add_jobs notified
  end if;
  if pg_catalog.pg_notification_queue_usage() < 0.5 then
    perform pg_catalog.pg_notify('jobs:insert', '{"r":' || random()::text || ',"count":1}');
  end if;
  return v_job;
end;
$$;

comment on function graphile_worker.add_job(text, json, text, timestamptz, integer, text, integer, text[], text) is
  'Enqueue one job (graphile-worker 0.18 semantics): job_key with job_key_mode replace (default), preserve_run_at or unsafe_dedupe; never returns null for a keyed job under concurrency, and waits only for open transactions that enqueued or removed the same key. Bad input (also a run_at outside 0001-01-02..9999-12-30 UTC or a payload jsonb cannot hold) raises before anything is written. Notifies jobs:insert.';

-- from sql/src/30_functions/10_enqueue/20_remove_job.sql
-- Remove a pending job by key (graphile-worker 0.18 contract). A job that is running (locked,
-- and the lock younger than _private_lock_expiry()) cannot be removed: it loses its key and
-- will not be retried. The key's row is locked first (FOR UPDATE), so an enqueue of the same
-- key waits for this call, and this call for an open enqueue of the same key; callers of other
-- keys never wait (no advisory lock, no bucket).
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create or replace function graphile_worker.remove_job(job_key text)
returns graphile_worker._private_jobs
language plpgsql
security definer
strict
set search_path = pg_catalog, pg_temp
as $$
declare
  v_job graphile_worker._private_jobs;
begin
  for v_round in 1..100 loop
    select * into v_job
    from graphile_worker._private_jobs as jobs
    where jobs.key = remove_job.job_key
    for update;
    exit when found;
    -- No row. If one holding the key was detached while this statement waited for it, the new
    -- job that took the key committed after this statement's snapshot: look again.
    if not exists (
      select 1 from graphile_worker._private_jobs as jobs where jobs.key = remove_job.job_key
    ) then
      return null;
    end if;
  end loop;
  if v_job.id is null then
    return null;
  end if;

  if v_job.locked_at is null
     or v_job.locked_at < now() - graphile_worker._private_lock_expiry() then
    delete from graphile_worker._private_jobs as jobs
    where jobs.id = v_job.id
    returning * into v_job;
    if pg_catalog.pg_notification_queue_usage() < 0.5 then
      perform pg_catalog.pg_notify('jobs:insert', '{"r":' || random()::text || ',"count":-1}');
    end if;
    return v_job;
  end if;

  update graphile_worker._private_jobs as jobs
  set key = null, attempts = jobs.max_attempts, updated_at = now()
  where jobs.id = v_job.id
  returning * into v_job;
  return v_job;
end;
$$;

comment on function graphile_worker.remove_job(text) is
  'Delete the pending job with this key (notifies jobs:insert with count -1); a running job with the key instead loses its key and will not be retried. Returns the row, or null. Waits only for open transactions that enqueued or removed the same key.';

-- from sql/src/30_functions/15_admin/10_complete_jobs.sql
-- Admin: delete jobs that are not locked (graphile-worker 0.18 contract); a lock older than
-- _private_lock_expiry() has expired and does not count.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create or replace function graphile_worker.complete_jobs(job_ids bigint[])
returns setof graphile_worker._private_jobs
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$
  delete from graphile_worker._private_jobs as jobs
  where jobs.id = any(job_ids)
    and (jobs.locked_at is null or jobs.locked_at < now() - graphile_worker._private_lock_expiry())
  returning *;
$$;

comment on function graphile_worker.complete_jobs(bigint[]) is
  'Admin: mark jobs as done by deleting them; jobs locked by a worker (within 4 hours) are left alone. Returns the deleted rows.';

-- from sql/src/30_functions/15_admin/20_permanently_fail_jobs.sql
-- Admin: stop retrying jobs that are not locked (graphile-worker 0.18 contract); a lock older
-- than _private_lock_expiry() has expired and does not count.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create or replace function graphile_worker.permanently_fail_jobs(job_ids bigint[], error_message text default null)
returns setof graphile_worker._private_jobs
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$
  update graphile_worker._private_jobs as jobs
  set
    last_error = coalesce(error_message, 'Manually marked as failed'),
    attempts = jobs.max_attempts,
    updated_at = now()
  where jobs.id = any(job_ids)
    and (jobs.locked_at is null or jobs.locked_at < now() - graphile_worker._private_lock_expiry())
  returning *;
$$;

comment on function graphile_worker.permanently_fail_jobs(bigint[], text) is
  'Admin: mark jobs as permanently failed (attempts = max_attempts, last_error set); locked jobs are left alone. Returns the changed rows.';

-- from sql/src/30_functions/15_admin/30_reschedule_jobs.sql
-- Admin: change run_at / priority / attempts / max_attempts of jobs that are not locked
-- (graphile-worker 0.18 contract; a lock older than _private_lock_expiry() does not count); a
-- null argument keeps the current value. The arguments are checked before any row is touched,
-- with upstream's SQLSTATEs (23514 for max_attempts < 1, 22003 outside smallint) but a message
-- with DETAIL and HINT instead of the failing row; GWE01 for a run_at no client can read back;
-- a negative attempts is rejected (22003), where upstream stores it.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create or replace function graphile_worker.reschedule_jobs(
  job_ids bigint[],
  run_at timestamptz default null,
  priority integer default null,
  attempts integer default null,
  max_attempts integer default null
)
returns setof graphile_worker._private_jobs
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if reschedule_jobs.run_at < '0001-01-02 00:00:00+00'
     or reschedule_jobs.run_at >= '9999-12-31 00:00:00+00' then
    raise exception 'run_at must be between 0001-01-02 and 9999-12-30 UTC, not %', reschedule_jobs.run_at
      using errcode = 'GWE01',
      detail = 'Runners read run_at back as a date and time: infinity, -infinity and years '
        'outside 1 to 9999 cannot be represented by them (Python''s datetime).',
      hint = 'Pass null to keep each job''s run_at, or a time from 0001-01-02 to 9999-12-30 UTC.';
  end if;
  if reschedule_jobs.priority not between -32768 and 32767 then
    raise exception 'smallint out of range: priority % is outside -32768..32767', reschedule_jobs.priority
      using errcode = 'numeric_value_out_of_range',
      detail = 'priority is stored as a smallint; lower numbers run first.',
      hint = 'Pass a priority from -32768 to 32767, or null to keep each job''s priority.';
  end if;
  if reschedule_jobs.attempts not between 0 and 32767 then
    raise exception 'attempts must be between 0 and 32767, not %', reschedule_jobs.attempts
      using errcode = 'numeric_value_out_of_range',
      detail = 'attempts counts the attempts made so far and is stored as a smallint; a negative '
        'count is rejected (graphile-worker 0.18 stores it).',
      hint = 'Pass 0 to give the jobs all their attempts again, or null to keep each job''s count.';
  end if;
  if reschedule_jobs.max_attempts < 1 then
    raise exception 'max_attempts must be at least 1, not %', reschedule_jobs.max_attempts
      using errcode = 'check_violation', constraint = 'jobs_max_attempts_check',
      detail = 'A job needs at least one attempt.',
      hint = 'Pass a number from 1 to 32767, or null to keep each job''s max_attempts.';
  end if;
  if reschedule_jobs.max_attempts > 32767 then
    raise exception 'smallint out of range: max_attempts % is above 32767', reschedule_jobs.max_attempts
      using errcode = 'numeric_value_out_of_range',
      detail = 'max_attempts is stored as a smallint.',
      hint = 'Pass a number from 1 to 32767, or null to keep each job''s max_attempts.';
  end if;

  return query
  update graphile_worker._private_jobs as jobs
  set
    run_at = coalesce(reschedule_jobs.run_at, jobs.run_at),
    priority = coalesce(reschedule_jobs.priority::smallint, jobs.priority),
    attempts = coalesce(reschedule_jobs.attempts::smallint, jobs.attempts),
    max_attempts = coalesce(reschedule_jobs.max_attempts::smallint, jobs.max_attempts),
    updated_at = now()
  where jobs.id = any(job_ids)
    and (jobs.locked_at is null or jobs.locked_at < now() - graphile_worker._private_lock_expiry())
  returning jobs.*;
end;
$$;

comment on function graphile_worker.reschedule_jobs(bigint[], timestamptz, integer, integer, integer) is
  'Admin: change run_at, priority, attempts or max_attempts of jobs that are not locked (null keeps the value). Returns the changed rows. Arguments are checked first: run_at from 0001-01-02 to 9999-12-30 UTC, priority a smallint, attempts 0..32767, max_attempts 1..32767.';

-- from sql/src/30_functions/20_runner/20_report_jobs.sql
-- Report the outcomes of a batch of jobs in one call: completed jobs are deleted, failed jobs
-- are scheduled for retry with graphile-worker's backoff (or failed for good). Only rows still
-- locked by this worker are touched, so a worker whose jobs were swept and re-claimed by
-- another never deletes or changes what the other now runs. A malformed failures document is
-- GWA03 (DETAIL names the entry) and changes nothing. A worker registered by another role is
-- refused (GWA05), and below the admin level now is the server's clock (GWA06).
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create or replace function graphile_worker.report_jobs(
  worker_id text,
  completed_job_ids bigint[] default null,
  failures json default null,
  now timestamptz default now()
)
returns table (
  job_id bigint,
  outcome text,
  attempts smallint,
  max_attempts smallint,
  run_at timestamptz
)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_now timestamptz := report_jobs.now;
  v_failures jsonb;
  v_bad_ord bigint;
  v_problem text;
  v_problem_detail text;
  v_entry json;
  v_dup_id bigint;
  v_dup_positions text;
  v_also_completed boolean;
  v_ids bigint[];
  v_outcomes text[];
  v_attempts smallint[];
  v_max_attempts smallint[];
  v_run_ats timestamptz[];
  v_queue_ids integer[];
  v_bound oid;
begin
  -- the checker raises the error; the plain expression saves a call on every report
  if report_jobs.worker_id is null or report_jobs.worker_id = '' or length(report_jobs.worker_id) > 128 then
    perform graphile_worker._private_check_worker_id(report_jobs.worker_id);
  end if;
  if v_now is null then
    raise exception 'now must not be null'
      using errcode = 'GWA01', hint = 'Leave now out to use the transaction time.';
  end if;
  if v_now <> pg_catalog.now() then
    perform graphile_worker._private_check_clock(v_now, 'report_jobs');
  end if;
  -- the holder check inline (a call costs every report); the checker raises GWA05 unless the
  -- caller is admin-level
  select w.registered_by into v_bound
  from graphile_worker._private_workers as w where w.worker_id = report_jobs.worker_id;
  if v_bound is not null and pg_catalog.pg_get_userbyid(v_bound) <> session_user then
    perform graphile_worker._private_check_worker_holder(report_jobs.worker_id, 'report_jobs');
  end if;

  if failures is not null then
    if json_typeof(failures) <> 'array' then
      raise exception 'failures must be a JSON array, not %', json_typeof(failures)
        using errcode = 'GWA03',
        detail = 'failures lists one object per failed job.',
        hint = 'Pass e.g. [{"id": 42, "message": "timeout"}].';
    end if;

    -- Read as jsonb, once: json accepts what jsonb (and text) cannot hold, \u0000 or an
    -- unpaired surrogate in a string, a number beyond numeric; such an entry is malformed.
    begin
      v_failures := failures::jsonb;
    exception when data_exception or program_limit_exceeded then
      for v_bad_ord, v_entry in
        select a.ord, a.e from json_array_elements(failures) with ordinality as a(e, ord)
        order by a.ord
      loop
        begin
          perform v_entry::jsonb;
        exception when data_exception or program_limit_exceeded then
          get stacked diagnostics v_problem = message_text, v_problem_detail = pg_exception_detail;
          raise exception 'malformed failure entry: %', left(v_entry::text, 200)
            using errcode = 'GWA03',
            detail = format('Entry %s of failures cannot be converted to jsonb (%s%s): its '
              '"message" must be storable as text and its "payload" as jsonb.',
              v_bad_ord, v_problem, ': ' || rtrim(nullif(v_problem_detail, ''), '.')),
            hint = E'Replace \\u0000 and unpaired surrogates (\\ud800 to \\udfff) in the '
              'message and payload, e.g. with U+FFFD.';
        end;
      end loop;
      raise exception 'failures cannot be converted to jsonb'
        using errcode = 'GWA03',
        detail = 'Each entry converts, but the whole document does not (it is too large).',
        hint = 'Report the failures in smaller batches.';
    end;

    -- The first malformed entry. Each test runs only when the ones before it passed (a CASE),
    -- so the numeric casts never fail. {id} and {retry_delay} are filled in below.
    select x.ord, x.problem into v_bad_ord, v_problem
    from (
      select a.ord, case
        when jsonb_typeof(a.e) <> 'object' then
          'it is not a JSON object'
        when jsonb_typeof(a.e -> 'id') is distinct from 'number' then
          '"id" must be a job id (a whole number)'
        when scale((a.e -> 'id')::numeric) > 0
             or (a.e -> 'id')::numeric not between -9223372036854775808 and 9223372036854775807 then
          '"id" {id} is not a job id (a whole number within bigint)'
        when (a.e -> 'message') is null then
          '"message" is missing'
        when jsonb_typeof(a.e -> 'message') <> 'string' then
          format('"message" must be a string, not JSON %s', jsonb_typeof(a.e -> 'message'))
        when jsonb_typeof(a.e -> 'permanent') not in ('boolean', 'null') then
          format('"permanent" must be true or false, not JSON %s', jsonb_typeof(a.e -> 'permanent'))
        when jsonb_typeof(a.e -> 'retry_delay') not in ('number', 'null') then
          format('"retry_delay" must be a number of seconds, not JSON %s',
            jsonb_typeof(a.e -> 'retry_delay'))
        when jsonb_typeof(a.e -> 'retry_delay') = 'number'
             and (a.e -> 'retry_delay')::numeric not between 0 and 315360000 then
          '"retry_delay" {retry_delay} is outside 0 to 315360000 seconds (10 years)'
      end as problem
      from jsonb_array_elements(v_failures) with ordinality as a(e, ord)
    ) as x
    where x.problem is not null
    order by x.ord
    limit 1;
    if v_bad_ord is not null then
      -- the entry and its values as written (jsonb normalises numbers)
      select a.e into v_entry
      from json_array_elements(failures) with ordinality as a(e, ord)
      where a.ord = v_bad_ord;
      v_problem := replace(replace(v_problem,
        '{id}', coalesce(left((v_entry -> 'id')::text, 40), '')),
        '{retry_delay}', coalesce(left((v_entry -> 'retry_delay')::text, 40), ''));
      raise exception 'malformed failure entry: %', left(v_entry::text, 200)
        using errcode = 'GWA03',
        detail = format('Entry %s of failures: %s. Each entry needs "id" (a job id) and "message" '
          '(text); "payload", "permanent" (boolean) and "retry_delay" (seconds, 0 to 315360000) '
          'are optional.', v_bad_ord, v_problem),
        hint = 'Pass e.g. [{"id": 42, "message": "timeout", "retry_delay": 30}].';
    end if;

    -- One outcome per job: the same id twice in failures, or in failures and completed_job_ids.
    select x.id, x.positions, x.also_completed into v_dup_id, v_dup_positions, v_also_completed
    from (
      select (a.e ->> 'id')::bigint as id,
        string_agg(a.ord::text, ', ' order by a.ord) as positions,
        min(a.ord) as first,
        count(*) as n,
        (a.e ->> 'id')::bigint = any(completed_job_ids) as also_completed
      from jsonb_array_elements(v_failures) with ordinality as a(e, ord)
      group by 1
    ) as x
    where x.n > 1 or x.also_completed
    order by x.first
    limit 1;
    if v_dup_id is not null and v_also_completed then
      raise exception 'job % is reported both completed and failed', v_dup_id
        using errcode = 'GWA03',
        detail = format('The id %s is in completed_job_ids and in failures (entry %s).',
          v_dup_id, v_dup_positions),
        hint = 'Report each job once: in completed_job_ids or in failures.';
    elsif v_dup_id is not null then
      raise exception 'job % is in failures more than once', v_dup_id
        using errcode = 'GWA03',
        detail = format('Entries %s of failures have the id %s; only one outcome can be recorded.',
          v_dup_positions, v_dup_id),
        hint = 'Report each job once: one failure entry per job.';
    end if;
  end if;

  -- The jobs this worker still holds: completed ones deleted, failed ones rescheduled; their
  -- outcomes are kept to be returned once the jobs' queues are unlocked.
  with done as (
    delete from graphile_worker._private_jobs as jobs
    where jobs.id = any(completed_job_ids)
      and jobs.locked_by = report_jobs.worker_id
    returning jobs.id, jobs.job_queue_id, jobs.attempts, jobs.max_attempts, jobs.run_at
  ),
  f as (
    select x.id, x.message, x.payload, coalesce(x.permanent, false) as permanent, x.retry_delay
    from jsonb_to_recordset(coalesce(v_failures, '[]'::jsonb))
      as x(id bigint, message text, payload json, permanent boolean, retry_delay numeric)
  ),
  failed as (
    update graphile_worker._private_jobs as jobs
    set
      last_error = f.message,
      run_at = case
        -- rounded to microseconds: 1e-400 is a valid retry_delay but no double precision
        when f.retry_delay is not null
          then v_now + round(f.retry_delay, 6)::double precision * interval '1 second'
        else greatest(v_now, jobs.run_at) + exp(least(jobs.attempts, 10)) * interval '1 second'
      end,
      attempts = case when f.permanent then jobs.max_attempts else jobs.attempts end,
      payload = coalesce(f.payload, jobs.payload),
      locked_by = null,
      locked_at = null
    from f
    where jobs.id = f.id
      and jobs.locked_by = report_jobs.worker_id
    returning jobs.id, jobs.job_queue_id, jobs.attempts, jobs.max_attempts, jobs.run_at
  ),
  reported as (
    select d.id, 'completed'::text as outcome, d.attempts, d.max_attempts, d.run_at,
      d.job_queue_id
    from done as d
    union all
    select fl.id,
      case when fl.attempts >= fl.max_attempts then 'permanently_failed' else 'failed' end,
      fl.attempts, fl.max_attempts, fl.run_at, fl.job_queue_id
    from failed as fl
  )
  select array_agg(r.id), array_agg(r.outcome), array_agg(r.attempts), array_agg(r.max_attempts),
    array_agg(r.run_at), array_agg(r.job_queue_id) filter (where r.job_queue_id is not null)
  into v_ids, v_outcomes, v_attempts, v_max_attempts, v_run_ats, v_queue_ids
  from reported as r;

  perform graphile_worker._private_unlock_job_queues(report_jobs.worker_id, v_queue_ids);

  -- The outcomes, then the jobs this worker no longer holds (swept, or never its own): lost.
  return query
  select r.id, r.outcome, r.attempts, r.max_attempts, r.run_at
  from rows from (
    pg_catalog.unnest(v_ids), pg_catalog.unnest(v_outcomes), pg_catalog.unnest(v_attempts),
    pg_catalog.unnest(v_max_attempts), pg_catalog.unnest(v_run_ats)
  ) as r(id, outcome, attempts, max_attempts, run_at)
  union all
  select x.id, 'lost'::text, null::smallint, null::smallint, null::timestamptz
  from (
    select c.id from pg_catalog.unnest(completed_job_ids) as c(id)
    union
    select f.id
    from jsonb_to_recordset(coalesce(v_failures, '[]'::jsonb)) as f(id bigint)
  ) as x
  where not exists (select 1 from pg_catalog.unnest(v_ids) as r(id) where r.id = x.id);
end;
$$;

comment on function graphile_worker.report_jobs(text, bigint[], json, timestamptz) is
  'Runner: report a batch of outcomes in one call. Completed jobs are deleted; failures ([{"id","message","payload"?,"permanent"?,"retry_delay"?}], each job once, retry_delay 0 to 315360000 s) get last_error and run_at = greatest(now, run_at) + exp(least(attempts, 10)) s (or now + retry_delay); their queues are unlocked. Only rows still locked by worker_id are touched; others come back as outcome lost. A malformed document is GWA03 and changes nothing; a worker_id registered by another role is GWA05; below the admin level a now other than the server''s clock is GWA06.';

-- from sql/src/30_functions/20_runner/30_return_jobs.sql
-- Give back jobs a worker claimed but did not start (local-queue TTL, shutdown). A worker
-- registered by another role is refused (GWA05).
-- now is checked as in every runner function (not null; below the admin level only the server's
-- clock, GWA06) but not used: giving a job back does not depend on the time. It is there so that
-- the runner functions share one calling convention (worker_id first, now last, defaulting to
-- the server's clock; a test or admin script passes the same now to all of them), and it stays
-- because dropping it would break callers that pass it.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create or replace function graphile_worker.return_jobs(
  worker_id text,
  job_ids bigint[],
  now timestamptz default now()
)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform graphile_worker._private_check_worker_id(return_jobs.worker_id);
  if return_jobs.now is null then
    raise exception 'now must not be null'
      using errcode = 'GWA01', hint = 'Leave now out to use the transaction time.';
  end if;
  if return_jobs.now <> pg_catalog.now() then
    perform graphile_worker._private_check_clock(return_jobs.now, 'return_jobs');
  end if;
  perform graphile_worker._private_check_worker_holder(return_jobs.worker_id, 'return_jobs');

  return graphile_worker._private_return_jobs(return_jobs.worker_id, job_ids);
end;
$$;

comment on function graphile_worker.return_jobs(text, bigint[], timestamptz) is
  'Runner: give back claimed jobs that were never started: the attempt is refunded and the job and its queue are unlocked. Only rows locked by worker_id are touched; a worker_id registered by another role is GWA05 (below the admin level, a now other than the server''s clock is GWA06). now is not used (returning a job does not depend on the time): it is checked like the now of the other runner functions, whose calling convention it keeps. Returns how many jobs were returned.';

-- from sql/src/30_functions/20_runner/35_return_unheld_jobs.sql
-- Give back every job a worker has locked except those it holds: for a runner that lost the
-- result of a claim (the connection dropped after get_jobs committed), whose jobs would
-- otherwise stay locked by a live worker until reset_locked's 4-hour rule. A worker registered
-- by another role is refused (GWA05). now is checked and not used, as in return_jobs (see there).
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create or replace function graphile_worker.return_unheld_jobs(
  worker_id text,
  held_job_ids bigint[],
  now timestamptz default now()
)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if return_unheld_jobs.worker_id is null or return_unheld_jobs.worker_id = ''
     or length(return_unheld_jobs.worker_id) > 128 then
    perform graphile_worker._private_check_worker_id(return_unheld_jobs.worker_id);
  end if;
  if held_job_ids is null then
    raise exception 'held_job_ids must not be null'
      using errcode = 'GWA01',
      detail = 'Every job locked by the worker and not in held_job_ids is given back.',
      hint = 'Pass the ids of the jobs the worker still holds, or an empty array for none.';
  end if;
  if return_unheld_jobs.now is null then
    raise exception 'now must not be null'
      using errcode = 'GWA01', hint = 'Leave now out to use the transaction time.';
  end if;
  if return_unheld_jobs.now <> pg_catalog.now() then
    perform graphile_worker._private_check_clock(return_unheld_jobs.now, 'return_unheld_jobs');
  end if;
  perform graphile_worker._private_check_worker_holder(return_unheld_jobs.worker_id,
    'return_unheld_jobs');

  return graphile_worker._private_return_jobs(return_unheld_jobs.worker_id, array(
    select jobs.id
    from graphile_worker._private_jobs as jobs
    where jobs.locked_by = return_unheld_jobs.worker_id
      and jobs.locked_at is not null
      and not (jobs.id = any(held_job_ids))
  ));
end;
$$;

comment on function graphile_worker.return_unheld_jobs(text, bigint[], timestamptz) is
  'Runner: give back every job locked by worker_id except held_job_ids (for a runner that lost the result of a claim): the attempt is refunded and the job and its queue are unlocked; a worker_id registered by another role is GWA05 (below the admin level, a now other than the server''s clock is GWA06). now is not used (returning a job does not depend on the time): it is checked like the now of the other runner functions, whose calling convention it keeps. Returns how many jobs were returned.';

-- from sql/src/30_functions/20_runner/40_reset_locked.sql
-- The stale-lock sweep (upstream's resetLocked): locks older than the threshold (4 hours by
-- default, as in graphile-worker) are cleared on jobs and queues. Below the admin level the
-- threshold is at least 4 hours and now is the server's clock (GWA06): otherwise any runner
-- could release (or, with now = 'infinity', strand) the jobs that live workers hold. The 4 hours
-- are _private_lock_expiry(); the default of older_than and the messages spell them out, as
-- they are what callers see.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create or replace function graphile_worker.reset_locked(
  older_than interval default interval '4 hours',
  now timestamptz default now()
)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_now timestamptz := reset_locked.now;
  v_count integer;
begin
  if older_than is null or v_now is null then
    raise exception 'older_than and now must not be null'
      using errcode = 'GWA01',
      detail = format('older_than was %s, now was %s.',
        coalesce(older_than::text, 'null'), coalesce(v_now::text, 'null')),
      hint = 'Leave both out for the 4-hour rule at the current time.';
  end if;
  if older_than < interval '0' then
    raise exception 'older_than must not be negative, not %', older_than
      using errcode = 'GWA02',
      detail = 'Locks older than older_than are cleared; a negative age would clear locks taken in the future.',
      hint = 'Leave it out for the 4-hour rule, or pass a positive interval.';
  end if;
  if v_now <> pg_catalog.now() then
    perform graphile_worker._private_check_clock(v_now, 'reset_locked');
  end if;
  if older_than < graphile_worker._private_lock_expiry()
     and not graphile_worker._private_caller_is_admin() then
    raise exception 'reset_locked: only admin-level roles may pass an older_than below 4 hours, not %',
      older_than
      using errcode = 'GWA06',
      detail = 'Below the admin level a lock is cleared only after 4 hours (the graphile-worker '
        'rule): a shorter threshold would release jobs that live workers hold.',
      hint = 'Leave older_than out. The jobs of a crashed registered runner are released by '
        'recover_stale_workers(); admin scripts and tests call as an admin-level role.';
  end if;

  update graphile_worker._private_jobs as jobs
  set locked_at = null, locked_by = null, run_at = greatest(jobs.run_at, v_now)
  where jobs.locked_at < v_now - older_than;
  get diagnostics v_count = row_count;

  update graphile_worker._private_job_queues as q
  set locked_at = null, locked_by = null
  where q.locked_at < v_now - older_than;

  return v_count;
end;
$$;

comment on function graphile_worker.reset_locked(interval, timestamptz) is
  'Runner/admin: unlock jobs and queues locked for longer than older_than (default 4 hours, the graphile-worker rule); such jobs run again from greatest(run_at, now); attempts are not refunded. Below the admin level older_than must be at least 4 hours and now the server''s clock (GWA06). Returns the number of jobs unlocked.';
-- ---- issue 14 (SQL written once): end

-- ---- issue 15, item 2 (the claim under a long transaction): begin
-- Issue 15, item 2: claim floors. get_jobs starts its scans of jobs without a queue at a
-- remembered (run_at, id) per task and priority instead of at the start of each priority, so
-- a claim no longer walks the index entries of the jobs claimed before it, which pile up while
-- a long transaction keeps vacuum from removing them. Schema changes (all our own, none in the
-- graphile-worker contract):
--  * index jobs_gw_claim_no_queue_index: id moves from INCLUDE into the key (dropped and
--    created again: on a large jobs table this takes a while, with writes to it blocked);
--  * new tables _private_claim_floors, _private_claim_floor_log, _private_claim_clock (derived
--    state, RLS on, not dumped: empty is always correct);
--  * new trigger _private_claim_floor_log on _private_jobs (AFTER INSERT OR UPDATE, per row,
--    only for a job without a queue made available more than 200 ms after its run_at) and its
--    function _private_log_claim_floor() (security definer, revoked from public);
--  * get_jobs (same signature, result and grants): floors, ties broken by id, its phase 2 finds
--    candidates by id only.

drop index graphile_worker.jobs_gw_claim_no_queue_index;

-- from sql/src/20_tables/30_private_jobs.sql
-- The claim index of jobs without a queue has id in its key (0.1.4) so that a claim can start
-- at a remembered (priority, run_at, id) (_private_claim_floors) instead of walking the entries
-- of jobs claimed before it.
create index jobs_gw_claim_no_queue_index on graphile_worker._private_jobs
  using btree (task_id, priority, run_at, id)
  where (is_available = true and job_queue_id is null);

-- from sql/src/20_tables/70_private_claim_floors.sql (new)
-- Where get_jobs() starts its scans of the claim index of jobs without a queue, per task and
-- priority: no available job of that task and priority sorts before (run_at, id), except jobs
-- whose change is logged in _private_claim_floor_log. Written only by get_jobs (which locks a
-- row, FOR UPDATE SKIP LOCKED, before the snapshot it moves the row with); rows hold derived
-- state, so a dump leaves them out and an empty table is always correct (scans start at the
-- beginning). Not part of the graphile-worker schema.
--
-- Why: a claimed or deleted job leaves its entry in the claim index until vacuum removes it,
-- and while a long transaction holds an old snapshot open vacuum cannot; every claim that
-- starts at the beginning of a priority walks all of those entries (docs/scaling.md, "Long
-- transactions").
create table graphile_worker._private_claim_floors (
  task_id integer not null,
  priority smallint not null,
  run_at timestamptz,  -- null: from the start (a new row)
  id bigint,  -- null: any id
  constraint claim_floors_pkey primary key (task_id, priority)
) with (fillfactor = 50);

alter table graphile_worker._private_claim_floors enable row level security;

comment on table graphile_worker._private_claim_floors is
  'Claim floors: per task and priority, the (run_at, id) before which get_jobs() finds no available job without a queue, except those logged in _private_claim_floor_log; written by get_jobs only.';

-- from sql/src/20_tables/71_private_claim_floor_log.sql (new)
-- Jobs without a queue that became available at a place that may lie below a claim floor:
-- returned, unlocked, rescheduled or enqueued with a run_at more than 200 ms before the row was
-- written (a row written within 200 ms of its run_at is covered by how far get_jobs lets a
-- floor advance). The trigger on _private_jobs (_private_log_claim_floor) writes a row; the next
-- claim for the task starts below it and deletes it when it moves the floor. Derived state,
-- not dumped. Not part of the graphile-worker schema.
create table graphile_worker._private_claim_floor_log (
  task_id integer not null,
  priority smallint not null,
  run_at timestamptz not null,
  id bigint not null
);

create index claim_floor_log_position_index on graphile_worker._private_claim_floor_log
  using btree (task_id, priority, run_at, id);

alter table graphile_worker._private_claim_floor_log enable row level security;

comment on table graphile_worker._private_claim_floor_log is
  'Jobs without a queue made available below where a claim floor may stand (returned, unlocked, rescheduled, enqueued late); read and deleted by get_jobs().';

-- from sql/src/20_tables/72_private_claim_clock.sql (new)
-- Samples of "transaction ids from xid on were assigned after at", one every 50 ms or so while
-- runners claim (written by get_jobs). A claim uses the newest sample at or below its
-- snapshot's xmin to bound how far a floor may advance: a job written, but not yet committed,
-- by a transaction still in progress has a run_at no earlier than 200 ms before that
-- transaction's xid was assigned (or the trigger logged it). Samples older than 10 minutes are
-- deleted now and then. Derived state, not dumped. Not part of the graphile-worker schema.
create table graphile_worker._private_claim_clock (
  xid xid8 not null,
  at timestamptz not null
);

-- Not unique: two claims may take the same sample at once, and neither may wait for the other.
create index claim_clock_xid_index on graphile_worker._private_claim_clock using btree (xid);

alter table graphile_worker._private_claim_clock enable row level security;

comment on table graphile_worker._private_claim_clock is
  'Samples (xid, at): transaction ids from xid on were assigned after at; get_jobs() bounds its claim floors with them.';

-- from sql/src/30_functions/20_runner/08_private_log_claim_floor.sql (new)
-- Logs a job without a queue that becomes available at a place a claim floor may have passed
-- (_private_claim_floor_log). The trigger's WHEN keeps it off the common paths: a claim makes
-- rows unavailable, a failure reschedules into the future, and a job enqueued in a short
-- transaction is written within 200 ms of its run_at. It fires for returned and unlocked jobs,
-- rescheduled or replaced ones with an older run_at, and jobs enqueued with a run_at in the
-- past or late in a long transaction, whoever writes them (our functions, Node workers, SQL).
-- security definer: writers of _private_jobs (Node workers' roles among them) get no rights on
-- the log; the function pins search_path and qualifies every name.
create function graphile_worker._private_log_claim_floor()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  insert into graphile_worker._private_claim_floor_log (task_id, priority, run_at, id)
  values (new.task_id, new.priority, new.run_at, new.id);
  return null;
end;
$$;

comment on function graphile_worker._private_log_claim_floor() is
  'Trigger: logs a job without a queue made available more than 200 ms after its run_at, for get_jobs() claim floors.';

revoke all on function graphile_worker._private_log_claim_floor() from public;

-- 200 ms: keep in step with v_fresh in get_jobs.
create trigger _private_claim_floor_log
  after insert or update on graphile_worker._private_jobs
  for each row
  when (new.is_available and new.job_queue_id is null
    and new.run_at < pg_catalog.clock_timestamp() - interval '200 milliseconds')
  execute function graphile_worker._private_log_claim_floor();

-- from sql/src/30_functions/20_runner/10_get_jobs.sql
-- Claim up to batch_size runnable jobs of the given tasks for one worker, in one statement.
-- Jobs without a queue are found from claim floors (_private_claim_floors): per task and
-- priority, the (run_at, id) before which no available job is left, so a claim does not walk
-- the index entries of jobs claimed before it (which stay until vacuum removes them, and a long
-- transaction keeps vacuum from removing them). See docs/scaling.md, "Long transactions".
-- Below the admin level, now is the server's clock and worker_id must not be registered to
-- another role (GWA06, GWA05).
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create or replace function graphile_worker.get_jobs(
  worker_id text,
  task_identifiers text[],
  batch_size integer default 1,
  forbidden_flags text[] default null,
  now timestamptz default now()
)
returns table (
  id bigint,
  task_identifier text,
  queue_name text,
  payload json,
  priority smallint,
  run_at timestamptz,
  attempts smallint,
  max_attempts smallint,
  key text,
  flags jsonb,
  revision integer,
  created_at timestamptz,
  locked_at timestamptz,
  job_queue_id integer
)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
declare
  v_task_ids integer[];
  v_task_names text[];  -- the identifiers of v_task_ids, in the same order
  v_flags text[] := case when cardinality(forbidden_flags) > 0 then forbidden_flags end;
  v_now timestamptz := get_jobs.now;
  v_candidates bigint[];
  -- Phase 1 collects some spare candidates, so that jobs another worker locks between the
  -- two phases rarely leave this batch short.
  v_want integer;
  v_task_id integer;
  v_priority smallint;
  v_worst_priority smallint := -32768;
  v_ids bigint[] := '{}';
  v_priorities smallint[] := '{}';
  v_run_ats timestamptz[] := '{}';
  -- v_ids is in claim order (priority, run_at) while it holds the candidates of one task's
  -- priority scans only, which is the common case; otherwise it is sorted below
  v_in_order boolean := true;
  v_before integer;
  v_tasks integer[] := '{}';  -- the task of each entry of v_ids (null for queue heads)
  -- Claim floors. A floor moves only in a claim that locked its row before taking the snapshot
  -- it scans with (so it sees every log entry committed before), only when no forbidden flags
  -- hide jobs from the scan, and in READ COMMITTED only. It never passes (v_cap, 0): a job
  -- written but not yet committed by a transaction in progress has a run_at no earlier than
  -- v_fresh before that transaction's xid was assigned (otherwise the trigger
  -- _private_claim_floor_log logged it), and _private_claim_clock tells when the oldest xid in
  -- progress was assigned at the latest.
  v_fresh constant interval := interval '200 milliseconds';
  v_advance boolean := v_flags is null
    and pg_catalog.current_setting('transaction_isolation') = 'read committed';
  v_cap timestamptz := '-infinity';
  v_snap pg_snapshot;
  v_assigned_after timestamptz;
  v_last_sample timestamptz;
  v_locked_tasks integer[] := '{}';
  v_locked_prios smallint[] := '{}';
  -- the floors of these tasks (sorted by task, priority), where each scan starts: the floor, or
  -- a logged job below it
  v_f_task integer[];
  v_f_prio smallint[];
  v_f_run_at timestamptz[];
  v_f_id bigint[];
  v_f_locked boolean[];
  v_f_logged boolean[];
  v_log_tids tid[];
  v_log_tasks integer[];
  v_log_prios smallint[];
  v_k integer;  -- the next floor of the current task in v_f_*
  v_lo integer;
  v_hi integer;
  v_start_run_at timestamptz;
  v_start_id bigint;
  v_floor integer;  -- index in v_f_* of the level being scanned, 0 for a level without a floor
  v_found integer;
  -- levels scanned whose floor this claim may move (locked), and levels without a floor row
  v_l_task integer[] := '{}';
  v_l_prio smallint[] := '{}';
  v_l_start_run_at timestamptz[] := '{}';
  v_l_start_id bigint[] := '{}';
  v_l_full boolean[] := '{}';
  v_l_last_run_at timestamptz[] := '{}';
  v_l_last_id bigint[] := '{}';
  v_l_logged boolean[] := '{}';
  v_new_task integer[] := '{}';
  v_new_prio smallint[] := '{}';
  v_lock_timeout text;
  v_bound oid;
begin
  -- the checker raises the error; the plain expression saves a call on every claim
  if get_jobs.worker_id is null or get_jobs.worker_id = '' or length(get_jobs.worker_id) > 128 then
    perform graphile_worker._private_check_worker_id(get_jobs.worker_id);
  end if;
  if batch_size is null or batch_size < 1 or batch_size > 10000 then
    raise exception 'batch_size must be between 1 and 10000, not %', coalesce(batch_size::text, 'null')
      using errcode = 'GWA02',
      detail = 'batch_size is the most jobs one call claims.',
      hint = 'Claim 1 job, or a batch of a few hundred at most.';
  end if;
  if v_now is null then
    raise exception 'now must not be null'
      using errcode = 'GWA01', hint = 'Leave now out to use the transaction time.';
  end if;
  -- below the admin level: the server's clock, and only a worker this role registered (or one
  -- registered by no role)
  if v_now <> pg_catalog.now() then
    perform graphile_worker._private_check_clock(v_now, 'get_jobs');
  end if;
  -- the holder check inline (a call costs every claim); the checker raises GWA05 unless the
  -- caller is admin-level
  select w.registered_by into v_bound
  from graphile_worker._private_workers as w where w.worker_id = get_jobs.worker_id;
  if v_bound is not null and pg_catalog.pg_get_userbyid(v_bound) <> session_user then
    perform graphile_worker._private_check_worker_holder(get_jobs.worker_id, 'get_jobs');
  end if;
  v_want := batch_size + least(batch_size, 100);

  select array_agg(t.id order by t.id), array_agg(t.identifier order by t.id)
  into v_task_ids, v_task_names
  from graphile_worker._private_tasks as t
  where t.identifier = any(task_identifiers);
  if v_task_ids is null then
    return;
  end if;

  -- The floor cap: no floor passes (v_cap, 0). With no other transaction in progress, jobs not
  -- yet visible are written after now(); otherwise after the sample at or below the oldest xid
  -- in progress. (Read before the scans' snapshots, so it is conservative for them.)
  if v_advance then
    v_snap := pg_catalog.pg_current_snapshot();
    select
      (select c.at from graphile_worker._private_claim_clock as c
       where c.xid <= pg_catalog.pg_snapshot_xmin(v_snap) order by c.xid desc limit 1),
      (select c.at from graphile_worker._private_claim_clock as c order by c.xid desc limit 1)
    into v_assigned_after, v_last_sample;
    if pg_catalog.pg_snapshot_xmin(v_snap) = pg_catalog.pg_snapshot_xmax(v_snap) then
      v_assigned_after := pg_catalog.now();
    end if;
    v_cap := least(coalesce(v_assigned_after, '-infinity'), pg_catalog.now()) - v_fresh;
    if v_last_sample is null or v_last_sample < pg_catalog.now() - interval '50 milliseconds' then
      -- xids from the snapshot's xmax on are assigned after it was taken, so after now()
      insert into graphile_worker._private_claim_clock (xid, at)
      values (pg_catalog.pg_snapshot_xmax(v_snap), pg_catalog.now());
      if pg_catalog.random() < 0.01 then
        delete from graphile_worker._private_claim_clock as c
        where c.at < pg_catalog.now() - interval '10 minutes';
      end if;
    end if;

    select coalesce(array_agg(f.task_id), '{}'), coalesce(array_agg(f.priority), '{}')
    into v_locked_tasks, v_locked_prios
    from (
      select f.task_id, f.priority from graphile_worker._private_claim_floors as f
      where f.task_id = any(v_task_ids)
      for update skip locked
    ) as f;
  end if;

  -- The floors (a new snapshot: after the locks), each lowered to the first logged job below it.
  select
    array_agg(f.task_id order by f.task_id, f.priority),
    array_agg(f.priority order by f.task_id, f.priority),
    array_agg(case when lg.id is not null and (lg.run_at, lg.id) < (f.start_run_at, f.start_id)
      then lg.run_at else f.start_run_at end order by f.task_id, f.priority),
    array_agg(case when lg.id is not null and (lg.run_at, lg.id) < (f.start_run_at, f.start_id)
      then lg.id else f.start_id end order by f.task_id, f.priority),
    array_agg(exists (
      select 1
      from rows from (pg_catalog.unnest(v_locked_tasks), pg_catalog.unnest(v_locked_prios))
        as lk(task_id, priority)
      where lk.task_id = f.task_id and lk.priority = f.priority
    ) order by f.task_id, f.priority),
    array_agg(lg.id is not null order by f.task_id, f.priority)
  into v_f_task, v_f_prio, v_f_run_at, v_f_id, v_f_locked, v_f_logged
  from (
    select f.task_id, f.priority, coalesce(f.run_at, '-infinity') as start_run_at,
      coalesce(f.id, 0) as start_id
    from graphile_worker._private_claim_floors as f
    where f.task_id = any(v_task_ids)
  ) as f
  left join lateral (
    select l.run_at, l.id from graphile_worker._private_claim_floor_log as l
    where l.task_id = f.task_id and l.priority = f.priority
    order by l.run_at, l.id
    limit 1
  ) as lg on true;
  if v_f_task is null then
    v_f_task := '{}';
  elsif true = any(v_f_logged) then
    select array_agg(l.ctid), array_agg(l.task_id), array_agg(l.priority)
    into v_log_tids, v_log_tasks, v_log_prios
    from graphile_worker._private_claim_floor_log as l
    where l.task_id = any(v_task_ids);
  end if;

  -- Phase 1 (reads only): the best candidates by priority then run_at, found without walking
  -- past jobs that cannot run now. Each statement is small, so its cached plan is cheap and
  -- stays good for any arguments (the function forces generic plans: re-planning one large
  -- statement on every call cost more than running it).
  --
  -- Jobs without a queue: per task, its priorities lowest first, each scanned by run_at then id
  -- from its floor. A priority with a floor is known; the priorities between two known ones
  -- are found with a probe of that gap (gaps hold no entries of claimed jobs worth a floor).
  -- Once v_want candidates are in hand, higher priorities cannot beat them.
  foreach v_task_id in array v_task_ids loop
    if cardinality(v_ids) > 0 then
      v_in_order := false;
    end if;
    v_k := coalesce(pg_catalog.array_position(v_f_task, v_task_id), cardinality(v_f_task) + 1);
    v_lo := -32769;
    loop
      v_hi := case when v_k <= cardinality(v_f_task) and v_f_task[v_k] = v_task_id
        then v_f_prio[v_k] else 32768 end;
      select j.priority into v_priority
      from graphile_worker._private_jobs as j
      where j.task_id = v_task_id and j.is_available = true and j.job_queue_id is null
        and j.priority > v_lo and j.priority < v_hi
      order by j.priority
      limit 1;
      if found then
        v_floor := 0;
        v_start_run_at := '-infinity';
        v_start_id := 0;
      elsif v_hi < 32768 then
        v_floor := v_k;
        v_priority := v_f_prio[v_k];
        v_start_run_at := v_f_run_at[v_k];
        v_start_id := v_f_id[v_k];
        v_k := v_k + 1;
      else
        exit;
      end if;
      exit when cardinality(v_ids) >= v_want and v_priority > v_worst_priority;

      v_found := cardinality(v_ids);
      select
        v_ids || coalesce(array_agg(c.id), '{}'),
        v_priorities || coalesce(array_agg(c.priority), '{}'),
        v_run_ats || coalesce(array_agg(c.run_at), '{}')
      into v_ids, v_priorities, v_run_ats
      from (
        select j.id, j.priority, j.run_at
        from graphile_worker._private_jobs as j
        where j.task_id = v_task_id and j.priority = v_priority
          and j.is_available = true and j.job_queue_id is null and j.run_at <= v_now
          and (j.run_at, j.id) >= (v_start_run_at, v_start_id)
          and (v_flags is null or (j.flags ?| v_flags) is not true)
        order by j.run_at, j.id
        limit v_want
      ) as c;
      v_found := cardinality(v_ids) - v_found;
      v_tasks := v_tasks || pg_catalog.array_fill(v_task_id, array[v_found]);
      if v_found > 0 then
        v_worst_priority := greatest(v_worst_priority, v_priority);
      end if;
      if v_floor = 0 then
        v_new_task := v_new_task || v_task_id;
        v_new_prio := v_new_prio || v_priority;
      elsif v_f_locked[v_floor] then
        v_l_task := v_l_task || v_task_id;
        v_l_prio := v_l_prio || v_priority;
        v_l_start_run_at := v_l_start_run_at || v_start_run_at;
        v_l_start_id := v_l_start_id || v_start_id;
        v_l_full := v_l_full || (v_found >= v_want);
        v_l_last_run_at := v_l_last_run_at || v_run_ats[cardinality(v_run_ats)];
        v_l_last_id := v_l_last_id || v_ids[cardinality(v_ids)];
        v_l_logged := v_l_logged || v_f_logged[v_floor];
      end if;
      v_lo := v_priority;
    end loop;
  end loop;

  -- A priority scanned without a floor gets one, at the start (moved by a later claim). Never
  -- waits for another claim creating the same row: that one will have it.
  if v_advance and cardinality(v_new_task) > 0 then
    v_lock_timeout := pg_catalog.current_setting('lock_timeout');
    perform pg_catalog.set_config('lock_timeout', '1ms', true);
    begin
      insert into graphile_worker._private_claim_floors (task_id, priority, run_at, id)
      select nf.task_id, nf.priority, null, null
      from rows from (pg_catalog.unnest(v_new_task), pg_catalog.unnest(v_new_prio))
        as nf(task_id, priority)
      on conflict do nothing;
    exception when lock_not_available then
      null;
    end;
    perform pg_catalog.set_config('lock_timeout', v_lock_timeout, true);
  end if;

  v_before := cardinality(v_ids);
  -- Named queues: one probe per queue that has available jobs (a skip scan over queue ids),
  -- taking the queue's first runnable job of these tasks (first in, first out); a locked
  -- queue costs one probe however many jobs wait in it.
  select
    v_ids || coalesce(array_agg(h.id), '{}'),
    v_priorities || coalesce(array_agg(h.priority), '{}'),
    v_run_ats || coalesce(array_agg(h.run_at), '{}')
  into v_ids, v_priorities, v_run_ats
  from (
    with recursive queue_ids as (
      (
        select j.job_queue_id from graphile_worker._private_jobs as j
        where j.is_available = true and j.job_queue_id is not null
        order by j.job_queue_id limit 1
      )
      union all
      select (
        select j.job_queue_id from graphile_worker._private_jobs as j
        where j.is_available = true and j.job_queue_id > q.job_queue_id
        order by j.job_queue_id limit 1
      )
      from queue_ids as q
      where q.job_queue_id is not null
    )
    select hd.id, hd.priority, hd.run_at
    from queue_ids as qi
    join graphile_worker._private_job_queues as q
      on q.id = qi.job_queue_id and q.is_available = true
    cross join lateral (
      select j.id, j.priority, j.run_at from graphile_worker._private_jobs as j
      where j.job_queue_id = qi.job_queue_id and j.is_available = true
        and j.run_at <= v_now and j.task_id = any(v_task_ids)
        and (v_flags is null or (j.flags ?| v_flags) is not true)
      order by j.priority, j.run_at, j.id
      limit 1
    ) as hd
  ) as h;

  if cardinality(v_ids) = 0 and cardinality(v_new_task) = 0 and cardinality(v_l_task) = 0 then
    return;
  end if;
  if cardinality(v_ids) - v_before > (case when v_before > 0 then 0 else 1 end) then
    v_in_order := false;  -- queue heads (in no particular order) after or among the others
  end if;

  if v_in_order then
    v_candidates := v_ids[1:v_want];
  else
    select array_agg(c.id order by c.priority, c.run_at, c.id) into v_candidates
    from (
      select u.id, u.priority, u.run_at
      from rows from (
        pg_catalog.unnest(v_ids), pg_catalog.unnest(v_priorities), pg_catalog.unnest(v_run_ats)
      ) as u(id, priority, run_at)
      order by u.priority, u.run_at, u.id
      limit v_want
    ) as c;
  end if;

  -- Phase 2: lock what is still free (SKIP LOCKED: a job or queue another worker is claiming
  -- right now is skipped; a row claimed since phase 1 no longer passes is_available). Task and
  -- flags are checked again: a keyed job replaced since phase 1 may have changed both.
  return query
  with locked as (
    select jobs.ctid as tid, jobs.id, jobs.job_queue_id, jobs.priority, jobs.run_at
    from graphile_worker._private_jobs as jobs
    where jobs.id = any(v_candidates)
      -- not index conditions, nor the predicate of a partial index: the candidates are found
      -- by id (a plan that scans another index for them walks every dead entry it holds,
      -- which it chose once statistics said the available jobs were few)
      and (jobs.is_available) is true
      and (jobs.run_at <= v_now) is true
      and (jobs.task_id = any(v_task_ids)) is true
      and (v_flags is null or (jobs.flags ?| v_flags) is not true)
      and (
        jobs.job_queue_id is null
        or jobs.job_queue_id in (
          select q.id
          from graphile_worker._private_job_queues as q
          where q.id in (
            select j2.job_queue_id from graphile_worker._private_jobs as j2
            where j2.id = any(v_candidates) and j2.job_queue_id is not null
          )
            and q.is_available = true
          for update skip locked
        )
      )
    order by jobs.priority, jobs.run_at, jobs.id
    limit batch_size
    for update of jobs skip locked
  ),
  -- At most one job per named queue per batch (upstream #621): the queue row is locked with
  -- its first job, and the queue stays locked until that job is done.
  chosen as (
    select l.tid, l.id, l.job_queue_id from locked as l where l.job_queue_id is null
    union all
    (
      select distinct on (l.job_queue_id) l.tid, l.id, l.job_queue_id
      from locked as l
      where l.job_queue_id is not null
      order by l.job_queue_id, l.priority, l.run_at, l.id
    )
  ),
  -- By row address (a TID scan): the rows are locked by this statement, so their addresses
  -- hold, and no index lookup is needed. (Should a row have been updated before the lock,
  -- the address no longer matches its new version and the job is just not claimed now.)
  claimed as (
    update graphile_worker._private_jobs as jobs
    set attempts = jobs.attempts + 1, locked_by = get_jobs.worker_id, locked_at = v_now
    where jobs.ctid = any(array(select c.tid from chosen as c))
    returning jobs.*
  ),
  -- the queues of the jobs claimed (their rows were locked in `locked`)
  locked_queues as (
    update graphile_worker._private_job_queues as q
    set locked_by = get_jobs.worker_id, locked_at = v_now
    where q.id = any(array(
      select c.job_queue_id from claimed as c where c.job_queue_id is not null
    ))
    returning q.id, q.queue_name
  ),
  -- The floors this claim locked and scanned: at its first candidate it did not claim, else
  -- at its last candidate when the scan stopped at v_want, else at v_now; never past the cap
  -- nor below where the scan started. Written when a log entry was applied, when lowered, and
  -- otherwise about once per 1024 ids or per second of run_at: every write of a floor row
  -- leaves a version that readers walk while a long transaction holds vacuum back.
  unclaimed as (
    select distinct on (c.task_id, c.priority) c.task_id, c.priority, c.run_at, c.id
    from rows from (
      pg_catalog.unnest(v_tasks), pg_catalog.unnest(v_ids), pg_catalog.unnest(v_priorities),
      pg_catalog.unnest(v_run_ats)
    ) as c(task_id, id, priority, run_at)
    where c.task_id is not null and c.id <> all(array(select cl.id from claimed as cl))
    order by c.task_id, c.priority, c.run_at, c.id
  ),
  proposed as (
    select lv.task_id, lv.priority, lv.logged, lv.start_run_at, lv.start_id,
      case when u.id is not null then u.run_at when lv.is_full then lv.last_run_at else v_now end as run_at,
      case when u.id is not null then u.id when lv.is_full then lv.last_id else 9223372036854775807 end as id
    from rows from (
      pg_catalog.unnest(v_l_task), pg_catalog.unnest(v_l_prio), pg_catalog.unnest(v_l_start_run_at),
      pg_catalog.unnest(v_l_start_id), pg_catalog.unnest(v_l_full),
      pg_catalog.unnest(v_l_last_run_at), pg_catalog.unnest(v_l_last_id),
      pg_catalog.unnest(v_l_logged)
    ) as lv(task_id, priority, start_run_at, start_id, is_full, last_run_at, last_id, logged)
    left join unclaimed as u on u.task_id = lv.task_id and u.priority = lv.priority
  ),
  capped as (
    select p.task_id, p.priority, p.logged, p.start_run_at, p.start_id,
      case when (p.run_at, p.id) > (v_cap, 0::bigint) then v_cap else p.run_at end as run_at,
      case when (p.run_at, p.id) > (v_cap, 0::bigint) then 0::bigint else p.id end as id
    from proposed as p
  ),
  next_floors as (
    select c.task_id, c.priority, c.logged,
      case when (c.run_at, c.id) < (c.start_run_at, c.start_id) then c.start_run_at else c.run_at end as run_at,
      case when (c.run_at, c.id) < (c.start_run_at, c.start_id) then c.start_id else c.id end as id
    from capped as c
  ),
  moved as (
    update graphile_worker._private_claim_floors as f
    set run_at = nullif(n.run_at, '-infinity'), id = nullif(n.id, 0)
    from next_floors as n
    where f.task_id = n.task_id and f.priority = n.priority
      and (n.logged or (f.run_at is null and n.run_at > '-infinity')
        or (n.run_at, n.id) < (f.run_at, coalesce(f.id, 0))
        or ((n.run_at, n.id) > (f.run_at, coalesce(f.id, 0))
          and (n.id / 1024 <> coalesce(f.id, 0) / 1024 or n.run_at > f.run_at + interval '1 second')))
    returning f.task_id, f.priority
  ),
  applied as (
    delete from graphile_worker._private_claim_floor_log as l
    where l.ctid = any(array(
      select lg.tid
      from rows from (
        pg_catalog.unnest(v_log_tids), pg_catalog.unnest(v_log_tasks), pg_catalog.unnest(v_log_prios)
      ) as lg(tid, task_id, priority)
      join moved as m on m.task_id = lg.task_id and m.priority = lg.priority
    ))
  )
  select
    claimed.id, v_task_names[array_position(v_task_ids, claimed.task_id)], lq.queue_name,
    claimed.payload, claimed.priority, claimed.run_at, claimed.attempts, claimed.max_attempts,
    claimed.key, claimed.flags, claimed.revision, claimed.created_at, claimed.locked_at,
    claimed.job_queue_id
  from claimed
  left join locked_queues as lq on lq.id = claimed.job_queue_id
  order by claimed.priority, claimed.run_at, claimed.id;
end;
$$;

comment on function graphile_worker.get_jobs(text, text[], integer, text[], timestamptz) is
  'Runner: claim up to batch_size runnable jobs of these tasks for worker_id, ordered by priority then run_at; FOR UPDATE SKIP LOCKED, at most one job per named queue per call (the queue stays locked until that job is reported), jobs with any forbidden flag skipped, attempts counted at checkout. Refuses a worker_id registered by another role (GWA05) and, below the admin level, a now other than the server''s clock (GWA06).';

-- ---- issue 15, item 2 (the claim under a long transaction): end

-- from sql/src/30_functions/00_version.sql (always last)
-- The version of the installed SQL, for both install kinds (extension and standalone script).
create or replace function graphile_worker.version()
returns text
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select '0.1.4'::text;
$$;

comment on function graphile_worker.version() is
  'The version of the graphile_worker SQL installed in this database (extension or standalone script).';
