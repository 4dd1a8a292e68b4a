-- graphile_worker 0.1.4 -> 0.1.5. The public functions keep their signatures; one new runner
-- function; one new table. graphile_worker.version() comes last.
--
-- Issue 15, item 1 (many producers): enqueuers notify jobs:insert only when a runner waits.
--  * new unlogged table _private_wait_marks (derived state, not dumped);
--  * new private _private_wake_runners() (revoked from public, granted to no level);
--  * new runner-level wait_for_jobs(text, text[], text[], boolean); the roles that can call
--    get_jobs (the runner level) are granted it here, so runners need no new grant_role call;
--  * add_job and add_jobs notify when _private_wake_runners() says so (was: always);
--  * _private_level_functions lists wait_for_jobs at the runner level.

-- from sql/src/20_tables/80_private_wait_marks.sql (new)
-- One row per gw_runner that has waited for jobs (wait_for_jobs): waiting is true from the
-- moment the runner found nothing to claim until a producer wakes it. add_job and add_jobs
-- notify jobs:insert only when they wake a waiting runner (they set waiting to false), when no
-- runner has marked itself for 10 minutes (a fleet of Node workers, or of runners older than
-- 0.1.5, relies on every notification), inside a transaction of several statements, or when
-- graphile_worker.notify_inserts is 'always'. So a busy fleet is not notified at all, and
-- producers do not queue behind the lock a notifying commit takes (docs/scaling.md, "Many
-- producers"). Unlogged: after a crash the table is empty, which means "notify". Derived state,
-- not dumped. Not part of the graphile-worker schema.
create unlogged table graphile_worker._private_wait_marks (
  worker_id text not null,
  waiting boolean not null,
  marked_at timestamptz not null,
  constraint wait_marks_pkey primary key (worker_id)
);

alter table graphile_worker._private_wait_marks enable row level security;

comment on table graphile_worker._private_wait_marks is
  'Runners waiting for jobs (wait_for_jobs()); add_job and add_jobs notify jobs:insert when they wake one, or when no runner marked itself for 10 minutes.';

-- from sql/src/30_functions/10_enqueue/06_private_wake_runners.sql (new)
-- Should this enqueue notify jobs:insert (see _private_wait_marks)? Yes when
-- graphile_worker.notify_inserts is 'always' (a fleet with Node workers, which wait for
-- notifications), when no runner marked itself in the last 10 minutes (Node workers alone,
-- runners before 0.1.5, or a fleet busy for that long), and when it wakes a waiting runner: it
-- takes the waiting marks off, so the next enqueuers stay quiet until a runner waits again.
-- No while every runner is busy. The marks are read first and written only when one waits.
-- Marks locked by another enqueuer are skipped: that one notifies. An enqueuer that found no
-- waiting mark commits later; a runner that started waiting meanwhile claims again right after
-- marking itself and then after 50, 100, 200 ms and so on up to its poll interval (see
-- wait_for_jobs), so such a job waits about as long again as its transaction stayed open after
-- the enqueue, never more than the poll interval. (A SQL function could not be inlined: its
-- EXISTS tests are sublinks, which PostgreSQL does not inline.)
create function graphile_worker._private_wake_runners()
returns boolean
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_waiting boolean;
  v_fresh boolean;
  v_woken boolean;
begin
  if pg_catalog.current_setting('graphile_worker.notify_inserts', true) = 'always' then
    return true;
  end if;
  select
    exists (select 1 from graphile_worker._private_wait_marks as m where m.waiting),
    exists (select 1 from graphile_worker._private_wait_marks as m
            where m.marked_at > pg_catalog.now() - interval '10 minutes')
  into v_waiting, v_fresh;
  if not v_fresh then
    return true;
  elsif not v_waiting then
    return false;
  end if;
  with woken as (
    update graphile_worker._private_wait_marks as m
    set waiting = false
    where m.ctid = any(array(
      select m2.ctid from graphile_worker._private_wait_marks as m2
      where m2.waiting
      for update skip locked
    ))
    returning 1
  )
  select exists (select 1 from woken) into v_woken;
  return v_woken;
end;
$$;

comment on function graphile_worker._private_wake_runners() is
  'Private: whether add_job or add_jobs should notify jobs:insert (it wakes a waiting runner, or no runner marked itself lately, or notify_inserts = always).';

revoke all on function graphile_worker._private_wake_runners() from public;

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
  if pg_catalog.pg_notification_queue_usage() < 0.5
     and graphile_worker._private_wake_runners() then
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
  if pg_catalog.pg_notification_queue_usage() < 0.5
     and graphile_worker._private_wake_runners() then
    perform pg_catalog.pg_notify('jobs:insert', '{"r":' || random()::text || ',"count":1}');
  end if;
  return v_job;
end;
$$;

comment on function graphile_worker.add_job(text, json, text, timestamptz, integer, text, integer, text[], text) is
  'Enqueue one job (graphile-worker 0.18 semantics): job_key with job_key_mode replace (default), preserve_run_at or unsafe_dedupe; never returns null for a keyed job under concurrency, and waits only for open transactions that enqueued or removed the same key. Bad input (also a run_at outside 0001-01-02..9999-12-30 UTC or a payload jsonb cannot hold) raises before anything is written. Notifies jobs:insert.';

-- from sql/src/30_functions/20_runner/55_wait_for_jobs.sql (new)
-- A runner found nothing to claim: mark it waiting (_private_wait_marks), so that the next
-- add_job or add_jobs notifies jobs:insert, and return when the next not-yet-due job of these
-- tasks becomes runnable (as next_job_due_at). While no runner waits, enqueuers do not notify,
-- and so do not queue behind the lock a notifying commit takes. The runner must claim again
-- right after this call (a job committed before the mark was visible found no runner waiting),
-- and again after short, growing pauses while it waits (an enqueue whose transaction was still
-- open when the mark was written commits later without notifying); gw_runner claims after 50,
-- 100, 200 ms and so on, up to its poll interval. waiting => false removes the worker's mark
-- (at shutdown). Marks older than 10 minutes count for nothing and are removed now and then. A
-- worker registered by another role is refused (GWA05) unless the caller is admin-level.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.wait_for_jobs(
  worker_id text,
  task_identifiers text[],
  forbidden_flags text[] default null,
  waiting boolean default true
)
returns timestamptz
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform graphile_worker._private_check_worker_id(wait_for_jobs.worker_id);
  perform graphile_worker._private_check_worker_holder(wait_for_jobs.worker_id, 'wait_for_jobs');
  if wait_for_jobs.waiting is not true then
    delete from graphile_worker._private_wait_marks as m
    where m.worker_id = wait_for_jobs.worker_id;
    return null;
  end if;

  insert into graphile_worker._private_wait_marks as m (worker_id, waiting, marked_at)
  values (wait_for_jobs.worker_id, true, pg_catalog.now())
  on conflict on constraint wait_marks_pkey do update
  set waiting = true, marked_at = excluded.marked_at;
  if pg_catalog.random() < 0.01 then
    delete from graphile_worker._private_wait_marks as m
    where m.marked_at < pg_catalog.now() - interval '10 minutes';
  end if;

  return graphile_worker.next_job_due_at(task_identifiers, forbidden_flags);
end;
$$;

comment on function graphile_worker.wait_for_jobs(text, text[], text[], boolean) is
  'Runner: nothing is claimable now; mark this worker waiting, so the next add_job/add_jobs notifies jobs:insert (enqueuers do not notify while no runner waits), and return next_job_due_at(task_identifiers, forbidden_flags). Claim again right after, and after short pauses while waiting. waiting => false removes the mark. A worker registered by another role is GWA05 (unless the caller is admin-level).';

revoke all on function graphile_worker.wait_for_jobs(text, text[], text[], boolean) from public;

-- from sql/src/90_privileges/20_role_levels.sql (the level lists only)
create or replace function graphile_worker._private_level_functions(level text)
returns setof regprocedure
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select p.oid::regprocedure
  from pg_catalog.pg_proc as p
  where p.pronamespace = 'graphile_worker'::regnamespace
    and p.proname = any (
      case level
        when 'producer' then array['add_job', 'add_jobs', 'remove_job', 'version']
        when 'runner' then array[
          'get_jobs', 'report_jobs', 'return_jobs', 'return_unheld_jobs', 'reset_locked',
          'next_job_due_at', 'wait_for_jobs',
          'register_worker', 'heartbeat', 'deregister_worker', 'recover_stale_workers',
          'parse_crontab', 'register_crontab', 'schedule_crontab',
          'cron_matches', 'cron_next_after', 'cron_times_between']
        when 'admin' then array[
          'complete_jobs', 'permanently_fail_jobs', 'reschedule_jobs', 'force_unlock_workers',
          'delete_permanently_failed_jobs', 'gc_task_identifiers', 'gc_job_queues',
          'queue_stats', 'worker_stats']
      end
    )
  order by 1::text;
$$;

-- The roles granted the runner level before this upgrade (they can execute get_jobs) get
-- wait_for_jobs now, as grant_role(role, 'runner') would grant it.
do $$
declare
  v_role regrole;
begin
  for v_role in
    select a.grantee::regrole
    from pg_catalog.pg_proc as p, pg_catalog.aclexplode(p.proacl) as a
    where p.oid = 'graphile_worker.get_jobs(text, text[], integer, text[], timestamptz)'::regprocedure
      and a.privilege_type = 'EXECUTE' and a.grantee <> 0 and a.grantee <> p.proowner
  loop
    execute format('grant execute on function graphile_worker.wait_for_jobs(text, text[], text[], boolean) to %s', v_role);
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
  select '0.1.5'::text;
$$;

comment on function graphile_worker.version() is
  'The version of the graphile_worker SQL installed in this database (extension or standalone script).';
