-- graphile_worker 0.1.7 -> 0.1.8: flow control (issue 17, docs/flow-control.md).
-- - report_jobs takes "snooze": true in a failures entry: the job runs again after retry_delay
--   seconds without using an attempt (outcome snoozed).
-- - Pause and resume tasks and named queues (pause_tasks, resume_tasks, pause_queues,
--   resume_queues), fleet-wide limits per task (set_task_limits, flow_controls), enforced in
--   get_jobs and next_job_due_at.
-- - Cancel jobs (cancel_jobs, cancel_jobs_by_key): report_jobs, return_jobs, reset_locked,
--   recover_stale_workers and force_unlock_workers end a job being cancelled as cancelled.
-- - Operations (issue 18, docs/operations.md): list_jobs, count_jobs, job_detail, cron_items,
--   storage_stats, finished_per_minute (monitor level), retry_jobs, delete_jobs, run_jobs_at, run_cron_item (admin);
--   the monitor privilege level (read only; admin includes it); register_crontab and
--   schedule_crontab store the items they register (_private_cron_specs).
-- New functions are admin-level (the read-only ones monitor-level, which admin includes); roles
-- that hold the admin level get them below.

-- from sql/src/30_functions/06_private_inline_job_state.sql
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

revoke all on function graphile_worker._private_inline_job_state(timestamptz, smallint, smallint, timestamptz, timestamptz, timestamptz) from public;

-- from sql/src/30_functions/10_enqueue/06_private_inline_wake_state.sql
-- What the wait marks say an enqueue should do (see _private_wait_marks), the one place the
-- rule is written: 'notify' when graphile_worker.notify_inserts is 'always' or no runner marked
-- itself in the last 10 minutes (Node workers, runners before 0.1.5, a fleet busy for that
-- long: every enqueue notifies); 'wake' when a runner waits (_private_wake_runners takes its
-- mark off and the enqueue notifies); 'quiet' while runners are marked, fresh, and none waits.
-- _private_wake_runners decides with it, and add_job's common call reads it in place so that a
-- quiet enqueue (a busy fleet's) makes no further call.
-- Inlined: a single-SELECT SQL function without SET, SECURITY DEFINER or STRICT, not
-- volatile, called in FROM, which the planner merges into the caller's statement. It runs
-- only inside the extension's functions, under their pinned search_path; its names are
-- qualified all the same (see CONTRIBUTING.md, "Inlined helpers").
create function graphile_worker._private_inline_wake_state(now timestamptz)
returns table (wake_state text)
language sql
stable
as $$
  select case
    when pg_catalog.current_setting('graphile_worker.notify_inserts', true) = 'always'
      or not coalesce(pg_catalog.bool_or(m.marked_at > $1 - interval '10 minutes'), false)
      then 'notify'
    when pg_catalog.bool_or(m.waiting) then 'wake'
    else 'quiet'
  end
  from graphile_worker._private_wait_marks as m
$$;

comment on function graphile_worker._private_inline_wake_state(timestamptz) is
  'Private, inlined into add_job and _private_wake_runners: what the wait marks say an enqueue should do (notify: notify_inserts is always, or no runner marked itself in 10 minutes; wake: a runner waits; quiet).';

revoke all on function graphile_worker._private_inline_wake_state(timestamptz) from public;

-- from sql/src/30_functions/10_enqueue/06_private_wake_runners.sql
-- Should this enqueue notify jobs:insert (see _private_wait_marks)? As
-- _private_inline_wake_state says: yes for 'notify' (notify_inserts is 'always', or no runner
-- marked itself in the last 10 minutes); no for 'quiet' (every runner is busy); for 'wake' yes
-- when it wakes a waiting runner: it takes the waiting marks off, so the next enqueuers stay
-- quiet until a runner waits again. The marks are read first and written only when one waits.
-- Marks locked by another enqueuer are skipped: that one notifies. An enqueuer that found no
-- waiting mark commits later; a runner that started waiting meanwhile claims again right after
-- marking itself and then after 50, 100, 200 ms and so on up to its poll interval (see
-- wait_for_jobs), so such a job waits about as long again as its transaction stayed open after
-- the enqueue, never more than the poll interval. (plpgsql: the update that takes the marks
-- off is a statement of its own.)
create or replace function graphile_worker._private_wake_runners()
returns boolean
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_state text;
  v_woken boolean;
begin
  select w.wake_state into v_state
  from graphile_worker._private_inline_wake_state(pg_catalog.now()) as w;
  if v_state = 'notify' then
    return true;
  elsif v_state = 'quiet' then
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

-- from sql/src/20_tables/84_private_flow_controls.sql
-- Flow control (0.1.8, docs/flow-control.md): pauses and fleet-wide limits, read by get_jobs.
-- Keyed by name, not by the ids of _private_tasks and _private_job_queues: a task or queue may
-- be paused or limited before its first job exists, and gc_task_identifiers/gc_job_queues
-- may delete and re-create those rows. Not part of the graphile-worker schema; Node workers do
-- not read them (docs/flow-control.md, "Node workers").

-- One row per task that is paused or has a limit. running_ids: the jobs of the task claimed
-- through get_jobs since the limit was set and, when the row was last refreshed, still locked
-- (a job leaves the set once it is no longer locked, however it was released: reported,
-- returned, swept, unlocked by reset_locked). rate_slots/rate_counts: starts per slot of
-- rate_period / 60, newest last, kept for two periods.
create table graphile_worker._private_task_controls (
  task_identifier text not null,
  paused boolean not null default false,
  max_running integer,
  rate_limit integer,
  rate_period interval,
  running_ids bigint[] not null default '{}',
  rate_slots bigint[] not null default '{}',
  rate_counts integer[] not null default '{}',
  updated_at timestamptz not null default now(),
  constraint task_controls_pkey primary key (task_identifier),
  constraint task_controls_max_running_check check (max_running >= 1),
  constraint task_controls_rate_check check (
    (rate_limit is null and rate_period is null)
    or (rate_limit >= 1 and rate_period >= interval '1 second'
      and rate_period <= interval '7 days')
  )
);

alter table graphile_worker._private_task_controls enable row level security;

-- extension-only:begin
select pg_catalog.pg_extension_config_dump('graphile_worker._private_task_controls', '');
-- extension-only:end

comment on table graphile_worker._private_task_controls is
  'Flow control per task (pause_tasks(), set_task_limits()): paused, max_running, rate_limit per rate_period, with the claimed jobs still running and the recent starts that get_jobs counts against the limits.';

-- One row per paused named queue.
create table graphile_worker._private_queue_controls (
  queue_name text not null,
  paused_at timestamptz not null default now(),
  constraint queue_controls_pkey primary key (queue_name)
);

alter table graphile_worker._private_queue_controls enable row level security;

-- extension-only:begin
select pg_catalog.pg_extension_config_dump('graphile_worker._private_queue_controls', '');
-- extension-only:end

comment on table graphile_worker._private_queue_controls is
  'Paused named queues (pause_queues()): get_jobs claims none of their jobs.';

-- Running jobs whose cancellation was asked for (cancel_jobs()). The job row also has its
-- attempts raised to max_attempts, so it never runs again whatever happens to its runner; the
-- runner's report (or return) of the job deletes it and records it as cancelled.
create table graphile_worker._private_cancel_requests (
  job_id bigint not null,
  requested_at timestamptz not null default now(),
  constraint cancel_requests_pkey primary key (job_id)
);

alter table graphile_worker._private_cancel_requests enable row level security;

-- extension-only:begin
select pg_catalog.pg_extension_config_dump('graphile_worker._private_cancel_requests', '');
-- extension-only:end

comment on table graphile_worker._private_cancel_requests is
  'Running jobs being cancelled (cancel_jobs()): their report or return deletes them and records them as cancelled.';

-- from sql/src/20_tables/90_storage_parameters.sql (the 0.1.8 part)
-- 0.1.8: a limited task's control row is rewritten by each claim of the task
alter table graphile_worker._private_task_controls set (autovacuum_vacuum_cost_delay = 0);

-- from sql/src/30_functions/12_flow/00_private_flow_basics.sql
-- Flow control (0.1.8, docs/flow-control.md): the checks and the notification its functions
-- share.

-- Raise GWF01 unless names is a non-empty array of identifiers of 1 to 128 characters.
create function graphile_worker._private_check_flow_names(
  names text[],
  what text,
  function_name text
)
returns void
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_bad text;
begin
  if names is null or cardinality(names) = 0 then
    raise exception '%: pass at least one %, not %', function_name, what,
      case when names is null then 'null' else 'an empty array' end
      using errcode = 'GWF01',
      detail = format('%s takes an array of %s names.', function_name, what),
      hint = format('Call e.g. graphile_worker.%s(array[''send_email'']).', function_name);
  end if;
  select n into v_bad from pg_catalog.unnest(names) as n
  where n is null or n = '' or length(n) > 128
  limit 1;
  if found then
    raise exception '%: a % name must be 1 to 128 characters, not %', function_name, what,
      coalesce(quote_literal(left(v_bad, 200)), 'null')
      using errcode = 'GWF01',
      detail = format('%s names are compared as add_job takes them; null and '''' name nothing.',
        initcap(what)),
      hint = 'Remove the null or empty entries from the array.';
  end if;
end;
$$;

comment on function graphile_worker._private_check_flow_names(text[], text, text) is
  'Flow control: raise GWF01 for a null or empty array, or an entry that is null, empty or over 128 characters.';

-- Tell runners (gw_runner LISTENs on graphile_worker:control) what changed, so they act at
-- once: claim after a resume or a new limit, give back the unstarted jobs of a pause, cancel a
-- running job. Sent at commit; skipped while the notification queue is over half full (runners
-- then learn at their next claim or poll).
create function graphile_worker._private_notify_control(message jsonb)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  if pg_catalog.pg_notification_queue_usage() < 0.5 then
    perform pg_catalog.pg_notify('graphile_worker:control', message::text);
  end if;
end;
$$;

comment on function graphile_worker._private_notify_control(jsonb) is
  'Flow control: notify graphile_worker:control with a message for runners ({"op": ...}).';

revoke all on function graphile_worker._private_check_flow_names(text[], text, text) from public;
revoke all on function graphile_worker._private_notify_control(jsonb) from public;

-- from sql/src/30_functions/12_flow/05_private_lock_job_states.sql
-- Lock the rows of the jobs table with these ids, in id order, and say what state each one is
-- in at now: the first step of cancel_jobs, retry_jobs, delete_jobs and run_jobs_at (the admin
-- actions on given jobs). ids is sorted, states aligned with it; an id not in the jobs table
-- is in neither. Every caller locks in the same order (id), so two admin calls never deadlock
-- each other; a claim or report holding one of the rows is waited for.
-- States: cancelling (a cancel request is under way), and those of _private_inline_job_state:
-- running (locked, the lock younger than _private_lock_expiry(); an older lock is stale and the
-- job is not running), failed (no attempts left), retrying (attempted, attempts left),
-- scheduled (run_at after now), waiting.
-- One case differs between the callers, and the difference is real: live_lock_first.
-- delete_jobs checks the live lock before the cancel request. A job being cancelled whose
-- runner still holds it is running and is not deleted (its report ends it as cancelled); one
-- whose lock went stale is cancelling and is deleted. The other callers leave every job being
-- cancelled alone and report it cancelling, running or not.
-- report_jobs locks the rows of its batch in its own order (the completed ones, then the
-- failed ones), so a caller locking several running jobs can deadlock with a runner's report
-- of the same jobs (40P01). When this call is the one chosen to fail, its locks are rolled
-- back (a subtransaction) and the report goes on. Before trying again, it waits for the
-- transactions that hold rows of these jobs now, holding none of the other rows: trying again
-- at once would take back a row the report was woken to take but has not taken yet, and
-- deadlock again. The rows held now are those a SKIP LOCKED read cannot take; they are then
-- locked, in id order, which waits for their holders. Both steps let their locks go at once by
-- rolling back their subtransaction (a RAISE caught right there; it never leaves this
-- function). Up to 3 tries, then the deadlock error is raised.
create function graphile_worker._private_lock_job_states(
  job_ids bigint[],
  now timestamptz,
  live_lock_first boolean,
  out ids bigint[],
  out states text[]
)
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_round integer := 1;
  v_free bigint[];
begin
  loop
    begin
      select coalesce(array_agg(x.id order by x.id), '{}'),
        coalesce(array_agg(x.st order by x.id), '{}')
      into ids, states
      from (
        select j.id, case
            when r.job_id is not null
              and (not _private_lock_job_states.live_lock_first or s.st <> 'running')
              then 'cancelling'
            else s.st
          end as st
        from graphile_worker._private_jobs as j
        cross join lateral (select graphile_worker._private_inline_job_state(j.locked_at, j.attempts,
          j.max_attempts, j.run_at,
          _private_lock_job_states.now - graphile_worker._private_lock_expiry(),
          _private_lock_job_states.now) as st) as s
        left join graphile_worker._private_cancel_requests as r on r.job_id = j.id
        where j.id = any(_private_lock_job_states.job_ids)
        order by j.id
        for update of j
      ) as x;
      return;
    exception when deadlock_detected then
      if v_round >= 3 then
        raise;
      end if;
      v_round := v_round + 1;
    end;
    -- wait for the holders of these rows, holding none of the others
    begin
      v_free := array(
        select j.id from graphile_worker._private_jobs as j
        where j.id = any(_private_lock_job_states.job_ids)
        for update skip locked);
      raise exception 'let the rows go';
    exception when raise_exception then
      null;
    end;
    begin
      perform from (
        select j.id from graphile_worker._private_jobs as j
        where j.id = any(_private_lock_job_states.job_ids) and j.id <> all(v_free)
        order by j.id
        for update
      ) as w;
      raise exception 'let the rows go';
    exception when raise_exception or deadlock_detected then
      null;  -- a deadlock while waiting ends the wait; the next try counts as one of the 3
    end;
  end loop;
end;
$$;

comment on function graphile_worker._private_lock_job_states(bigint[], timestamptz, boolean) is
  'Admin actions: lock the jobs-table rows of job_ids in id order and return their ids (sorted) and states at now (cancelling, running, failed, retrying, scheduled, waiting). live_lock_first: a live lock wins over a cancel request (delete_jobs). A deadlock with a runner''s report is tried again (up to 3 tries) once the rows'' holders are done.';


revoke all on function graphile_worker._private_lock_job_states(bigint[], timestamptz, boolean) from public;

-- from sql/src/30_functions/12_flow/10_pause.sql
-- Pause and resume tasks and named queues (docs/flow-control.md). get_jobs claims no job of a
-- paused task or queue; jobs already claimed run to their end (gw_runner gives back the ones
-- it has not started when it hears of the pause); waiting jobs keep their order; enqueueing
-- and cron keep working. A task or queue need not exist yet. Each returns the names whose
-- state changed, and notifies graphile_worker:control. Admin actions.
-- security definer: admins get EXECUTE on these functions and no rights on the private tables,
-- so they act with the owner's rights; they pin search_path and qualify every name.
create function graphile_worker.pause_tasks(task_identifiers text[])
returns text[]
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_changed text[];
begin
  perform graphile_worker._private_check_flow_names(task_identifiers, 'task', 'pause_tasks');
  with changed as (
    insert into graphile_worker._private_task_controls as c (task_identifier, paused)
    select distinct n, true from pg_catalog.unnest(task_identifiers) as n
    order by 1
    on conflict on constraint task_controls_pkey do update
    set paused = true, updated_at = pg_catalog.now()
    where c.paused is false
    returning c.task_identifier
  )
  select coalesce(array_agg(ch.task_identifier order by ch.task_identifier), '{}')
  into v_changed from changed as ch;
  if cardinality(v_changed) > 0 then
    perform graphile_worker._private_notify_control(
      jsonb_build_object('op', 'pause_tasks', 'names', to_jsonb(v_changed)));
  end if;
  return v_changed;
end;
$$;

comment on function graphile_worker.pause_tasks(text[]) is
  'Admin: pause these tasks (existing or not yet used): get_jobs claims none of their jobs until resume_tasks; running jobs finish, waiting jobs keep their order, enqueueing works. Returns the tasks that were not paused before; notifies graphile_worker:control. Bad names: GWF01.';

create function graphile_worker.resume_tasks(task_identifiers text[])
returns text[]
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_changed text[];
begin
  perform graphile_worker._private_check_flow_names(task_identifiers, 'task', 'resume_tasks');
  with changed as (
    update graphile_worker._private_task_controls as c
    set paused = false, updated_at = pg_catalog.now()
    where c.task_identifier = any(task_identifiers) and c.paused
    returning c.task_identifier
  )
  select coalesce(array_agg(ch.task_identifier order by ch.task_identifier), '{}')
  into v_changed from changed as ch;
  -- a row that only held the pause goes
  delete from graphile_worker._private_task_controls as c
  where c.task_identifier = any(v_changed) and c.max_running is null and c.rate_limit is null;
  if cardinality(v_changed) > 0 then
    perform graphile_worker._private_notify_control(
      jsonb_build_object('op', 'resume_tasks', 'names', to_jsonb(v_changed)));
  end if;
  return v_changed;
end;
$$;

comment on function graphile_worker.resume_tasks(text[]) is
  'Admin: resume paused tasks; runners hear it at once (graphile_worker:control) and claim. Returns the tasks that were paused. Bad names: GWF01.';

create function graphile_worker.pause_queues(queue_names text[])
returns text[]
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_changed text[];
begin
  perform graphile_worker._private_check_flow_names(queue_names, 'queue', 'pause_queues');
  with changed as (
    insert into graphile_worker._private_queue_controls as q (queue_name, paused_at)
    select distinct n, pg_catalog.now() from pg_catalog.unnest(queue_names) as n
    order by 1
    on conflict on constraint queue_controls_pkey do nothing
    returning q.queue_name
  )
  select coalesce(array_agg(ch.queue_name order by ch.queue_name), '{}')
  into v_changed from changed as ch;
  if cardinality(v_changed) > 0 then
    perform graphile_worker._private_notify_control(
      jsonb_build_object('op', 'pause_queues', 'names', to_jsonb(v_changed)));
  end if;
  return v_changed;
end;
$$;

comment on function graphile_worker.pause_queues(text[]) is
  'Admin: pause these named queues (existing or not yet used): get_jobs claims none of their jobs until resume_queues; the running job finishes, the others keep their order. Returns the queues that were not paused before; notifies graphile_worker:control. Bad names: GWF01.';

create function graphile_worker.resume_queues(queue_names text[])
returns text[]
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_changed text[];
begin
  perform graphile_worker._private_check_flow_names(queue_names, 'queue', 'resume_queues');
  with changed as (
    delete from graphile_worker._private_queue_controls as q
    where q.queue_name = any(queue_names)
    returning q.queue_name
  )
  select coalesce(array_agg(ch.queue_name order by ch.queue_name), '{}')
  into v_changed from changed as ch;
  if cardinality(v_changed) > 0 then
    perform graphile_worker._private_notify_control(
      jsonb_build_object('op', 'resume_queues', 'names', to_jsonb(v_changed)));
  end if;
  return v_changed;
end;
$$;

comment on function graphile_worker.resume_queues(text[]) is
  'Admin: resume paused named queues; runners hear it at once (graphile_worker:control) and claim. Returns the queues that were paused. Bad names: GWF01.';

revoke all on function graphile_worker.pause_tasks(text[]) from public;
revoke all on function graphile_worker.resume_tasks(text[]) from public;
revoke all on function graphile_worker.pause_queues(text[]) from public;
revoke all on function graphile_worker.resume_queues(text[]) from public;

-- from sql/src/30_functions/12_flow/20_task_limits.sql
-- Fleet-wide limits per task (docs/flow-control.md), enforced by get_jobs: a claim of a limited
-- task locks its _private_task_controls row (so claims of that task run one at a time), counts
-- the task's jobs still running and its starts in the last rate_period, and claims at most
-- what is left. Jobs over a limit stay waiting in their order; no attempt is used.
-- set_task_limits(task, null, null, null) removes the limits. A task need not exist yet. The
-- running count starts from the task's jobs locked when max_running is set; rate starts are
-- counted from when the rate limit is set. Admin action.
-- security definer: admins get EXECUTE on this function and no rights on the private tables,
-- so it acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.set_task_limits(
  task_identifier text,
  max_running integer,
  rate_limit integer,
  rate_period interval
)
returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_variable
declare
  v_running bigint[];
begin
  perform graphile_worker._private_check_flow_names(array[task_identifier], 'task',
    'set_task_limits');
  if max_running is not null and max_running < 1 then
    raise exception 'set_task_limits: max_running must be 1 or more, not %', max_running
      using errcode = 'GWF01',
      detail = 'max_running is the most jobs of the task running at once across all runners.',
      hint = 'Pass null for no limit; to stop the task, pause it (pause_tasks).';
  end if;
  if (rate_limit is null) <> (rate_period is null) then
    raise exception 'set_task_limits: rate_limit and rate_period go together'
      using errcode = 'GWF01',
      detail = format('rate_limit is %s and rate_period is %s.',
        coalesce(rate_limit::text, 'null'), coalesce(rate_period::text, 'null')),
      hint = 'Pass both (e.g. 600 and interval ''1 minute'') or neither.';
  end if;
  if rate_limit is not null and rate_limit < 1 then
    raise exception 'set_task_limits: rate_limit must be 1 or more, not %', rate_limit
      using errcode = 'GWF01',
      detail = 'rate_limit is the most starts of the task in any rate_period.',
      hint = 'Pass null for no limit; to stop the task, pause it (pause_tasks).';
  end if;
  if rate_period is not null
     and (rate_period < interval '1 second' or rate_period > interval '7 days') then
    raise exception 'set_task_limits: rate_period must be from 1 second to 7 days, not %',
      rate_period
      using errcode = 'GWF01',
      detail = 'Starts are counted in slots of rate_period / 60 over the last rate_period.',
      hint = 'Pass e.g. interval ''1 minute''.';
  end if;

  -- the task's jobs running now count from the start (found through the index of locked jobs)
  if max_running is not null then
    select coalesce(array_agg(j.id order by j.id), '{}') into v_running
    from graphile_worker._private_jobs as j
    join graphile_worker._private_tasks as t on t.id = j.task_id
    where j.locked_at is not null and t.identifier = set_task_limits.task_identifier;
  end if;

  if max_running is null and rate_limit is null then
    delete from graphile_worker._private_task_controls as c
    where c.task_identifier = set_task_limits.task_identifier and not c.paused;
    update graphile_worker._private_task_controls as c
    set max_running = null, rate_limit = null, rate_period = null, running_ids = '{}',
      rate_slots = '{}', rate_counts = '{}', updated_at = pg_catalog.now()
    where c.task_identifier = set_task_limits.task_identifier;
  else
    insert into graphile_worker._private_task_controls as c
      (task_identifier, max_running, rate_limit, rate_period, running_ids)
    values (task_identifier, max_running, rate_limit, rate_period, coalesce(v_running, '{}'))
    on conflict on constraint task_controls_pkey do update
    set max_running = excluded.max_running,
      rate_limit = excluded.rate_limit,
      rate_period = excluded.rate_period,
      running_ids = case when c.max_running is null then excluded.running_ids
        else (select coalesce(array_agg(distinct x order by x), '{}')
              from pg_catalog.unnest(c.running_ids || excluded.running_ids) as x) end,
      -- starts counted so far stay when the period is the same
      rate_slots = case when c.rate_period = excluded.rate_period then c.rate_slots else '{}' end,
      rate_counts = case when c.rate_period = excluded.rate_period then c.rate_counts else '{}' end,
      updated_at = pg_catalog.now();
  end if;
  perform graphile_worker._private_notify_control(
    jsonb_build_object('op', 'limits', 'names', jsonb_build_array(task_identifier)));
end;
$$;

comment on function graphile_worker.set_task_limits(text, integer, integer, interval) is
  'Admin: at most max_running jobs of the task running at once and at most rate_limit starts in any rate_period (1 second to 7 days), across every runner, enforced inside get_jobs; null means no limit (all null removes them). Jobs over a limit wait in their order. Bad values: GWF01.';

-- What is paused and limited, with what the limits count now. running is the task's jobs
-- claimed and not yet released; starts is its starts in the last rate_period (counted in
-- slots of rate_period / 60, so it may include up to one slot more).
create function graphile_worker.flow_controls()
returns table (
  kind text,
  name text,
  paused boolean,
  max_running integer,
  running integer,
  rate_limit integer,
  rate_period interval,
  starts integer,
  updated_at timestamptz
)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select 'task'::text, c.task_identifier, c.paused, c.max_running,
    case when c.max_running is not null then (
      select count(*)::integer from graphile_worker._private_jobs as j
      where j.id = any(c.running_ids) and j.locked_at is not null) end,
    c.rate_limit, c.rate_period,
    case when c.rate_limit is not null then (
      select coalesce(sum(s.n), 0)::integer
      from rows from (pg_catalog.unnest(c.rate_slots), pg_catalog.unnest(c.rate_counts)) as s(slot, n)
      where (s.slot + 1) * extract(epoch from c.rate_period)
        > (extract(epoch from pg_catalog.now()) - extract(epoch from c.rate_period)) * 60) end,
    c.updated_at
  from graphile_worker._private_task_controls as c
  union all
  select 'queue', q.queue_name, true, null, null, null, null, null, q.paused_at
  from graphile_worker._private_queue_controls as q
  order by 1 desc, 2;
$$;

comment on function graphile_worker.flow_controls() is
  'Admin: the paused and limited tasks (kind task) and paused queues (kind queue), with each task''s running jobs counted against max_running and its starts in the last rate_period.';

revoke all on function graphile_worker.set_task_limits(text, integer, integer, interval) from public;
revoke all on function graphile_worker.flow_controls() from public;

-- from sql/src/30_functions/12_flow/30_cancel_jobs.sql
-- Cancel jobs (docs/flow-control.md). A waiting, scheduled or retrying job is deleted and
-- recorded as cancelled. A running job (locked, the lock younger than _private_lock_expiry())
-- gets a cancel request and its attempts raised to max_attempts, so it never runs again whatever
-- its runner does; runners hear it on graphile_worker:control (gw_runner cancels an async
-- handler and sets the job context's cancelled flag), and the runner's report or return of the
-- job deletes it and records it as cancelled. A job that failed for good, an unknown id and a
-- job already being cancelled are left alone and come back with cancelled false.

-- Delete the jobs with a cancel request that are in job_ids and locked by worker_id (a
-- runner reports or returns them), or, with a null worker_id, that are no longer locked (their
-- runner was swept) or gone; record them as cancelled and drop their requests. Returns the ids
-- of the jobs deleted.
create function graphile_worker._private_finish_cancelled(worker_id text, job_ids bigint[])
returns bigint[]
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_rows graphile_worker._private_jobs[];
  v_queue_ids integer[];
  v_ids bigint[];
begin
  with gone as (
    delete from graphile_worker._private_jobs as jobs
    using graphile_worker._private_cancel_requests as r
    where r.job_id = jobs.id
      and case when _private_finish_cancelled.worker_id is null then jobs.locked_at is null
        else jobs.id = any(_private_finish_cancelled.job_ids)
          and jobs.locked_by = _private_finish_cancelled.worker_id end
    returning jobs
  )
  select array_agg(g.jobs), array_agg((g.jobs).id),
    array_agg((g.jobs).job_queue_id) filter (where (g.jobs).job_queue_id is not null)
  into v_rows, v_ids, v_queue_ids
  from gone as g;
  delete from graphile_worker._private_cancel_requests as r
  where r.job_id = any(v_ids)
    or (_private_finish_cancelled.worker_id is null and not exists (
      select 1 from graphile_worker._private_jobs as j where j.id = r.job_id));
  if v_rows is null then
    return '{}';
  end if;
  if graphile_worker._private_history_on() then
    perform graphile_worker._private_record_finished(v_rows, 'cancelled',
      _private_finish_cancelled.worker_id, null, pg_catalog.now());
  end if;
  if _private_finish_cancelled.worker_id is not null then
    perform graphile_worker._private_unlock_job_queues(_private_finish_cancelled.worker_id,
      v_queue_ids);
  end if;
  return v_ids;
end;
$$;

comment on function graphile_worker._private_finish_cancelled(text, bigint[]) is
  'Flow control: delete and record as cancelled the jobs with a cancel request among job_ids locked by worker_id (null: those no longer locked), dropping their requests. Returns their ids.';

-- security definer: admins get EXECUTE on this function and no rights on the private tables,
-- so it acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.cancel_jobs(job_ids bigint[])
returns table (job_id bigint, cancelled boolean, state text)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_now timestamptz := pg_catalog.now();
  v_ids bigint[];
  v_states text[];
  v_removed graphile_worker._private_jobs[];
  v_running bigint[];
  v_new bigint[];
begin
  if cancel_jobs.job_ids is null or cardinality(cancel_jobs.job_ids) = 0
     or array_position(cancel_jobs.job_ids, null) is not null then
    raise exception 'cancel_jobs: pass at least one job id, and no null'
      using errcode = 'GWF01',
      detail = format('job_ids was %s.', coalesce(left(cancel_jobs.job_ids::text, 200), 'null')),
      hint = 'Call e.g. graphile_worker.cancel_jobs(array[42]); cancel_jobs_by_key takes keys.';
  end if;
  -- more than 10000 ids: GWF01, as retry_jobs, delete_jobs and run_jobs_at
  perform graphile_worker._private_check_job_ids(cancel_jobs.job_ids, 'cancel_jobs');

  -- The jobs, locked in id order (a claim or report holding one is waited for), and what each
  -- one is now.
  select s.ids, s.states into v_ids, v_states
  from graphile_worker._private_lock_job_states(cancel_jobs.job_ids, v_now,
    live_lock_first => false) as s;

  with gone as (
    delete from graphile_worker._private_jobs as jobs
    where jobs.id = any(array(
      select s.id from rows from (pg_catalog.unnest(v_ids), pg_catalog.unnest(v_states)) as s(id, st)
      where s.st in ('waiting', 'scheduled', 'retrying')))
    returning jobs
  )
  select array_agg(g.jobs) into v_removed from gone as g;
  if v_removed is not null and graphile_worker._private_history_on() then
    perform graphile_worker._private_record_finished(v_removed, 'cancelled', null, null, v_now);
  end if;

  v_running := array(select s.id from rows from (pg_catalog.unnest(v_ids), pg_catalog.unnest(v_states)) as s(id, st)
                     where s.st = 'running');
  if cardinality(v_running) > 0 then
    update graphile_worker._private_jobs as jobs
    set attempts = greatest(jobs.attempts, jobs.max_attempts), updated_at = v_now
    where jobs.id = any(v_running);
    insert into graphile_worker._private_cancel_requests (job_id, requested_at)
    select r.id, v_now from pg_catalog.unnest(v_running) as r(id)
    on conflict do nothing;
    -- in chunks, each well under the 8000-byte limit of a notification
    for v_new in
      select array_agg(c.id order by c.id)
      from (select r.id, (row_number() over (order by r.id) - 1) / 400 as chunk
            from pg_catalog.unnest(v_running) as r(id)) as c
      group by c.chunk
    loop
      perform graphile_worker._private_notify_control(
        jsonb_build_object('op', 'cancel', 'ids', to_jsonb(v_new)));
    end loop;
  end if;

  return query
  select i.id, coalesce(s.st in ('waiting', 'scheduled', 'retrying', 'running'), false),
    coalesce(s.st, 'unknown')
  from pg_catalog.unnest(cancel_jobs.job_ids) with ordinality as i(id, ord)
  left join rows from (pg_catalog.unnest(v_ids), pg_catalog.unnest(v_states)) as s(id, st) on s.id = i.id
  order by i.ord;
end;
$$;

comment on function graphile_worker.cancel_jobs(bigint[]) is
  'Admin: cancel jobs. Waiting, scheduled and retrying ones are deleted and recorded as cancelled; running ones are never retried, their runner hears it (graphile_worker:control) and the job ends as cancelled when reported. One row per id given: cancelled, and the state it was in (waiting, scheduled, retrying, running; cancelling, failed and unknown are left alone). An empty array, a null id or more than 10000 ids: GWF01.';

-- security definer: as cancel_jobs.
create function graphile_worker.cancel_jobs_by_key(job_keys text[])
returns table (job_key text, job_id bigint, cancelled boolean, state text)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_keys text[];
  v_ids bigint[];
begin
  if cancel_jobs_by_key.job_keys is null or cardinality(cancel_jobs_by_key.job_keys) = 0
     or array_position(cancel_jobs_by_key.job_keys, null) is not null then
    raise exception 'cancel_jobs_by_key: pass at least one job key, and no null'
      using errcode = 'GWF01',
      detail = format('job_keys was %s.',
        coalesce(left(cancel_jobs_by_key.job_keys::text, 200), 'null')),
      hint = 'Call e.g. graphile_worker.cancel_jobs_by_key(array[''report:42'']).';
  end if;
  if cardinality(cancel_jobs_by_key.job_keys) > 10000 then
    raise exception 'cancel_jobs_by_key: at most 10000 job keys per call, not %',
      cardinality(cancel_jobs_by_key.job_keys)
      using errcode = 'GWF01',
      detail = 'One call locks every job it is given until its transaction ends.',
      hint = 'Split the keys into chunks of at most 10000.';
  end if;
  select array_agg(j.key), array_agg(j.id) into v_keys, v_ids
  from graphile_worker._private_jobs as j
  where j.key = any(cancel_jobs_by_key.job_keys);
  if v_ids is null then
    return query
    select k.key, null::bigint, false, 'unknown'::text
    from pg_catalog.unnest(cancel_jobs_by_key.job_keys) with ordinality as k(key, ord)
    order by k.ord;
    return;
  end if;
  return query
  select k.key, m.id, coalesce(c.cancelled, false), coalesce(c.state, 'unknown')
  from pg_catalog.unnest(cancel_jobs_by_key.job_keys) with ordinality as k(key, ord)
  left join rows from (pg_catalog.unnest(v_keys), pg_catalog.unnest(v_ids)) as m(key, id) on m.key = k.key
  left join graphile_worker.cancel_jobs(v_ids) as c on c.job_id = m.id
  order by k.ord;
end;
$$;

comment on function graphile_worker.cancel_jobs_by_key(text[]) is
  'Admin: cancel_jobs for the jobs holding these keys; one row per key (job_id null and state unknown for a key no job holds). An empty array, a null key or more than 10000 keys: GWF01.';

revoke all on function graphile_worker._private_finish_cancelled(text, bigint[]) from public;
revoke all on function graphile_worker.cancel_jobs(bigint[]) from public;
revoke all on function graphile_worker.cancel_jobs_by_key(text[]) from public;

-- from sql/src/20_tables/45_private_cron_specs.sql
-- The cron items as last registered (0.1.8, docs/operations.md): register_crontab and
-- schedule_crontab store each parsed item here, rewriting a row only when its item changed, so
-- that cron_items() can show an item's schedule and next run and run_cron_item() can enqueue
-- its job. _private_known_crontabs (graphile-worker's table, shared with Node workers) keeps
-- the scheduling state; Node workers do not write here, so items only they schedule show
-- without a schedule. Not part of the graphile-worker schema.
create table graphile_worker._private_cron_specs (
  identifier text not null,
  item graphile_worker.cron_item not null,
  registered_at timestamptz not null,
  constraint cron_specs_pkey primary key (identifier)
);

alter table graphile_worker._private_cron_specs enable row level security;

-- extension-only:begin
select pg_catalog.pg_extension_config_dump('graphile_worker._private_cron_specs', '');
-- extension-only:end

comment on table graphile_worker._private_cron_specs is
  'Cron items as last registered by register_crontab or schedule_crontab (the parsed item), read by cron_items() and run_cron_item().';

-- from sql/src/20_tables/83_private_finished_jobs_queue_index.sql
-- 0.1.8 (docs/operations.md): list_jobs with a queue filter reads the finished-jobs store by
-- this index instead of walking its primary key past every other row (about 100 ms for a
-- queue with few finished rows among 1,000,000, bench/ops.py). Partial: jobs without a queue,
-- the common case, cost nothing more to record; a job of a named queue about 1.7 us.
create index finished_jobs_queue_index on graphile_worker._private_finished_jobs
  (queue_name, id)
  where queue_name is not null;

-- from sql/src/20_tables/83_private_finished_jobs_task_index.sql
-- 0.1.8 (docs/operations.md): list_jobs with a task filter reads the finished-jobs store by
-- this index instead of walking its primary key past every other task's rows. Measured
-- (bench/ops.py, 1,000,000 finished rows): a page of a task with no or few finished rows went
-- from about 100 ms (a full walk or sequential scan) to under 1 ms; recording a finished job
-- costs about 1.7 us more (inserting 200,000 rows: 3.3 s -> 5.1 s per million), well under 1 %
-- of a job's report. (The jobs table gets only jobs_gw_attempted_index, which enqueue and claim
-- never write: every index there slows them.)
create index finished_jobs_task_index on graphile_worker._private_finished_jobs
  (task_identifier, id);

-- from sql/src/20_tables/31_private_jobs_attempted_index.sql
-- 0.1.8 (docs/operations.md): the jobs that were tried and are not running, i.e. those waiting
-- for a retry or failed for good (unlocked, attempts > 0): list_jobs and count_jobs with the
-- states retrying and failed read them here instead of walking the primary key past every
-- waiting job (bench/dashboard.py, 1,000,000 waiting jobs: about 180 ms -> a few ms). An
-- enqueue and a claim add no entry (a new job has no attempt, a claimed one is locked), so
-- they only test the predicate; a failed attempt's report adds one.
create index jobs_gw_attempted_index on graphile_worker._private_jobs
  using btree (id)
  where (attempts > 0 and locked_at is null);

-- from sql/src/30_functions/17_ops/00_private_ops_basics.sql
-- Operations (0.1.8, docs/operations.md): the checks the functions that list, count and act on
-- jobs share. Bad arguments raise GWF01 (as flow control does) before anything is read or
-- changed.

-- The states a job can be in (job_status): those of the jobs table, then those of the
-- finished-jobs store ('failed' is in both: a job that failed for good stays in the jobs table
-- and, with a retention, is recorded too).
create function graphile_worker._private_ops_states()
returns text[]
language sql
immutable
set search_path = pg_catalog, pg_temp
return array['waiting', 'scheduled', 'running', 'retrying', 'failed', 'completed', 'cancelled'];

comment on function graphile_worker._private_ops_states() is
  'Operations: the job states list_jobs and count_jobs filter on (waiting, scheduled, running, retrying, failed, completed, cancelled).';

-- Raise GWF01 unless the filters of list_jobs / count_jobs are usable: each array null (no
-- filter) or non-empty without null or empty entries, states known, the key not empty, the id
-- range not reversed.
create function graphile_worker._private_check_job_filter(
  states text[],
  task_identifiers text[],
  queue_names text[],
  job_key text,
  min_id bigint,
  max_id bigint,
  function_name text
)
returns void
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_bad text;
begin
  if states is not null then
    if cardinality(states) = 0 or array_position(states, null) is not null then
      raise exception '%: states must be null (every state) or a non-empty array without null',
        function_name
        using errcode = 'GWF01',
        detail = format('states was %s.', left(states::text, 200)),
        hint = 'Leave states out for every state, or pass e.g. array[''failed'', ''retrying''].';
    end if;
    select s into v_bad from pg_catalog.unnest(states) as s
    where s <> all (graphile_worker._private_ops_states())
    limit 1;
    if found then
      raise exception '%: unknown state %', function_name, quote_literal(left(v_bad, 200))
        using errcode = 'GWF01',
        detail = 'The states are waiting, scheduled, running, retrying, failed, completed and '
          'cancelled (see job_status).',
        hint = 'Remove the unknown state from the array.';
    end if;
  end if;
  if task_identifiers is not null then
    perform graphile_worker._private_check_flow_names(task_identifiers, 'task', function_name);
  end if;
  if queue_names is not null then
    perform graphile_worker._private_check_flow_names(queue_names, 'queue', function_name);
  end if;
  if job_key = '' or length(job_key) > 512 then
    raise exception '%: a job key must be 1 to 512 characters, not %', function_name,
      quote_literal(left(job_key, 200))
      using errcode = 'GWF01',
      detail = 'Job keys are 1 to 512 characters long (jobs_key_check).',
      hint = 'Leave job_key out (null) to match every job.';
  end if;
  if min_id > max_id then
    raise exception '%: min_id % is above max_id %', function_name, min_id, max_id
      using errcode = 'GWF01',
      detail = 'min_id and max_id bound the ids listed, both included.',
      hint = 'Swap them, or leave one out (null) for no bound on that side.';
  end if;
end;
$$;

comment on function graphile_worker._private_check_job_filter(text[], text[], text[], text, bigint, bigint, text) is
  'Operations: raise GWF01 for an empty array or a null entry in a filter, an unknown state, an empty or over-512-character key, or min_id above max_id.';

-- Raise GWF01 unless job_ids is a non-empty array without null, of at most 10000 ids.
create function graphile_worker._private_check_job_ids(job_ids bigint[], function_name text)
returns void
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  if job_ids is null or cardinality(job_ids) = 0
     or array_position(job_ids, null) is not null then
    raise exception '%: pass at least one job id, and no null', function_name
      using errcode = 'GWF01',
      detail = format('job_ids was %s.', coalesce(left(job_ids::text, 200), 'null')),
      hint = format('Call e.g. graphile_worker.%s(array[42]).', function_name);
  end if;
  if cardinality(job_ids) > 10000 then
    raise exception '%: at most 10000 job ids per call, not %', function_name,
      cardinality(job_ids)
      using errcode = 'GWF01',
      detail = 'One call locks every job it is given until its transaction ends.',
      hint = 'Split the ids into chunks of at most 10000 (gw-admin does).';
  end if;
end;
$$;

comment on function graphile_worker._private_check_job_ids(bigint[], text) is
  'Operations: raise GWF01 for a null or empty array of job ids, a null id, or more than 10000 ids.';

revoke all on function graphile_worker._private_ops_states() from public;
revoke all on function graphile_worker._private_check_job_filter(text[], text[], text[], text, bigint, bigint, text) from public;
revoke all on function graphile_worker._private_check_job_ids(bigint[], text) from public;

-- from sql/src/30_functions/17_ops/05_private_job_filter_sql.sql
-- The WHERE clauses of list_jobs and count_jobs, built for the filters given so that each call
-- is planned for what it asks: an id range walks a primary key, a key probes its unique index,
-- a filter left out costs nothing. The clauses refer to parameters, never to values:
--   $1 states text[], $2 task ids integer[], $3 queue ids integer[], $4 job_key text,
--   $5 lowest id, $6 highest id (both included), $7 lock expiry (locks before it are stale),
--   $8 now, $9 task identifiers text[], $10 queue names text[].
-- part: 'jobs' (alias j, the jobs table, with the state as column st of alias s),
-- 'finished' (alias f, the finished-jobs store, without the jobs still in the jobs table) or
-- 'finished_candidates' (the same with those jobs: the caller drops them).
create function graphile_worker._private_job_filter_sql(
  part text,
  states text[],
  task_identifiers text[],
  queue_names text[],
  job_key text,
  min_id bigint,
  max_id bigint,
  before_id bigint
)
returns text
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_where text[] := array[]::text[];
begin
  if min_id is not null then
    v_where := v_where || '%1$s.id >= $5'::text;
  end if;
  if max_id is not null or before_id is not null then
    v_where := v_where || '%1$s.id <= $6'::text;
  end if;
  if job_key is not null then
    v_where := v_where || '%1$s.key = $4'::text;
  end if;
  if part = 'jobs' then
    if task_identifiers is not null then
      v_where := v_where || 'j.task_id = any($2)'::text;
    end if;
    if queue_names is not null then
      v_where := v_where || 'j.job_queue_id = any($3)'::text;
    end if;
    if states is not null then
      v_where := v_where || 's.st = any($1)'::text;
      if states <@ array['running'] then
        -- only locked jobs: a small set with its own index (jobs_gw_locked_index)
        v_where := v_where || 'j.locked_at is not null'::text;
      elsif not states && array['running', 'retrying', 'failed'] then
        v_where := v_where || 'j.attempts = 0'::text;
      elsif states <@ array['retrying', 'failed'] then
        -- jobs tried and not running: unlocked ones by their own index
        -- (jobs_gw_attempted_index), stale locks by jobs_gw_locked_index
        v_where := v_where || 'j.attempts > 0 and (j.locked_at is null or j.locked_at < $7)'::text;
      end if;
    end if;
    if cardinality(v_where) = 0 then
      return '';
    end if;
    return format('where ' || array_to_string(v_where, ' and '), 'j');
  end if;
  if task_identifiers is not null then
    v_where := v_where || 'f.task_identifier = any($9)'::text;
  end if;
  if queue_names is not null then
    v_where := v_where || 'f.queue_name = any($10)'::text;
  end if;
  if states is not null then
    v_where := v_where || 'f.outcome = any($1)'::text;
  end if;
  -- A job that failed for good and is still in the jobs table is listed from there. list_jobs
  -- checks this itself on the page's candidates (part finished_candidates): as a filter of
  -- the scan, PostgreSQL costs it for every row and walks the primary key even where a
  -- sequential scan finds the few matching rows sooner.
  if part = 'finished' then
    v_where := v_where || ('(f.outcome <> ''failed'' or not exists (select 1 from '
      'graphile_worker._private_jobs as j2 where j2.id = f.id))')::text;
  end if;
  if cardinality(v_where) = 0 then
    return '';
  end if;
  return format('where ' || array_to_string(v_where, ' and '), 'f');
end;
$$;

comment on function graphile_worker._private_job_filter_sql(text, text[], text[], text[], text, bigint, bigint, bigint) is
  'Operations: the WHERE clause of list_jobs and count_jobs for the jobs table (part jobs) or the finished-jobs store (part finished; finished_candidates without dropping the jobs still in the jobs table), with only the filters given, referring to parameters $1..$10.';

revoke all on function graphile_worker._private_job_filter_sql(text, text[], text[], text[], text, bigint, bigint, bigint) from public;

-- from sql/src/30_functions/17_ops/10_list_jobs.sql
-- List jobs (docs/operations.md): the jobs table and the finished-jobs store together, newest id
-- first, one page of at most max_rows rows; the next page is the call with before_id = the
-- last id of this one (keyset pagination). Each table is walked backwards along its primary
-- key from the upper bound and each yields at most max_rows rows, so a page costs the rows it
-- shows plus those its filters skip, whatever the tables hold; no index is added to the jobs
-- table (every index slows enqueue and claim). A filter left null matches every job. States as
-- job_status computes them (a lock older than _private_lock_expiry() is not running); a job
-- that failed for good is listed once, from the jobs table, with the finished_at of its record.
-- Rows of the store have no run_at, locked_by or locked_at. jit is off: compiling costs more
-- than a page (about 75 ms measured) and PostgreSQL's cost of a walk that may stop early
-- would switch it on.
-- security definer: monitor-level roles get EXECUTE on this function and no rights on the
-- private tables, so it acts with the owner's rights; it pins search_path, qualifies every
-- name and passes every value as a parameter of the statements it builds.
create function graphile_worker.list_jobs(
  states text[] default null,
  task_identifiers text[] default null,
  queue_names text[] default null,
  job_key text default null,
  min_id bigint default null,
  max_id bigint default null,
  before_id bigint default null,
  max_rows integer default 50,
  now timestamptz default now()
)
returns table (
  id bigint,
  task_identifier text,
  queue_name text,
  state text,
  priority smallint,
  run_at timestamptz,
  attempts smallint,
  max_attempts smallint,
  key text,
  last_error text,
  locked_by text,
  locked_at timestamptz,
  created_at timestamptz,
  finished_at timestamptz
)
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
set jit = off
as $$
declare
  v_hi bigint := list_jobs.max_id;
  v_task_ids integer[];
  v_queue_ids integer[];
  v_live boolean;
  v_done boolean;
  v_parts text[] := array[]::text[];
  v_upper bigint;
  v_sql text;
  v_batch integer;
  v_cand bigint[];
  v_kept bigint[];
  v_fids bigint[] := array[]::bigint[];
begin
  perform graphile_worker._private_check_job_filter(list_jobs.states, list_jobs.task_identifiers,
    list_jobs.queue_names, list_jobs.job_key, list_jobs.min_id, list_jobs.max_id, 'list_jobs');
  if list_jobs.max_rows is null or list_jobs.max_rows not between 1 and 10000 then
    raise exception 'list_jobs: max_rows must be between 1 and 10000, not %',
      coalesce(list_jobs.max_rows::text, 'null')
      using errcode = 'GWF01',
      detail = 'max_rows is the size of one page.',
      hint = 'Pass e.g. max_rows => 50, and before_id => the last id of a page for the next one.';
  end if;
  if list_jobs.now is null then
    raise exception 'list_jobs: now must not be null'
      using errcode = 'GWF01',
      detail = 'now decides between waiting and scheduled, and which locks are stale.',
      hint = 'Leave now out to use the transaction time.';
  end if;
  v_live := list_jobs.states is null
    or list_jobs.states && array['waiting', 'scheduled', 'running', 'retrying', 'failed'];
  v_done := list_jobs.states is null
    or list_jobs.states && array['completed', 'failed', 'cancelled'];
  if list_jobs.before_id is not null then
    if list_jobs.before_id <= list_jobs.min_id
       or list_jobs.before_id = -9223372036854775808 then
      v_live := false;  -- nothing below before_id is in range
      v_done := false;
    else
      v_hi := least(v_hi, list_jobs.before_id - 1);
    end if;
  end if;
  v_upper := coalesce(v_hi, 9223372036854775807);
  if list_jobs.task_identifiers is not null then
    v_task_ids := array(select t.id from graphile_worker._private_tasks as t
                        where t.identifier = any(list_jobs.task_identifiers));
    v_live := v_live and cardinality(v_task_ids) > 0;
  end if;
  if list_jobs.queue_names is not null then
    v_queue_ids := array(select q.id from graphile_worker._private_job_queues as q
                         where q.queue_name = any(list_jobs.queue_names));
    v_live := v_live and cardinality(v_queue_ids) > 0;
  end if;

  if v_live then
    v_parts := v_parts || (
      'select x.id, t.identifier, q.queue_name, x.st, x.priority, x.run_at, x.attempts, '
      'x.max_attempts, x.key, x.last_error, x.locked_by, x.locked_at, x.created_at, '
      'case when x.st = ''failed'' and x.locked_at is null then (select f.finished_at '
      'from graphile_worker._private_finished_jobs as f where f.id = x.id) end '
      'from (select j.id, j.task_id, j.job_queue_id, s.st, j.priority, j.run_at, j.attempts, '
      'j.max_attempts, j.key, j.last_error, j.locked_by, j.locked_at, j.created_at '
      'from graphile_worker._private_jobs as j cross join lateral (select '
      'graphile_worker._private_inline_job_state(j.locked_at, j.attempts, j.max_attempts, j.run_at, '
      '$7, $8) as st) as s '
      || graphile_worker._private_job_filter_sql('jobs', list_jobs.states,
        list_jobs.task_identifiers, list_jobs.queue_names, list_jobs.job_key, list_jobs.min_id,
        v_hi, null)
      || ' order by j.id desc limit $11) as x '
      'join graphile_worker._private_tasks as t on t.id = x.task_id '
      'left join graphile_worker._private_job_queues as q on q.id = x.job_queue_id');
  end if;
  if v_done then
    -- The page's rows of the store: candidates in id order, without the jobs still in the
    -- jobs table (a job that failed for good is listed from there), fetched again below the
    -- last candidate while some were dropped and the page is not full.
    v_sql := 'select f.id, f.outcome from graphile_worker._private_finished_jobs as f '
      || graphile_worker._private_job_filter_sql('finished_candidates', list_jobs.states,
        list_jobs.task_identifiers, list_jobs.queue_names, list_jobs.job_key, list_jobs.min_id,
        v_upper, null)
      || ' order by f.id desc limit $11';
    v_batch := list_jobs.max_rows;
    loop
      execute 'select array_agg(c.id order by c.id desc), '
        'array_agg(c.id order by c.id desc) filter (where c.outcome <> ''failed'' '
        'or not exists (select 1 from graphile_worker._private_jobs as j where j.id = c.id)) '
        'from (' || v_sql || ') as c'
      into v_cand, v_kept
      using list_jobs.states, v_task_ids, v_queue_ids, list_jobs.job_key, list_jobs.min_id,
        v_upper, null::timestamptz, null::timestamptz, list_jobs.task_identifiers,
        list_jobs.queue_names, v_batch;
      v_fids := v_fids || coalesce(v_kept, '{}');
      exit when v_cand is null or cardinality(v_cand) < v_batch
        or cardinality(v_fids) >= list_jobs.max_rows
        or v_cand[cardinality(v_cand)] = -9223372036854775808;
      v_upper := v_cand[cardinality(v_cand)] - 1;
      v_batch := least(v_batch * 2, 10000);
    end loop;
  end if;
  -- the store's rows of the page (none when v_fids is empty: a probe of its primary key)
  v_parts := v_parts || (
    'select f.id, f.task_identifier, f.queue_name, f.outcome, f.priority, '
    'null::timestamptz, f.attempts, f.max_attempts, f.key, f.last_error, null::text, '
    'null::timestamptz, f.created_at, f.finished_at '
    'from graphile_worker._private_finished_jobs as f where f.id = any($12)')::text;
  return query execute
    'select * from ((' || array_to_string(v_parts, ') union all (') || ')) as u '
    'order by 1 desc limit $11'
  using list_jobs.states, v_task_ids, v_queue_ids, list_jobs.job_key, list_jobs.min_id, v_hi,
    list_jobs.now - graphile_worker._private_lock_expiry(), list_jobs.now,
    list_jobs.task_identifiers, list_jobs.queue_names, list_jobs.max_rows, v_fids;
end;
$$;

comment on function graphile_worker.list_jobs(text[], text[], text[], text, bigint, bigint, bigint, integer, timestamptz) is
  'Monitor: one page of jobs, from the jobs table and the finished-jobs store, newest id first: filters on states (waiting, scheduled, running, retrying, failed, completed, cancelled), task identifiers, queue names, key and an id range (null: any); the next page with before_id = the last id shown. Walks both tables by primary key; at most max_rows (1..10000) rows. Bad filters: GWF01.';

revoke all on function graphile_worker.list_jobs(text[], text[], text[], text, bigint, bigint, bigint, integer, timestamptz) from public;

-- from sql/src/30_functions/17_ops/15_count_jobs.sql
-- Count the jobs list_jobs would list with the same filters, over every page. It reads every
-- matching row: about 0.1 s per million (docs/operations.md); queue_stats counts per task and
-- queue in one pass.
-- security definer: as list_jobs.
create function graphile_worker.count_jobs(
  states text[] default null,
  task_identifiers text[] default null,
  queue_names text[] default null,
  job_key text default null,
  min_id bigint default null,
  max_id bigint default null,
  now timestamptz default now()
)
returns bigint
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
set jit = off
as $$
declare
  v_task_ids integer[];
  v_queue_ids integer[];
  v_live boolean;
  v_done boolean;
  v_live_count bigint := 0;
  v_done_count bigint := 0;
begin
  perform graphile_worker._private_check_job_filter(count_jobs.states,
    count_jobs.task_identifiers, count_jobs.queue_names, count_jobs.job_key, count_jobs.min_id,
    count_jobs.max_id, 'count_jobs');
  if count_jobs.now is null then
    raise exception 'count_jobs: now must not be null'
      using errcode = 'GWF01',
      detail = 'now decides between waiting and scheduled, and which locks are stale.',
      hint = 'Leave now out to use the transaction time.';
  end if;
  v_live := count_jobs.states is null
    or count_jobs.states && array['waiting', 'scheduled', 'running', 'retrying', 'failed'];
  v_done := count_jobs.states is null
    or count_jobs.states && array['completed', 'failed', 'cancelled'];
  if count_jobs.task_identifiers is not null then
    v_task_ids := array(select t.id from graphile_worker._private_tasks as t
                        where t.identifier = any(count_jobs.task_identifiers));
    v_live := v_live and cardinality(v_task_ids) > 0;
  end if;
  if count_jobs.queue_names is not null then
    v_queue_ids := array(select q.id from graphile_worker._private_job_queues as q
                         where q.queue_name = any(count_jobs.queue_names));
    v_live := v_live and cardinality(v_queue_ids) > 0;
  end if;

  if v_live then
    execute
      'select count(*) from graphile_worker._private_jobs as j cross join lateral (select '
      'graphile_worker._private_inline_job_state(j.locked_at, j.attempts, j.max_attempts, j.run_at, '
      '$7, $8) as st) as s '
      || graphile_worker._private_job_filter_sql('jobs', count_jobs.states,
        count_jobs.task_identifiers, count_jobs.queue_names, count_jobs.job_key,
        count_jobs.min_id, count_jobs.max_id, null)
    into v_live_count
    using count_jobs.states, v_task_ids, v_queue_ids, count_jobs.job_key, count_jobs.min_id,
      count_jobs.max_id, count_jobs.now - graphile_worker._private_lock_expiry(), count_jobs.now,
      count_jobs.task_identifiers, count_jobs.queue_names;
  end if;
  if v_done then
    execute
      'select count(*) from graphile_worker._private_finished_jobs as f '
      || graphile_worker._private_job_filter_sql('finished', count_jobs.states,
        count_jobs.task_identifiers, count_jobs.queue_names, count_jobs.job_key,
        count_jobs.min_id, count_jobs.max_id, null)
    into v_done_count
    using count_jobs.states, v_task_ids, v_queue_ids, count_jobs.job_key, count_jobs.min_id,
      count_jobs.max_id, count_jobs.now - graphile_worker._private_lock_expiry(), count_jobs.now,
      count_jobs.task_identifiers, count_jobs.queue_names;
  end if;
  return v_live_count + v_done_count;
end;
$$;

comment on function graphile_worker.count_jobs(text[], text[], text[], text, bigint, bigint, timestamptz) is
  'Monitor: how many jobs list_jobs lists with these filters, over all pages (reads every matching row). Bad filters: GWF01.';

revoke all on function graphile_worker.count_jobs(text[], text[], text[], text, bigint, bigint, timestamptz) from public;

-- from sql/src/30_functions/17_ops/20_job_detail.sql
-- Everything known about one job: job_status() plus its payload and the columns an operator
-- looks at (priority, key, lock, flags, when its first attempt started, the worker of its
-- finished record). From the jobs table while the job is there, else from the finished-jobs
-- store; no row for an id in neither.
-- security definer: monitor-level roles get EXECUTE on this function and no rights on the
-- private tables, so it acts with the owner's rights; it pins search_path and qualifies every
-- name.
create function graphile_worker.job_detail(job_id bigint)
returns table (
  id bigint,
  task_identifier text,
  queue_name text,
  state text,
  attempts smallint,
  max_attempts smallint,
  run_at timestamptz,
  last_error text,
  result jsonb,
  created_at timestamptz,
  finished_at timestamptz,
  errors jsonb,
  result_note text,
  payload json,
  priority smallint,
  key text,
  locked_by text,
  locked_at timestamptz,
  flags jsonb,
  first_started_at timestamptz,
  worker_id text,
  updated_at timestamptz,
  expires_at timestamptz
)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select s.id, s.task_identifier, s.queue_name, s.state, s.attempts, s.max_attempts, s.run_at,
    s.last_error, s.result, s.created_at, s.finished_at, s.errors, s.result_note,
    coalesce(j.payload, f.payload),
    coalesce(j.priority, f.priority),
    case when j.id is not null then j.key else f.key end,
    j.locked_by,
    j.locked_at,
    case when j.id is not null then j.flags else f.flags end,
    coalesce(f.first_started_at, e.first_started_at),
    f.worker_id,
    j.updated_at,
    f.expires_at
  from graphile_worker.job_status(job_detail.job_id) as s
  left join graphile_worker._private_jobs as j on j.id = s.id
  left join graphile_worker._private_finished_jobs as f on f.id = s.id
  left join graphile_worker._private_attempt_errors as e on e.job_id = s.id
  where s.state <> 'unknown';
$$;

comment on function graphile_worker.job_detail(bigint) is
  'Monitor: one row with job_status() of the job plus payload, priority, key, locked_by, locked_at, flags, first_started_at, worker_id (of its finished record), updated_at and expires_at; no row for an unknown id. Shows the payload: monitor level, not producer.';

revoke all on function graphile_worker.job_detail(bigint) from public;

-- from sql/src/30_functions/17_ops/30_retry_jobs.sql
-- Retry jobs now (docs/operations.md). A job of the jobs table that failed for good or is
-- waiting for its next attempt (failed, retrying; not running: a lock older than
-- _private_lock_expiry() is stale and is dropped) runs now: run_at = now(), attempts = 0 (it
-- gets its full max_attempts again), unlocked; last_error and its recorded errors are kept.
-- Runners are woken as add_job wakes them. A job that failed for good and is only in the
-- finished-jobs store (deleted after its last attempt, e.g. by delete_permanently_failed_jobs)
-- is enqueued again as a new job from its record: same task, queue, payload, priority,
-- max_attempts and flags, and its key when no job holds that key now (else no key);
-- new_job_id is the new job's id. Every other job is left alone: waiting, scheduled, running,
-- cancelling (a cancel is under way), completed, cancelled, unknown. One row per id given, in
-- the order given: retried, and the state the job was in.
-- security definer: admin-level roles get EXECUTE on this function and no rights on the
-- private tables, so it acts with the owner's rights; it pins search_path and qualifies every
-- name.
create function graphile_worker.retry_jobs(job_ids bigint[])
returns table (job_id bigint, retried boolean, state text, new_job_id bigint)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_now timestamptz := pg_catalog.now();
  v_ids bigint[];
  v_states text[];
  v_retry bigint[];
  v_old bigint[];
  v_new bigint[];
  v_rec record;
  v_job graphile_worker._private_jobs;
begin
  perform graphile_worker._private_check_job_ids(retry_jobs.job_ids, 'retry_jobs');

  -- The jobs of the jobs table, locked in id order, and what each one is now.
  select s.ids, s.states into v_ids, v_states
  from graphile_worker._private_lock_job_states(retry_jobs.job_ids, v_now,
    live_lock_first => false) as s;

  v_retry := array(
    select s.id from rows from (pg_catalog.unnest(v_ids), pg_catalog.unnest(v_states)) as s(id, st)
    where s.st in ('failed', 'retrying'));
  if cardinality(v_retry) > 0 then
    update graphile_worker._private_jobs as jobs
    set run_at = v_now, attempts = 0, locked_at = null, locked_by = null, updated_at = v_now
    where jobs.id = any(v_retry);
    if pg_catalog.pg_notification_queue_usage() < 0.5
       and graphile_worker._private_wake_runners() then
      perform pg_catalog.pg_notify('jobs:insert',
        '{"r":' || random()::text || ',"count":' || cardinality(v_retry)::text || '}');
    end if;
  end if;

  -- Failed jobs that are only in the finished-jobs store: enqueued again.
  v_old := array[]::bigint[];
  v_new := array[]::bigint[];
  for v_rec in
    select f.id, f.task_identifier, f.queue_name, f.payload, f.priority, f.max_attempts, f.key,
      f.flags
    from graphile_worker._private_finished_jobs as f
    where f.id = any(retry_jobs.job_ids) and f.outcome = 'failed' and f.id <> all(v_ids)
    order by f.id
    for update of f
  loop
    v_job := graphile_worker.add_job(
      v_rec.task_identifier,
      payload => v_rec.payload,
      queue_name => v_rec.queue_name,
      max_attempts => v_rec.max_attempts,
      job_key => case when not exists (select 1 from graphile_worker._private_jobs as j
                                       where j.key = v_rec.key) then v_rec.key end,
      priority => v_rec.priority,
      flags => case when v_rec.flags is not null
        then array(select k from jsonb_object_keys(v_rec.flags) as k) end,
      job_key_mode => 'unsafe_dedupe');
    v_old := v_old || v_rec.id;
    v_new := v_new || v_job.id;
  end loop;

  return query
  select i.id,
    coalesce(s.st in ('failed', 'retrying'), false) or n.new_id is not null,
    coalesce(s.st, f.outcome, 'unknown'),
    n.new_id
  from pg_catalog.unnest(retry_jobs.job_ids) with ordinality as i(id, ord)
  left join rows from (pg_catalog.unnest(v_ids), pg_catalog.unnest(v_states)) as s(id, st)
    on s.id = i.id
  left join rows from (pg_catalog.unnest(v_old), pg_catalog.unnest(v_new)) as n(old_id, new_id)
    on n.old_id = i.id
  left join graphile_worker._private_finished_jobs as f on f.id = i.id and s.id is null
  order by i.ord;
end;
$$;

comment on function graphile_worker.retry_jobs(bigint[]) is
  'Admin: run failed and retrying jobs (not running) now with all their attempts again (run_at = now, attempts = 0), waking runners; a failed job only in the finished-jobs store is enqueued again as a new job (new_job_id) from its record. One row per id given: retried, and the state it was in (waiting, scheduled, running, cancelling, completed, cancelled and unknown are left alone). An empty array, a null id or more than 10000 ids: GWF01.';

revoke all on function graphile_worker.retry_jobs(bigint[]) from public;

-- from sql/src/30_functions/17_ops/40_delete_jobs.sql
-- Delete jobs from the jobs table (docs/operations.md): any job that is not running (waiting,
-- scheduled, retrying, failed, or cancelling with no live lock; a lock older than
-- _private_lock_expiry() is stale). A running job is left alone: cancel_jobs stops it. A
-- deletion is an erasure, not an outcome: nothing is added to the finished-jobs store (a job
-- that failed for good keeps the record of its failure; use cancel_jobs to keep a record of a
-- job that never ran), the job's recorded attempt errors and cancel request go with it, and
-- job_status says unknown afterwards unless the store has the job. One row per id given, in the
-- order given: deleted, and the state the job was in (completed and cancelled for a job only
-- in the store, which is left to prune_finished_jobs; unknown for an id in neither).
-- security definer: admin-level roles get EXECUTE on this function and no rights on the
-- private tables, so it acts with the owner's rights; it pins search_path and qualifies every
-- name.
create function graphile_worker.delete_jobs(job_ids bigint[])
returns table (job_id bigint, deleted boolean, state text)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_now timestamptz := pg_catalog.now();
  v_ids bigint[];
  v_states text[];
  v_gone bigint[];
begin
  perform graphile_worker._private_check_job_ids(delete_jobs.job_ids, 'delete_jobs');

  -- The jobs of the jobs table, locked in id order, and what each one is now; a live lock
  -- comes before a cancel request: a job its runner still holds is running and stays.
  select s.ids, s.states into v_ids, v_states
  from graphile_worker._private_lock_job_states(delete_jobs.job_ids, v_now,
    live_lock_first => true) as s;

  v_gone := array(
    select s.id from rows from (pg_catalog.unnest(v_ids), pg_catalog.unnest(v_states)) as s(id, st)
    where s.st <> 'running');
  if cardinality(v_gone) > 0 then
    delete from graphile_worker._private_jobs as jobs where jobs.id = any(v_gone);
    delete from graphile_worker._private_attempt_errors as e where e.job_id = any(v_gone);
    delete from graphile_worker._private_cancel_requests as r where r.job_id = any(v_gone);
  end if;

  return query
  select i.id, coalesce(s.st <> 'running', false), coalesce(s.st, f.outcome, 'unknown')
  from pg_catalog.unnest(delete_jobs.job_ids) with ordinality as i(id, ord)
  left join rows from (pg_catalog.unnest(v_ids), pg_catalog.unnest(v_states)) as s(id, st)
    on s.id = i.id
  left join graphile_worker._private_finished_jobs as f on f.id = i.id and s.id is null
  order by i.ord;
end;
$$;

comment on function graphile_worker.delete_jobs(bigint[]) is
  'Admin: delete jobs that are not running from the jobs table (running ones: cancel_jobs), with their recorded attempt errors; nothing is recorded in the finished-jobs store. One row per id given: deleted, and the state it was in (running, and completed, cancelled or unknown for ids not in the jobs table, are left alone). An empty array, a null id or more than 10000 ids: GWF01.';

revoke all on function graphile_worker.delete_jobs(bigint[]) from public;

-- from sql/src/30_functions/17_ops/50_run_jobs_at.sql
-- Move jobs to another time (docs/operations.md): a job that is waiting, scheduled or retrying
-- (not running, and with attempts left) gets this run_at; attempts, priority and key are kept.
-- Runners are woken when the time is not in the future. One row per id given, in the order
-- given: rescheduled, and the state the job was in. Left alone: running, cancelling, failed
-- (no attempts left: retry_jobs runs it again), completed, cancelled, unknown.
-- reschedule_jobs (graphile-worker's contract) changes more columns but returns only the rows
-- it changed.
-- security definer: admin-level roles get EXECUTE on this function and no rights on the
-- private tables, so it acts with the owner's rights; it pins search_path and qualifies every
-- name.
create function graphile_worker.run_jobs_at(job_ids bigint[], run_at timestamptz)
returns table (job_id bigint, rescheduled boolean, state text)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_now timestamptz := pg_catalog.now();
  v_ids bigint[];
  v_states text[];
  v_move bigint[];
begin
  perform graphile_worker._private_check_job_ids(run_jobs_at.job_ids, 'run_jobs_at');
  if run_jobs_at.run_at is null then
    raise exception 'run_jobs_at: run_at must not be null'
      using errcode = 'GWF01',
      detail = 'run_jobs_at sets the time the jobs run at.',
      hint = 'Pass now() to run them now, or a later time.';
  end if;
  if run_jobs_at.run_at < '0001-01-02 00:00:00+00'
     or run_jobs_at.run_at >= '9999-12-31 00:00:00+00' then
    raise exception 'run_at must be between 0001-01-02 and 9999-12-30 UTC, not %', run_jobs_at.run_at
      using errcode = 'GWE01',
      detail = 'Runners read run_at back as a date and time: infinity, -infinity and years '
        'outside 1 to 9999 cannot be represented by them (Python''s datetime).',
      hint = 'Pass a time from 0001-01-02 to 9999-12-30 UTC.';
  end if;

  -- The jobs of the jobs table, locked in id order, and what each one is now.
  select s.ids, s.states into v_ids, v_states
  from graphile_worker._private_lock_job_states(run_jobs_at.job_ids, v_now,
    live_lock_first => false) as s;

  v_move := array(
    select s.id from rows from (pg_catalog.unnest(v_ids), pg_catalog.unnest(v_states)) as s(id, st)
    where s.st in ('waiting', 'scheduled', 'retrying'));
  if cardinality(v_move) > 0 then
    -- a stale lock goes: the job is not running
    update graphile_worker._private_jobs as jobs
    set run_at = run_jobs_at.run_at, locked_at = null, locked_by = null, updated_at = v_now
    where jobs.id = any(v_move);
    if run_jobs_at.run_at <= v_now and pg_catalog.pg_notification_queue_usage() < 0.5
       and graphile_worker._private_wake_runners() then
      perform pg_catalog.pg_notify('jobs:insert',
        '{"r":' || random()::text || ',"count":' || cardinality(v_move)::text || '}');
    end if;
  end if;

  return query
  select i.id, coalesce(s.st in ('waiting', 'scheduled', 'retrying'), false),
    coalesce(s.st, f.outcome, 'unknown')
  from pg_catalog.unnest(run_jobs_at.job_ids) with ordinality as i(id, ord)
  left join rows from (pg_catalog.unnest(v_ids), pg_catalog.unnest(v_states)) as s(id, st)
    on s.id = i.id
  left join graphile_worker._private_finished_jobs as f on f.id = i.id and s.id is null
  order by i.ord;
end;
$$;

comment on function graphile_worker.run_jobs_at(bigint[], timestamptz) is
  'Admin: set run_at of waiting, scheduled and retrying jobs (not running, attempts left), waking runners when it is not in the future. One row per id given: rescheduled, and the state it was in (running, cancelling, failed, completed, cancelled and unknown are left alone). An empty array, a null id, more than 10000 ids or a null run_at: GWF01; a run_at outside 0001-01-02..9999-12-30 UTC: GWE01.';

revoke all on function graphile_worker.run_jobs_at(bigint[], timestamptz) from public;

-- from sql/src/30_functions/17_ops/59_private_cron_period_text.sql
-- A fill period as a crontab writes it (docs/cron.md, "Options"): weeks, days, hours,
-- minutes and seconds, largest first, zero parts left out ('1d', '4w3d2h1m'); null for none.
create function graphile_worker._private_cron_period_text(period interval)
returns text
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select string_agg(v.n::text || v.unit, '' order by v.ord)
  from (select pg_catalog.floor(pg_catalog.date_part('epoch', period))::bigint as s) as e,
    lateral (values
      (1, 'w', e.s / 604800),
      (2, 'd', e.s % 604800 / 86400),
      (3, 'h', e.s % 86400 / 3600),
      (4, 'm', e.s % 3600 / 60),
      (5, 's', e.s % 60)) as v(ord, unit, n)
  where v.n > 0;
$$;

comment on function graphile_worker._private_cron_period_text(interval) is
  'Cron: a fill period as crontab text (1d, 4w3d2h1m), null for zero or null.';

revoke all on function graphile_worker._private_cron_period_text(interval) from public;

-- from sql/src/30_functions/17_ops/60_private_store_cron_specs.sql
-- Store the parsed items of a crontab (_private_cron_specs), called by register_crontab and
-- schedule_crontab. A row is written only when its item changed (compared as text: the item
-- holds json, which has no equality), so the call a runner makes every minute writes nothing
-- while its crontab stays the same. Two crontabs with the same identifier share one row: the
-- last one registered.
create function graphile_worker._private_store_cron_specs(
  items graphile_worker.cron_item[],
  now timestamptz
)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  insert into graphile_worker._private_cron_specs as s (identifier, item, registered_at)
  select distinct on (i.identifier) i.identifier, i, _private_store_cron_specs.now
  from pg_catalog.unnest(_private_store_cron_specs.items) as i
  where i.identifier is not null
  order by i.identifier
  on conflict on constraint cron_specs_pkey do update
    set item = excluded.item, registered_at = excluded.registered_at
    where s.item::text is distinct from excluded.item::text;
end;
$$;

comment on function graphile_worker._private_store_cron_specs(graphile_worker.cron_item[], timestamptz) is
  'Cron: store parsed items in _private_cron_specs, rewriting a row only when its item changed.';

revoke all on function graphile_worker._private_store_cron_specs(graphile_worker.cron_item[], timestamptz) from public;

-- from sql/src/30_functions/17_ops/61_cron_items.sql
-- The cron items known to the database (docs/operations.md): each identifier of
-- _private_known_crontabs (graphile-worker's scheduling state) and of _private_cron_specs (the
-- items as last registered). task_identifier, schedule (as written: the five time fields or
-- the @ shorthand), options (those given, as crontab option names: fill, max, queue, jobKey,
-- jobKeyMode, priority, tz), payload and next_run (the first minute after now, and after the
-- last execution, at which it fires) are null for an item registered only by a Node worker or
-- before 0.1.8, until a 0.1.8 runner or register_crontab registers it again.
-- security definer: monitor-level roles get EXECUTE on this function and no rights on the
-- private tables, so it acts with the owner's rights; it pins search_path and qualifies every
-- name.
create function graphile_worker.cron_items(now timestamptz default now())
returns table (
  identifier text,
  task_identifier text,
  schedule text,
  options jsonb,
  payload json,
  known_since timestamptz,
  last_execution timestamptz,
  next_run timestamptz,
  registered_at timestamptz
)
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if cron_items.now is null then
    raise exception 'cron_items: now must not be null'
      using errcode = 'GWF01',
      detail = 'next_run is the first minute after now at which an item fires.',
      hint = 'Leave now out to use the transaction time.';
  end if;
  return query
  select coalesce(k.identifier, s.identifier),
    (s.item).task_identifier,
    (s.item).schedule,
    case when s.identifier is not null then jsonb_strip_nulls(jsonb_build_object(
      'fill', graphile_worker._private_cron_period_text((s.item).fill),
      'max', (s.item).max_attempts,
      'queue', (s.item).queue_name,
      'jobKey', (s.item).job_key,
      'jobKeyMode', (s.item).job_key_mode,
      'priority', (s.item).priority,
      'tz', (s.item).time_zone)) end,
    (s.item).payload,
    k.known_since,
    k.last_execution,
    case when s.identifier is not null then graphile_worker.cron_next_after(s.item,
      greatest(cron_items.now, k.last_execution)) end,
    s.registered_at
  from graphile_worker._private_known_crontabs as k
  full join graphile_worker._private_cron_specs as s on s.identifier = k.identifier
  order by 1;
end;
$$;

comment on function graphile_worker.cron_items(timestamptz) is
  'Monitor: every known cron item: identifier, task, schedule and options as registered, payload, known_since, last_execution and next_run (the next minute it fires after now); task, schedule, options and next_run are null for items no 0.1.8 scheduler registered.';

revoke all on function graphile_worker.cron_items(timestamptz) from public;

-- from sql/src/30_functions/17_ops/62_run_cron_item.sql
-- Enqueue the job of a cron item now (docs/operations.md), as its schedule would: its task,
-- queue, max attempts, priority, job key and key mode, and its payload with
-- "_cron": {"ts": now, "backfilled": false, "manual": true}; run_at now. The item's schedule is
-- untouched: last_execution does not move, so its next scheduled run still happens (with a job
-- key, a run not yet started is replaced as the key mode says). Returns the job's id.
-- security definer: admin-level roles get EXECUTE on this function and no rights on the
-- private tables, so it acts with the owner's rights; it pins search_path and qualifies every
-- name.
create function graphile_worker.run_cron_item(identifier text)
returns bigint
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_item graphile_worker.cron_item;
  v_job graphile_worker._private_jobs;
  v_now timestamptz := pg_catalog.now();
begin
  if run_cron_item.identifier is null or run_cron_item.identifier = '' then
    raise exception 'run_cron_item: pass the identifier of a cron item, not %',
      coalesce(quote_literal(run_cron_item.identifier), 'null')
      using errcode = 'GWF01',
      detail = 'An item''s identifier is its id option, else its task identifier.',
      hint = 'cron_items() lists the identifiers.';
  end if;
  select (s.item).* into v_item
  from graphile_worker._private_cron_specs as s
  where s.identifier = run_cron_item.identifier;
  if not found then
    raise exception 'run_cron_item: no cron item % is registered with its schedule',
      quote_literal(left(run_cron_item.identifier, 200))
      using errcode = 'GWO01',
      detail = case when exists (select 1 from graphile_worker._private_known_crontabs as k
                                 where k.identifier = run_cron_item.identifier)
        then 'The item is known to the scheduler, but no 0.1.8 scheduler has registered its '
          'task and options yet (a Node worker, or a runner before 0.1.8, schedules it).'
        else 'No scheduler has registered an item with this identifier.' end,
      hint = 'cron_items() lists the items; a 0.1.8 runner with the crontab, or '
        'register_crontab(crontab), registers them.';
  end if;
  v_job := graphile_worker.add_job(
    v_item.task_identifier,
    payload => (coalesce(v_item.payload::jsonb, '{}'::jsonb) || jsonb_build_object('_cron',
      jsonb_build_object(
        'ts', to_char(v_now at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'backfilled', false,
        'manual', true)))::json,
    queue_name => v_item.queue_name,
    max_attempts => v_item.max_attempts,
    job_key => v_item.job_key,
    priority => v_item.priority,
    job_key_mode => coalesce(v_item.job_key_mode, 'replace'));
  return v_job.id;
end;
$$;

comment on function graphile_worker.run_cron_item(text) is
  'Admin: enqueue the job of a registered cron item now (payload _cron {ts, backfilled: false, manual: true}), leaving its schedule untouched; returns the job id. GWO01 for an item without a registered schedule.';

revoke all on function graphile_worker.run_cron_item(text) from public;

-- from sql/src/30_functions/17_ops/70_storage_stats.sql
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

revoke all on function graphile_worker.storage_stats() from public;

-- from sql/src/30_functions/60_insight/10_queue_stats.sql
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create or replace function graphile_worker.queue_stats(now timestamptz default now())
returns table (
  task_identifier text,
  queue_name text,
  waiting bigint,
  scheduled bigint,
  running bigint,
  retrying bigint,
  permanently_failed bigint,
  oldest_waiting_age interval
)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
-- a scan of the whole table: JIT compiling costs more than it saves at any size seen
set jit = off
as $$
  -- counted per task and queue id first, the names joined to the groups only (0.1.8): about
  -- 3x faster on a million jobs than joining every row
  select
    t.identifier,
    q.queue_name,
    c.waiting, c.scheduled, c.running, c.retrying, c.permanently_failed,
    queue_stats.now - c.oldest_waiting
  from (
    select
      j.task_id,
      j.job_queue_id,
      count(*) filter (where j.is_available and j.run_at <= queue_stats.now) as waiting,
      count(*) filter (where j.is_available and j.run_at > queue_stats.now) as scheduled,
      count(*) filter (where j.locked_at is not null) as running,
      count(*) filter (where j.is_available and j.attempts > 0) as retrying,
      count(*) filter (where j.locked_at is null and j.attempts >= j.max_attempts)
        as permanently_failed,
      min(j.run_at) filter (where j.is_available and j.run_at <= queue_stats.now)
        as oldest_waiting
    from graphile_worker._private_jobs as j
    group by j.task_id, j.job_queue_id
  ) as c
  join graphile_worker._private_tasks as t on t.id = c.task_id
  left join graphile_worker._private_job_queues as q on q.id = c.job_queue_id
  order by t.identifier, q.queue_name nulls first;
$$;

comment on function graphile_worker.queue_stats(timestamptz) is
  'Admin insight: per task and queue, how many jobs are waiting (runnable now), scheduled (future run_at), running (locked), retrying (failed before, will run again), permanently failed, and the age of the oldest waiting job. Scans the jobs table.';

-- from sql/src/30_functions/60_insight/30_finished_per_minute.sql
-- Completed, failed and cancelled jobs per minute (UTC minutes) from the finished-jobs store,
-- for charts (the dashboard's overview; docs/operations.md). Only what the store holds: jobs
-- of tasks with a retention (docs/history.md). Reads the rows finished in [since, now) through
-- the store's finished_at index; minutes without rows are left out.
-- security definer: monitor roles get EXECUTE on this function and no rights on the private
-- tables, so it acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.finished_per_minute(
  since timestamptz default now() - interval '1 hour',
  now timestamptz default now()
)
returns table (minute timestamptz, completed bigint, failed bigint, cancelled bigint)
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if finished_per_minute.since is null or finished_per_minute.now is null
     or finished_per_minute.since > finished_per_minute.now then
    raise exception 'finished_per_minute: since and now must be given, since not after now'
      using errcode = 'GWF01',
      detail = format('since was %s, now %s.', coalesce(finished_per_minute.since::text, 'null'),
        coalesce(finished_per_minute.now::text, 'null')),
      hint = 'Call e.g. graphile_worker.finished_per_minute(now() - interval ''1 hour'').';
  end if;
  return query
    select pg_catalog.date_trunc('minute', f.finished_at, 'UTC') as m,
      count(*) filter (where f.outcome = 'completed'),
      count(*) filter (where f.outcome = 'failed'),
      count(*) filter (where f.outcome = 'cancelled')
    from graphile_worker._private_finished_jobs as f
    where f.finished_at >= finished_per_minute.since
      and f.finished_at < finished_per_minute.now
    group by 1
    order by 1;
end;
$$;

comment on function graphile_worker.finished_per_minute(timestamptz, timestamptz) is
  'Monitor: completed, failed and cancelled jobs per UTC minute finished in [since, now) (default: the last hour), from the finished-jobs store (tasks with a retention); minutes without rows are left out. Bad arguments: GWF01.';

revoke all on function graphile_worker.finished_per_minute(timestamptz, timestamptz) from public;

-- from sql/src/30_functions/50_cron/50_register_crontab.sql
-- security definer: callers get EXECUTE on this function and no rights on the private tables
-- or helpers, so it acts with the owner's rights; it pins search_path and qualifies every name.
create or replace function graphile_worker.register_crontab(crontab text, now timestamptz default now())
returns int
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_count int;
  v_items graphile_worker.cron_item[];
begin
  if now is distinct from pg_catalog.now() then  -- below the admin level, the server's clock
    perform graphile_worker._private_check_clock(now, 'register_crontab');
  end if;
  v_items := array(select i from graphile_worker.parse_crontab(crontab) as i);
  insert into graphile_worker._private_known_crontabs (identifier, known_since, last_execution)
  select i.identifier, now, null
  from pg_catalog.unnest(v_items) as i
  order by i.identifier
  on conflict (identifier) do nothing;
  get diagnostics v_count = row_count;
  -- 0.1.8: the items as registered, for cron_items() and run_cron_item()
  perform graphile_worker._private_store_cron_specs(v_items, now);
  return v_count;
end;
$$;

comment on function graphile_worker.register_crontab(text, timestamptz) is
  'Parses the crontab and records each item not yet in _private_known_crontabs as known since '
  '`now` (so it is never backfilled before then), and each item as registered (cron_items); '
  'returns how many were new. Idempotent; schedule_crontab does this itself.';

-- from sql/src/30_functions/50_cron/55_schedule_crontab_items.sql
-- The scheduler, for items parsed once by the caller (parse_crontab): register, backfill, catch
-- up and schedule the current minute.
-- Every job goes through upstream's guard, an upsert that only moves last_execution forward, so
-- any number of concurrent callers schedule each (identifier, minute) at most once, and a clock
-- that steps back schedules nothing twice.
-- security definer: callers get EXECUTE on this function and no rights on the private tables
-- or helpers, so it acts with the owner's rights; it pins search_path and qualifies every name.
create or replace function graphile_worker.schedule_crontab(
  items graphile_worker.cron_item[],
  since timestamptz default null,
  now timestamptz default now()
) returns table (
  identifier text,
  task_identifier text,
  scheduled_at timestamptz,
  backfilled boolean,
  job_id bigint
)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_item graphile_worker.cron_item;
  v_minute timestamptz := date_trunc('minute', now, 'UTC');
  v_regular_after timestamptz;
  v_after timestamptz;
  v_known_since timestamptz;
  v_last_execution timestamptz;
  v_time timestamptz;
  v_won boolean;
  v_payload jsonb;
begin
  if items is null or now is null then
    raise exception 'cron: items and now must not be null'
      using errcode = 'GWC09',
        detail = 'schedule_crontab needs the parsed items (parse_crontab) and a time.',
        hint = 'Pass ''{}'' for no items; leave now out to use the transaction time.';
  end if;
  -- below the admin level, the server's clock: a future now would move each item's
  -- last_execution forward and no runner would schedule it again until then
  if now <> pg_catalog.now() then
    perform graphile_worker._private_check_clock(now, 'schedule_crontab');
  end if;
  -- Minutes after v_regular_after are due now (the current one, or all since the caller's
  -- previous call); earlier ones are only scheduled as backfill, within each item's fill.
  v_regular_after := least(
    coalesce(date_trunc('minute', since, 'UTC'), v_minute - interval '1 minute'), v_minute);

  insert into graphile_worker._private_known_crontabs as k (identifier, known_since, last_execution)
  select distinct i.identifier, now, null::timestamptz
  from unnest(items) as i
  order by 1
  on conflict (identifier) do nothing;
  -- 0.1.8: the items as registered (written only when one changed), for cron_items() and
  -- run_cron_item()
  perform graphile_worker._private_store_cron_specs(items, now);

  foreach v_item in array items loop
    select k.known_since, k.last_execution
      into v_known_since, v_last_execution
    from graphile_worker._private_known_crontabs as k
    where k.identifier = v_item.identifier;
    v_after := v_regular_after;
    if v_item.fill > interval '0' then
      v_after := least(v_after, now - v_item.fill - interval '1 microsecond');
    end if;
    v_after := greatest(v_after, v_last_execution,
      date_trunc('minute', coalesce(v_known_since, now), 'UTC') - interval '1 microsecond');
    -- Bounded: at most 100000 minutes per item per call (69 days of an every-minute item). Only
    -- a window that long is counted first, so the common call pays nothing.
    if v_minute - v_after > interval '100000 minutes' then
      begin
        perform count(*)
        from graphile_worker.cron_times_between(v_item, v_after, v_minute, 100000);
      exception when sqlstate 'GWC10' then
        raise exception 'cron: item ''%'' has more than 100000 due minutes to schedule from % to %',
          v_item.identifier, v_after, v_minute
          using errcode = 'GWC10',
            detail = 'schedule_crontab schedules at most 100000 minutes per item and call, so '
              'that one call is bounded; nothing was scheduled. The window runs from the item''s '
              'last execution, or from `since` or its fill, to `now`.',
            hint = 'Shorten the item''s fill option, or pass a later since.';
      end;
    end if;
    for v_time in
      select t from graphile_worker.cron_times_between(v_item, v_after, v_minute, 100000) as t
    loop
      v_won := false;
      insert into graphile_worker._private_known_crontabs as k
        (identifier, known_since, last_execution)
      values (v_item.identifier, v_time, v_time)
      on conflict (identifier) do update
        set last_execution = excluded.last_execution
        where k.last_execution is null or k.last_execution < excluded.last_execution
      returning true into v_won;
      continue when v_won is not true;
      v_payload := coalesce(v_item.payload::jsonb, '{}'::jsonb) || jsonb_build_object('_cron',
        jsonb_build_object(
          'ts', to_char(v_time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
          'backfilled', v_time <= v_regular_after));
      identifier := v_item.identifier;
      task_identifier := v_item.task_identifier;
      scheduled_at := v_time;
      backfilled := v_time <= v_regular_after;
      select j.id into job_id
      from graphile_worker.add_job(
        v_item.task_identifier,
        payload => v_payload::json,
        queue_name => v_item.queue_name,
        run_at => v_time,
        max_attempts => v_item.max_attempts,
        job_key => v_item.job_key,
        priority => v_item.priority,
        job_key_mode => coalesce(v_item.job_key_mode, 'replace')) as j;
      return next;
    end loop;
  end loop;
end;
$$;

comment on function graphile_worker.schedule_crontab(
  graphile_worker.cron_item[], timestamptz, timestamptz) is
  'Registers new items (never backfilled), then for each item enqueues every due minute: the '
  'current minute (all minutes after `since` when given), and for known items the missed '
  'minutes within fill (backfilled); run_at = the minute, payload gets _cron {ts, backfilled}. '
  'Exactly once per (identifier, minute) across concurrent callers: last_execution only moves '
  'forward. Bounded: more than 100000 due minutes for one item in one call raises GWC10.';

-- from sql/src/30_functions/07_history/50_job_status.sql
-- The state of one job (docs/history.md, "Status"): from the jobs table while it is there,
-- else from the finished-jobs store, else unknown. States: waiting (due), scheduled (run_at in
-- the future, never attempted), running (locked, the lock younger than 4 hours), retrying
-- (attempted and failed, attempts left), failed (no attempts left, still in the jobs table, or
-- recorded as failed), completed, cancelled (recorded), unknown (no such job, or finished
-- without a record). errors lists the failed attempts recorded for the job (tasks with a
-- retention); last_error is the jobs table's, or the recorded one.
-- security definer: producers get EXECUTE on this function and no rights on the private
-- tables, so the function acts with the owner's rights; it pins search_path and qualifies
-- every name.
create or replace function graphile_worker.job_status(job_id bigint, now timestamptz default now())
returns table (
  id bigint,
  task_identifier text,
  queue_name text,
  state text,
  attempts smallint,
  max_attempts smallint,
  run_at timestamptz,
  last_error text,
  result jsonb,
  created_at timestamptz,
  finished_at timestamptz,
  errors jsonb,
  result_note text
)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select
    job_status.job_id,
    coalesce(q.identifier, f.task_identifier),
    case when q.id is not null then q.queue_name else f.queue_name end,
    case
      when q.id is null then coalesce(f.outcome, 'unknown')
      else graphile_worker._private_inline_job_state(q.locked_at, q.attempts, q.max_attempts, q.run_at,
        job_status.now - graphile_worker._private_lock_expiry(), job_status.now)
    end,
    coalesce(q.attempts, f.attempts),
    coalesce(q.max_attempts, f.max_attempts),
    q.run_at,
    case when q.id is not null then q.last_error
      else f.last_error end,
    case when q.id is null then f.result end,
    coalesce(q.created_at, f.created_at),
    case when q.id is null or (q.attempts >= q.max_attempts and q.locked_at is null)
      then f.finished_at end,
    case when q.id is not null then coalesce(q.errors, '[]'::jsonb)
      else coalesce(f.errors, '[]'::jsonb) end,
    case when q.id is null then f.result_note end
  from (select 1) as one
  left join lateral (
    select jobs.id, tasks.identifier, queues.queue_name, jobs.locked_at, jobs.attempts,
      jobs.max_attempts, jobs.run_at, jobs.last_error, jobs.created_at, e.errors
    from graphile_worker._private_jobs as jobs
    join graphile_worker._private_tasks as tasks on tasks.id = jobs.task_id
    left join graphile_worker._private_job_queues as queues on queues.id = jobs.job_queue_id
    left join graphile_worker._private_attempt_errors as e on e.job_id = jobs.id
    where jobs.id = job_status.job_id
  ) as q on true
  left join graphile_worker._private_finished_jobs as f on f.id = job_status.job_id;
$$;

comment on function graphile_worker.job_status(bigint, timestamptz) is
  'Producer: the state of a job (waiting, scheduled, running, retrying, failed, completed, cancelled or unknown) with its attempts, run_at, last_error, result, times and the errors of its recorded attempts. An unknown id gives one row with state unknown.';

-- security definer: as job_status.
create or replace function graphile_worker.job_status_by_key(job_key text, now timestamptz default now())
returns table (
  id bigint,
  task_identifier text,
  queue_name text,
  state text,
  attempts smallint,
  max_attempts smallint,
  run_at timestamptz,
  last_error text,
  result jsonb,
  created_at timestamptz,
  finished_at timestamptz,
  errors jsonb,
  result_note text
)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select s.*
  from (
    select coalesce(
      (select jobs.id from graphile_worker._private_jobs as jobs where jobs.key = job_key),
      (select f.id from graphile_worker._private_finished_jobs as f
       where f.key = job_key
       order by f.finished_at desc
       limit 1)) as id
  ) as k,
  graphile_worker.job_status(k.id, job_status_by_key.now) as s;
$$;

comment on function graphile_worker.job_status_by_key(text, timestamptz) is
  'Producer: job_status() of the job that holds this key, else of the last recorded job that had it; state unknown (id null) when neither exists.';

-- Waiting for a job (gw_runner's wait_for_job): the session LISTENs on graphile_worker:finished,
-- calls watch_job, then reads job_status until the job has finished. While the watch exists,
-- the function that finishes the job records it (for at least 10 minutes) and notifies the
-- channel with {"id","outcome"}. unwatch_job ends the watch (null: every watch of the
-- session); prune_finished_jobs removes those of sessions that ended.
-- security definer: producers get EXECUTE and no rights on the private tables.
create or replace function graphile_worker.watch_job(job_id bigint)
returns void
language plpgsql
security definer
strict
set search_path = pg_catalog, pg_temp
as $$
begin
  insert into graphile_worker._private_finish_watches (job_id, backend_pid, watched_at)
  values (watch_job.job_id, pg_catalog.pg_backend_pid(), pg_catalog.now())
  on conflict on constraint finish_watches_pkey do update set watched_at = excluded.watched_at;
end;
$$;

comment on function graphile_worker.watch_job(bigint) is
  'Producer: announce that this session waits for the job: when it finishes, it is recorded for at least 10 minutes and graphile_worker:finished is notified with {"id","outcome"}. End with unwatch_job().';

-- security definer: as watch_job.
create or replace function graphile_worker.unwatch_job(job_id bigint default null)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_count integer;
begin
  delete from graphile_worker._private_finish_watches as w
  where w.backend_pid = pg_catalog.pg_backend_pid()
    and (unwatch_job.job_id is null or w.job_id = unwatch_job.job_id);
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;

comment on function graphile_worker.unwatch_job(bigint) is
  'Producer: end this session''s watch of a job (null: of every job); returns how many watches ended.';

-- from sql/src/30_functions/10_enqueue/11_add_job.sql
-- Enqueue one job (graphile-worker 0.18 contract). Its arguments are checked as add_jobs checks
-- a spec (_private_inline_job_args_flagged, _private_check_job_args). The common call (no key,
-- no queue, no flags, arguments that need no check, a task that exists) takes a path of its
-- own: one insert (_private_inline_job_row with those arguments null, which the planner folds
-- to an insert from one probe of the task), and a read of the wait marks written in place,
-- calling _private_wake_runners only when that read says a runner may need waking. Each
-- statement, and each call of another plpgsql function, costs a call of add_job as much as
-- the row's own insert does (executor start, expressions compiled per transaction): measured
-- with callgrind (instructions per transaction of one add_job, docs/scaling.md), 546,000
-- before, about 457,000 this way, against 273,000 for the bare insert. When the task and
-- queue exist, one statement does the rest: for a job without a key, an insert of the row add_jobs
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
  v_wake_state text;
begin
  if add_job.job_key is null and add_job.queue_name is null and add_job.flags is null
     and graphile_worker._private_inline_job_args_flagged(
       add_job.identifier, add_job.payload, null, add_job.run_at, add_job.max_attempts, null,
       add_job.priority, null) is not true then
    -- The enqueuers' guard first (before the task is read), as add_jobs takes it.
    lock table graphile_worker._private_tasks in row share mode;
    insert into graphile_worker._private_jobs as jobs
      (job_queue_id, task_id, payload, run_at, max_attempts, key, priority, flags)
    select r.*
    from graphile_worker._private_inline_job_row(
      add_job.identifier, add_job.payload, null, add_job.run_at,
      add_job.max_attempts::smallint, null, add_job.priority::smallint, null) as r
    returning * into v_job;
    if found then
      -- _private_wake_runners' test, read here in one statement: a quiet enqueue (a busy
      -- fleet's) stops here; otherwise _private_wake_runners decides and takes the marks off.
      -- The rest is in a statement of its own, which PostgreSQL compiles only in a transaction
      -- that reaches it (2 % of a call, callgrind).
      select w.wake_state into v_wake_state
      from graphile_worker._private_inline_wake_state(pg_catalog.now()) as w;
      if v_wake_state <> 'quiet' then
        if pg_catalog.pg_notification_queue_usage() < 0.5
           and graphile_worker._private_wake_runners() then
          perform pg_catalog.pg_notify('jobs:insert', '{"r":' || random()::text || ',"count":1}');
        end if;
      end if;
      return v_job;
    end if;
    -- a new task: the path below creates it
  end if;

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

-- from sql/src/30_functions/15_admin/40_force_unlock_workers.sql
-- Admin: clear every job and queue lock held by these worker ids (graphile-worker 0.18
-- contract). Attempts are not refunded: the interrupted attempt counts. Jobs being cancelled
-- (cancel_jobs) end as cancelled.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create or replace function graphile_worker.force_unlock_workers(worker_ids text[])
returns void
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$
  update graphile_worker._private_jobs as jobs
  set locked_at = null, locked_by = null
  where jobs.locked_by = any(worker_ids);

  update graphile_worker._private_job_queues as job_queues
  set locked_at = null, locked_by = null
  where job_queues.locked_by = any(worker_ids);

  -- jobs being cancelled (cancel_jobs) whose lock was cleared end as cancelled
  select graphile_worker._private_finish_cancelled(null, null)
  where exists (select 1 from graphile_worker._private_cancel_requests);
$$;

comment on function graphile_worker.force_unlock_workers(text[]) is
  'Admin: unlock all jobs and queues locked by these worker ids (e.g. after a crash); the interrupted attempt still counts.';

-- from sql/src/30_functions/20_runner/06_private_return_jobs.sql
-- Give back jobs a worker claimed (return_jobs, return_unheld_jobs): the attempt counted at
-- checkout is refunded, and the job and its named queue are unlocked. Only jobs this worker
-- still locks are touched; one cancelled meanwhile (cancel_jobs) is deleted and recorded as
-- cancelled instead. Returns how many jobs were given back or so cancelled.
create or replace function graphile_worker._private_return_jobs(worker_id text, job_ids bigint[])
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
  -- jobs being cancelled (cancel_jobs) end here, as cancelled: looked up after their rows were
  -- locked, in a new snapshot, so a cancel that committed meanwhile is seen
  if v_count > 0 and exists (select 1 from graphile_worker._private_cancel_requests) then
    perform graphile_worker._private_finish_cancelled(null, null);
  end if;
  return v_count;
end;
$$;

comment on function graphile_worker._private_return_jobs(text, bigint[]) is
  'Private: give back jobs worker_id claimed: refund the attempt, unlock each job and its queue; only jobs that worker still locks; those being cancelled end as cancelled. Returns their number.';

-- from sql/src/30_functions/20_runner/10_get_jobs.sql
-- Claim up to batch_size runnable jobs of the given tasks for one worker, in one statement.
-- Jobs without a queue are found from claim floors (_private_claim_floors): per task and
-- priority, the (run_at, id) before which no available job is left, so a claim does not walk
-- the index entries of jobs claimed before it (which stay until vacuum removes them, and a long
-- transaction keeps vacuum from removing them). See docs/scaling.md, "Long transactions".
-- Below the admin level, now is the server's clock and worker_id must not be registered to
-- another role (GWA06, GWA05).
-- Flow control (0.1.8, docs/flow-control.md): paused tasks and queues are left out; a task with
-- limits (set_task_limits) has its control row locked for the call, so claims of that task
-- run one at a time, and this claim takes at most what its max_running and rate_limit leave.
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
  -- flow control: the limited tasks of this claim, and how many jobs each may still start
  v_limited_names text[];
  v_lim_tasks integer[];
  v_lim_allow integer[];
  v_task_left integer;  -- what the task being scanned may still take (null: no limit)
  v_scan_limit integer;
  v_head_tasks integer[] := '{}';  -- the task of each queue head
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

  -- the tasks, less the paused ones
  select array_agg(t.id order by t.id), array_agg(t.identifier order by t.id),
    array_agg(t.identifier order by t.identifier)
      filter (where c.max_running is not null or c.rate_limit is not null)
  into v_task_ids, v_task_names, v_limited_names
  from graphile_worker._private_tasks as t
  left join graphile_worker._private_task_controls as c on c.task_identifier = t.identifier
  where t.identifier = any(task_identifiers) and c.paused is not true;
  if v_task_ids is null then
    return;
  end if;

  -- Limited tasks: lock their rows (in name order: no deadlock between claims), then, in a new
  -- snapshot that sees every claim that held them before, count what runs and what started.
  if v_limited_names is not null then
    perform 1 from graphile_worker._private_task_controls as c
    where c.task_identifier = any(v_limited_names)
    order by c.task_identifier
    for update;
    -- (Read only: the row is written once, by the claim below, and only when it claims.)
    with refreshed as (
      select c.task_identifier, case when c.paused then 0 else greatest(0, least(
        coalesce(c.max_running - (
          select count(*)::integer from graphile_worker._private_jobs as j
          where j.id = any(c.running_ids) and j.locked_at is not null), 2147483647),
        coalesce(c.rate_limit - (
          select coalesce(sum(r.n), 0)::integer
          from rows from (pg_catalog.unnest(c.rate_slots), pg_catalog.unnest(c.rate_counts))
            as r(slot, n)
          where (r.slot + 1) * extract(epoch from c.rate_period)
            > (extract(epoch from v_now) - extract(epoch from c.rate_period)) * 60), 2147483647)))
        end as allow
      from graphile_worker._private_task_controls as c
      where c.task_identifier = any(v_limited_names)
    )
    select array_agg(t.id order by t.id) filter (where rf.allow > 0),
      array_agg(rf.allow order by t.id) filter (where rf.allow > 0),
      array_agg(t.id) filter (where rf.allow = 0)
    into v_lim_tasks, v_lim_allow, v_new_task
    from refreshed as rf
    join graphile_worker._private_tasks as t on t.identifier = rf.task_identifier;
    -- the tasks at a limit are left out of this claim
    if v_new_task is not null then
      select array_agg(x.id order by x.id), array_agg(x.name order by x.id)
      into v_task_ids, v_task_names
      from rows from (pg_catalog.unnest(v_task_ids), pg_catalog.unnest(v_task_names)) as x(id, name)
      where x.id <> all(v_new_task);
      if v_task_ids is null then
        return;
      end if;
    end if;
    v_new_task := '{}';
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
    v_task_left := v_lim_allow[pg_catalog.array_position(v_lim_tasks, v_task_id)];
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

      v_scan_limit := least(v_want, v_task_left);
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
        limit v_scan_limit
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
        v_l_full := v_l_full || (v_found >= v_scan_limit);
        v_l_last_run_at := v_l_last_run_at || v_run_ats[cardinality(v_run_ats)];
        v_l_last_id := v_l_last_id || v_ids[cardinality(v_ids)];
        v_l_logged := v_l_logged || v_f_logged[v_floor];
      end if;
      v_lo := v_priority;
      v_task_left := v_task_left - v_found;
      exit when v_task_left <= 0;
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
    v_run_ats || coalesce(array_agg(h.run_at), '{}'),
    coalesce(array_agg(h.task_id), '{}')
  into v_ids, v_priorities, v_run_ats, v_head_tasks
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
    select hd.id, hd.priority, hd.run_at, hd.task_id
    from queue_ids as qi
    join graphile_worker._private_job_queues as q
      on q.id = qi.job_queue_id and q.is_available = true
    cross join lateral (
      select j.id, j.priority, j.run_at, j.task_id from graphile_worker._private_jobs as j
      where j.job_queue_id = qi.job_queue_id and j.is_available = true
        and j.run_at <= v_now and j.task_id = any(v_task_ids)
        and (v_flags is null or (j.flags ?| v_flags) is not true)
      order by j.priority, j.run_at, j.id
      limit 1
    ) as hd
    -- paused queues (pause_queues) are left out
    where not exists (
      select 1 from graphile_worker._private_queue_controls as pq
      where pq.queue_name = q.queue_name)
  ) as h;

  if cardinality(v_ids) = 0 and cardinality(v_new_task) = 0 and cardinality(v_l_task) = 0 then
    return;
  end if;
  if cardinality(v_ids) - v_before > (case when v_before > 0 then 0 else 1 end) then
    v_in_order := false;  -- queue heads (in no particular order) after or among the others
  end if;

  if v_lim_tasks is not null then
    -- at most its allowance per limited task (phase 1 kept to it; queue heads may add more)
    select array_agg(c.id order by c.priority, c.run_at, c.id) into v_candidates
    from (
      select u.id, u.priority, u.run_at
      from (
        select u.id, u.priority, u.run_at, u.task_id,
          row_number() over (partition by u.task_id order by u.priority, u.run_at, u.id) as rn
        from rows from (
          pg_catalog.unnest(v_ids), pg_catalog.unnest(v_priorities), pg_catalog.unnest(v_run_ats),
          pg_catalog.unnest(v_tasks[1:v_before] || v_head_tasks)
        ) as u(id, priority, run_at, task_id)
      ) as u
      left join rows from (pg_catalog.unnest(v_lim_tasks), pg_catalog.unnest(v_lim_allow))
        as l(task_id, allow) on l.task_id = u.task_id
      where l.task_id is null or u.rn <= l.allow
      order by u.priority, u.run_at, u.id
      limit v_want
    ) as c;
  elsif v_in_order then
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
  -- the limited tasks' claimed jobs run from now, and count as starts in the current slot
  -- The limited tasks' claimed jobs run from now and count as starts in the current slot;
  -- jobs no longer locked, and slots older than two periods, are dropped. (This statement's
  -- snapshot was taken after the rows were locked, and the jobs it claims are in u.ids.)
  limits_used as (
    update graphile_worker._private_task_controls as c
    set running_ids = case when c.max_running is null then '{}'::bigint[] else array(
          select j.id from graphile_worker._private_jobs as j
          where j.id = any(c.running_ids) and j.locked_at is not null) || u.ids end,
      (rate_slots, rate_counts) = (
        select coalesce(array_agg(r.slot order by r.slot), '{}'),
          coalesce(array_agg(r.n order by r.slot), '{}')
        from (
          select x.slot, sum(x.n)::integer as n
          from rows from (pg_catalog.unnest(c.rate_slots || u.slot),
            pg_catalog.unnest(c.rate_counts || u.n)) as x(slot, n)
          where c.rate_period is not null
            and (x.slot + 1) * extract(epoch from c.rate_period)
              > (extract(epoch from v_now) - 2 * extract(epoch from c.rate_period)) * 60
          group by x.slot
        ) as r)
    from (
      select cu.task_identifier, cu.ids, cu.n,
        floor(extract(epoch from v_now) * 60 / extract(epoch from cc.rate_period))::bigint
          as slot
      from (
        select v_task_names[array_position(v_task_ids, cl.task_id)] as task_identifier,
          array_agg(cl.id order by cl.id) as ids, count(*)::integer as n
        from claimed as cl
        where cl.task_id = any(v_lim_tasks)
        group by cl.task_id
      ) as cu
      join graphile_worker._private_task_controls as cc on cc.task_identifier = cu.task_identifier
    ) as u
    where c.task_identifier = u.task_identifier
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

-- from sql/src/30_functions/20_runner/20_report_jobs.sql
-- Report the outcomes of a batch of jobs in one call: completed jobs are deleted, failed jobs
-- are scheduled for retry with graphile-worker's backoff (or failed for good). Only rows still
-- locked by this worker are touched, so a worker whose jobs were swept and re-claimed by
-- another never deletes or changes what the other now runs. A malformed failures document is
-- GWA03 (DETAIL names the entry) and changes nothing. A worker registered by another role is
-- refused (GWA05), and below the admin level now is the server's clock (GWA06).
-- History (0.1.7, docs/history.md): when some task keeps finished jobs or someone waits for a
-- job, the same call records each failed attempt's error and each finished job (completed, or
-- failed for good) with the handler's result (results: a JSON array aligned with
-- completed_job_ids, null entries for none; a result over _private_result_cap() bytes, or one
-- jsonb cannot hold, is not stored and result_note says why). Otherwise results are ignored.
-- Snooze (0.1.8, issue 17): a failures entry with "snooze": true is no failure: the job runs
-- again after retry_delay seconds, its attempt is given back and last_error is left as it was.
-- Cancel (0.1.8, issue 17): a job cancelled while it ran (cancel_jobs) is deleted and recorded
-- as cancelled whatever its outcome; it comes back with outcome cancelled.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create or replace function graphile_worker.report_jobs(
  worker_id text,
  completed_job_ids bigint[] default null,
  failures json default null,
  now timestamptz default now(),
  results json default null
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
  v_history boolean;
  v_results jsonb;
  v_done_rows graphile_worker._private_jobs[];
  v_failed_rows graphile_worker._private_jobs[];
  v_cancelled bigint[];
  v_cancel_rows graphile_worker._private_jobs[];
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
        when jsonb_typeof(a.e -> 'snooze') not in ('boolean', 'null') then
          format('"snooze" must be true or false, not JSON %s', jsonb_typeof(a.e -> 'snooze'))
        when (a.e -> 'snooze') = 'true'::jsonb
             and jsonb_typeof(a.e -> 'retry_delay') is distinct from 'number' then
          '"snooze" needs "retry_delay", the seconds until the job runs again'
        when (a.e -> 'snooze') = 'true'::jsonb and (a.e -> 'permanent') = 'true'::jsonb then
          '"snooze" and "permanent" cannot both be true'
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
          '(text); "payload", "permanent" (boolean), "retry_delay" (seconds, 0 to 315360000) '
          'and "snooze" (boolean, with retry_delay) are optional.', v_bad_ord, v_problem),
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

  if results is not null and (json_typeof(results) <> 'array'
      or json_array_length(results) <> coalesce(cardinality(completed_job_ids), 0)) then
    raise exception 'results must be a JSON array with one entry per completed job'
      using errcode = 'GWA03',
      detail = format('results is %s; completed_job_ids has %s entries.',
        case when json_typeof(results) = 'array'
          then format('an array of %s entries', json_array_length(results))
          else 'JSON ' || json_typeof(results) end,
        coalesce(cardinality(completed_job_ids), 0)),
      hint = 'Pass results[i] for completed_job_ids[i] (null for none), or leave results out.';
  end if;

  v_history := graphile_worker._private_history_on();
  if v_history then
    if results is not null then
      v_results := graphile_worker._private_results_map(completed_job_ids, results);
    end if;
    if v_failures is not null then
      -- a snoozed attempt is no failure: it has no error
      perform graphile_worker._private_record_attempt_errors(report_jobs.worker_id,
        array(select (e ->> 'id')::bigint from jsonb_array_elements(v_failures) as e
              where (e -> 'snooze') is distinct from 'true'::jsonb),
        array(select e ->> 'message' from jsonb_array_elements(v_failures) as e
              where (e -> 'snooze') is distinct from 'true'::jsonb),
        v_now);
    end if;
  end if;

  -- The jobs this worker still holds: completed ones deleted, failed ones rescheduled; their
  -- outcomes are kept to be returned once the jobs' queues are unlocked.
  with done as (
    delete from graphile_worker._private_jobs as jobs
    where jobs.id = any(completed_job_ids)
      and jobs.locked_by = report_jobs.worker_id
    returning jobs.id, jobs.job_queue_id, jobs.attempts, jobs.max_attempts, jobs.run_at,
      jobs as job
  ),
  f as (
    select x.id, x.message, x.payload, coalesce(x.permanent, false) as permanent, x.retry_delay,
      coalesce(x.snooze, false) as snooze
    from jsonb_to_recordset(coalesce(v_failures, '[]'::jsonb))
      as x(id bigint, message text, payload json, permanent boolean, retry_delay numeric,
        snooze boolean)
  ),
  failed as (
    update graphile_worker._private_jobs as jobs
    set
      last_error = case when f.snooze then jobs.last_error else f.message end,
      run_at = case
        -- rounded to microseconds: 1e-400 is a valid retry_delay but no double precision
        when f.retry_delay is not null
          then v_now + round(f.retry_delay, 6)::double precision * interval '1 second'
        else greatest(v_now, jobs.run_at) + exp(least(jobs.attempts, 10)) * interval '1 second'
      end,
      -- a snooze gives the attempt back (attempts are counted when a job is claimed)
      attempts = case
        when f.permanent then jobs.max_attempts
        when f.snooze then greatest(jobs.attempts - 1, 0)
        else jobs.attempts
      end,
      payload = coalesce(f.payload, jobs.payload),
      locked_by = null,
      locked_at = null
    from f
    where jobs.id = f.id
      and jobs.locked_by = report_jobs.worker_id
    returning jobs.id, jobs.job_queue_id, jobs.attempts, jobs.max_attempts, jobs.run_at,
      jobs as job, f.snooze
  ),
  reported as (
    select d.id, 'completed'::text as outcome, d.attempts, d.max_attempts, d.run_at,
      d.job_queue_id, d.job
    from done as d
    union all
    select fl.id,
      case
        when fl.snooze then 'snoozed'
        when fl.attempts >= fl.max_attempts then 'permanently_failed'
        else 'failed'
      end,
      fl.attempts, fl.max_attempts, fl.run_at, fl.job_queue_id, fl.job
    from failed as fl
  )
  select array_agg(r.id), array_agg(r.outcome), array_agg(r.attempts), array_agg(r.max_attempts),
    array_agg(r.run_at), array_agg(r.job_queue_id) filter (where r.job_queue_id is not null),
    array_agg(r.job) filter (where v_history and r.outcome = 'completed'),
    array_agg(r.job) filter (where v_history and r.outcome = 'permanently_failed')
  into v_ids, v_outcomes, v_attempts, v_max_attempts, v_run_ats, v_queue_ids,
    v_done_rows, v_failed_rows
  from reported as r;

  -- Cancelled while running (cancel_jobs, 0.1.8): whatever the handler did, such a job is
  -- deleted and recorded as cancelled, and its outcome is cancelled. Looked up after the rows
  -- above were locked, in a new snapshot, so a cancel that committed while this call waited
  -- for one of them is seen. (One look at a table that is empty unless a cancel is under way.)
  if v_ids is not null and exists (select 1 from graphile_worker._private_cancel_requests) then
    select array_agg(r.job_id) into v_cancelled
    from graphile_worker._private_cancel_requests as r
    where r.job_id = any(v_ids);
    if v_cancelled is not null then
      -- the failed ones are still here (unlocked by this call, which holds their row locks)
      with gone as (
        delete from graphile_worker._private_jobs as jobs
        where jobs.id = any(v_cancelled)
        returning jobs
      )
      select array_agg(g.jobs) into v_cancel_rows from gone as g;
      delete from graphile_worker._private_cancel_requests as r
      where r.job_id = any(v_cancelled);
      if v_history then
        v_cancel_rows := coalesce(v_cancel_rows, '{}') || array(
          select d from pg_catalog.unnest(v_done_rows) as d where d.id = any(v_cancelled));
        v_done_rows := array(
          select d from pg_catalog.unnest(v_done_rows) as d where d.id <> all(v_cancelled));
        v_failed_rows := array(
          select d from pg_catalog.unnest(v_failed_rows) as d where d.id <> all(v_cancelled));
      end if;
      v_outcomes := array(
        select case when o.id = any(v_cancelled) then 'cancelled' else o.outcome end
        from rows from (pg_catalog.unnest(v_ids), pg_catalog.unnest(v_outcomes))
          with ordinality as o(id, outcome, ord)
        order by o.ord);
    end if;
  end if;

  if v_history then
    perform graphile_worker._private_record_finished(v_done_rows, 'completed',
      report_jobs.worker_id, v_results, v_now);
    perform graphile_worker._private_record_finished(v_failed_rows, 'failed',
      report_jobs.worker_id, null, v_now);
    perform graphile_worker._private_record_finished(v_cancel_rows, 'cancelled',
      report_jobs.worker_id, null, v_now);
  end if;

  perform graphile_worker._private_unlock_job_queues(report_jobs.worker_id, v_queue_ids);

  -- The outcomes, then the jobs this worker no longer holds (swept, or never its own): lost.
  return query
  select r.id, r.outcome,
    case when r.outcome <> 'cancelled' then r.attempts end,
    case when r.outcome <> 'cancelled' then r.max_attempts end,
    case when r.outcome <> 'cancelled' then r.run_at end
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

comment on function graphile_worker.report_jobs(text, bigint[], json, timestamptz, json) is
  'Runner: report a batch of outcomes in one call. Completed jobs are deleted (with results[i], a JSON array aligned with completed_job_ids, recorded when the task keeps history); failures ([{"id","message","payload"?,"permanent"?,"retry_delay"?,"snooze"?}], each job once, retry_delay 0 to 315360000 s) get last_error and run_at = greatest(now, run_at) + exp(least(attempts, 10)) s (or now + retry_delay); a snooze (with retry_delay) runs the job again then without using an attempt or touching last_error (outcome snoozed); a job cancelled while it ran (cancel_jobs) is deleted and recorded as cancelled (outcome cancelled); their queues are unlocked. Only rows still locked by worker_id are touched; others come back as outcome lost. A malformed document is GWA03 and changes nothing; a worker_id registered by another role is GWA05; below the admin level a now other than the server''s clock is GWA06.';

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

  -- jobs being cancelled (cancel_jobs) whose lock was cleared end as cancelled
  if v_count > 0 and exists (select 1 from graphile_worker._private_cancel_requests) then
    perform graphile_worker._private_finish_cancelled(null, null);
  end if;

  return v_count;
end;
$$;

comment on function graphile_worker.reset_locked(interval, timestamptz) is
  'Runner/admin: unlock jobs and queues locked for longer than older_than (default 4 hours, the graphile-worker rule); such jobs run again from greatest(run_at, now); attempts are not refunded. Below the admin level older_than must be at least 4 hours and now the server''s clock (GWA06). Returns the number of jobs unlocked.';

-- from sql/src/30_functions/20_runner/50_next_job_due_at.sql
-- When does the next not-yet-due job of these tasks become runnable? Lets a runner sleep until
-- exactly then instead of polling blindly. Uses the (priority, run_at) index once per distinct
-- priority (a skip scan), not a scan of all future jobs. Rows written by Node or by hand may
-- hold a run_at no client can read (infinity, years outside 1 to 9999): infinity is never due
-- and is skipped; the result is clamped to 0001-01-02 .. 9999-12-30 UTC, which a Python
-- datetime holds in any time zone.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create or replace function graphile_worker.next_job_due_at(
  task_identifiers text[],
  forbidden_flags text[] default null,
  now timestamptz default now()
)
returns timestamptz
language plpgsql
security definer
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_task_ids integer[];
  v_flags text[] := case when cardinality(forbidden_flags) > 0 then forbidden_flags end;
  v_now timestamptz := next_job_due_at.now;
  v_result timestamptz;
begin
  if v_now is null then
    raise exception 'now must not be null'
      using errcode = 'GWA01', hint = 'Leave now out to use the transaction time.';
  end if;

  -- paused tasks are left out (0.1.8)
  select array_agg(t.id) into v_task_ids
  from graphile_worker._private_tasks as t
  where t.identifier = any(task_identifiers)
    and not exists (
      select 1 from graphile_worker._private_task_controls as c
      where c.task_identifier = t.identifier and c.paused);
  if v_task_ids is null then
    return null;
  end if;

  with recursive priorities as (
    (
      select jobs.priority
      from graphile_worker._private_jobs as jobs
      where jobs.is_available = true
      order by jobs.priority
      limit 1
    )
    union all
    select (
      select jobs.priority
      from graphile_worker._private_jobs as jobs
      where jobs.is_available = true and jobs.priority > p.priority
      order by jobs.priority
      limit 1
    )
    from priorities as p
    where p.priority is not null
  )
  select min((
    select jobs.run_at
    from graphile_worker._private_jobs as jobs
    where jobs.is_available = true
      and jobs.priority = p.priority
      and jobs.run_at > v_now
      and jobs.run_at < 'infinity'
      and jobs.task_id = any(v_task_ids)
      and (v_flags is null or (jobs.flags ?| v_flags) is not true)
    order by jobs.run_at
    limit 1
  ))
  into v_result
  from priorities as p
  where p.priority is not null;

  -- A task at its rate limit (0.1.8): when its oldest counted start stops counting, it may
  -- start again (a task without due jobs then costs one claim that finds nothing).
  -- (Slot ends are exact in numeric; the time is rounded up to the microsecond, so a claim at
  -- the returned time finds the start freed.)
  select least(v_result, min(timestamptz '1970-01-01 00:00:00+00' + interval '1 microsecond'
      * ceil(((r.first_slot + 1) * extract(epoch from c.rate_period)
        + 60 * extract(epoch from c.rate_period)) * 1000000 / 60)))
  into v_result
  from graphile_worker._private_task_controls as c
  cross join lateral (
    select min(s.slot) as first_slot, sum(s.n) as starts
    from rows from (pg_catalog.unnest(c.rate_slots), pg_catalog.unnest(c.rate_counts)) as s(slot, n)
    where (s.slot + 1) * extract(epoch from c.rate_period)
      > (extract(epoch from v_now) - extract(epoch from c.rate_period)) * 60
  ) as r
  where c.task_identifier = any(task_identifiers) and c.rate_limit is not null
    and not c.paused and r.starts >= c.rate_limit;
  if v_result is null then
    return null;
  end if;
  return greatest(least(v_result, '9999-12-30 23:59:59.999999+00'), '0001-01-02 00:00:00+00');
end;
$$;

comment on function graphile_worker.next_job_due_at(text[], text[], timestamptz) is
  'Runner: the earliest run_at after now of an available job of these tasks (jobs with a forbidden flag ignored), or null; a runner sleeps until then (bounded by its poll interval). A run_at of infinity is ignored; the result is clamped to 0001-01-02 .. 9999-12-30 23:59:59.999999 UTC.';

-- from sql/src/30_functions/40_recovery/40_recover_stale_workers.sql
-- The stale-worker sweep. Any runner may call it; concurrent sweeps skip each other's worker
-- rows (FOR UPDATE SKIP LOCKED), so each dead worker is processed once. A crash uses up the
-- attempt (not refunded), so a job that kills every worker ends permanently failed. Below the
-- admin level now is the server's clock (GWA06): a runner cannot declare live workers lost.
-- Since 0.1.7 the lost attempt's error is recorded, and a job with no attempts left recorded as
-- failed, when its task keeps history (docs/history.md).
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create or replace function graphile_worker.recover_stale_workers(
  recovery_delay interval default interval '0',
  now timestamptz default now()
)
returns table (
  worker_id text,
  last_heartbeat_at timestamptz,
  jobs_recovered integer
)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_now timestamptz := recover_stale_workers.now;
  v_worker record;
  v_count integer;
  v_message text;
  v_history boolean := graphile_worker._private_history_on();
  v_ids bigint[];
  v_spent graphile_worker._private_jobs[];
begin
  if recovery_delay is null or recovery_delay < interval '0' or v_now is null then
    raise exception 'recovery_delay must be a non-negative interval and now must not be null'
      using errcode = 'GWA02',
      detail = format('recovery_delay was %s.', coalesce(recovery_delay::text, 'null')),
      hint = 'Leave recovery_delay out to make recovered jobs runnable at once.';
  end if;
  if v_now <> pg_catalog.now() then
    perform graphile_worker._private_check_clock(v_now, 'recover_stale_workers');
  end if;

  for v_worker in
    select w.worker_id, w.last_heartbeat_at
    from graphile_worker._private_workers as w
    where w.last_heartbeat_at < v_now - w.stale_after
    order by w.worker_id
    for update skip locked
  loop
    v_message := format(
      'worker %s was lost (last heartbeat at %s); the job was released by the stale-worker sweep at %s',
      v_worker.worker_id,
      to_char(v_worker.last_heartbeat_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
      to_char(v_now at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'));
    -- its jobs being cancelled (cancel_jobs) end as cancelled, not released
    if exists (select 1 from graphile_worker._private_cancel_requests) then
      perform graphile_worker._private_finish_cancelled(v_worker.worker_id, array(
        select jobs.id from graphile_worker._private_jobs as jobs
        where jobs.locked_by = v_worker.worker_id and jobs.locked_at is not null));
    end if;
    if v_history then
      -- the lost attempt's error, while the jobs are still locked by the lost worker
      select array_agg(jobs.id) into v_ids
      from graphile_worker._private_jobs as jobs
      where jobs.locked_by = v_worker.worker_id and jobs.locked_at is not null;
      if v_ids is not null then
        perform graphile_worker._private_record_attempt_errors(v_worker.worker_id, v_ids,
          array_fill(v_message, array[cardinality(v_ids)]), v_now);
      end if;
    end if;

    with released as (
      update graphile_worker._private_jobs as jobs
      set
        locked_at = null,
        locked_by = null,
        run_at = greatest(jobs.run_at, v_now) + recovery_delay,
        last_error = v_message
      where jobs.locked_by = v_worker.worker_id
        and jobs.locked_at is not null  -- lets the planner use jobs_gw_locked_index
      returning jobs
    )
    select count(*)::integer,
      array_agg(r.jobs) filter (where (r.jobs).attempts >= (r.jobs).max_attempts)
    into v_count, v_spent
    from released as r;
    if v_history and v_spent is not null then
      -- a job whose last attempt was lost with the worker has failed for good
      perform graphile_worker._private_record_finished(v_spent, 'failed', v_worker.worker_id,
        null, v_now);
    end if;

    update graphile_worker._private_job_queues as q
    set locked_at = null, locked_by = null
    where q.locked_by = v_worker.worker_id;

    delete from graphile_worker._private_workers as w
    where w.worker_id = v_worker.worker_id;

    worker_id := v_worker.worker_id;
    last_heartbeat_at := v_worker.last_heartbeat_at;
    jobs_recovered := v_count;
    return next;
  end loop;

  -- Cancels left over (0.1.8): a job being cancelled that no runner holds any more, and the
  -- request of a job that completed just before its cancel committed, end here.
  if exists (select 1 from graphile_worker._private_cancel_requests) then
    perform graphile_worker._private_finish_cancelled(null, null);
  end if;
end;
$$;

comment on function graphile_worker.recover_stale_workers(interval, timestamptz) is
  'Recovery: for every registered worker whose last heartbeat is older than its stale_after, release its jobs (last_error names the lost worker, run_at delayed by recovery_delay, the attempt is not refunded) and queue locks, and delete the worker. Safe to run from many runners at once. Below the admin level a now other than the server''s clock is GWA06.';

-- from sql/src/90_privileges/20_role_levels.sql (the level lists, grant_role and revoke_role)
-- The privilege levels (docs/security.md). producer < runner < admin is a chain: a level
-- includes the ones before it. monitor (0.1.8) stands beside it: admin includes it, and it
-- includes no other level.
--   producer  enqueue, replace or remove a job by its key, read a job's status and wait for it
--   runner    claim, report, return, sweep, heartbeats, cron scheduling, prune finished jobs
--   monitor   read only: list, count and show jobs (payloads included), job status,
--             statistics, workers, flow controls, retention settings, cron items, storage
--             sizes, the version, the jobs and finished_jobs views
--   admin     admin functions, cleanup, retention, flow control (pause, limits, cancel),
--             operations (retry, delete, run at, run a cron item); and monitor
-- The function lists live here only; grant_role() and the tests read them.
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
        when 'producer' then array['add_job', 'add_jobs', 'remove_job', 'version',
          'job_status', 'job_status_by_key', 'watch_job', 'unwatch_job']
        when 'runner' then array[
          'get_jobs', 'report_jobs', 'return_jobs', 'return_unheld_jobs', 'reset_locked',
          'next_job_due_at', 'wait_for_jobs',
          'register_worker', 'heartbeat', 'deregister_worker', 'recover_stale_workers',
          'parse_crontab', 'register_crontab', 'schedule_crontab',
          'cron_matches', 'cron_next_after', 'cron_times_between', 'prune_finished_jobs']
        when 'monitor' then array[
          'list_jobs', 'count_jobs', 'job_detail', 'job_status', 'job_status_by_key',
          'queue_stats', 'worker_stats', 'flow_controls', 'retention_settings', 'cron_items',
          'storage_stats', 'finished_per_minute', 'version']
        when 'admin' then array[
          'complete_jobs', 'permanently_fail_jobs', 'reschedule_jobs', 'force_unlock_workers',
          'delete_permanently_failed_jobs', 'gc_task_identifiers', 'gc_job_queues',
          'set_retention', 'clear_retention',
          'pause_tasks', 'resume_tasks', 'pause_queues', 'resume_queues',
          'set_task_limits', 'cancel_jobs', 'cancel_jobs_by_key',
          'retry_jobs', 'delete_jobs', 'run_jobs_at', 'run_cron_item']
      end
    )
  order by 1::text;
$$;

create or replace function graphile_worker.grant_role(role_name text, level text)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_levels text[];
  v_fn regprocedure;
begin
  if level is null or level not in ('producer', 'runner', 'monitor', 'admin') then
    raise exception 'unknown privilege level %', coalesce(quote_literal(level), 'null')
      using errcode = 'GWA02',
      detail = 'The levels are producer, runner, monitor and admin: producer < runner < admin '
        'each include the ones before them; monitor is read-only, and admin includes it.',
      hint = 'Call e.g. graphile_worker.grant_role(''app'', ''producer'').';
  end if;
  if role_name is null or not exists (select 1 from pg_catalog.pg_roles where rolname = role_name) then
    raise exception 'role % does not exist', coalesce(quote_ident(role_name), 'null')
      using errcode = 'undefined_object',
      detail = 'grant_role() grants rights to an existing role; the extension creates no roles.',
      hint = 'Create the role first, e.g. CREATE ROLE app LOGIN.';
  end if;

  v_levels := case level
    when 'producer' then array['producer']
    when 'runner' then array['producer', 'runner']
    when 'monitor' then array['monitor']
    else array['producer', 'runner', 'monitor', 'admin']
  end;

  execute format('grant usage on schema graphile_worker to %I', role_name);
  for v_fn in
    select f from pg_catalog.unnest(v_levels) as l, graphile_worker._private_level_functions(l) as f
  loop
    execute format('grant execute on function %s to %I', v_fn, role_name);
  end loop;
  if level in ('monitor', 'admin') then
    execute format('grant select on graphile_worker.jobs to %I', role_name);
    execute format('grant select on graphile_worker.finished_jobs to %I', role_name);
  end if;
end;
$$;

comment on function graphile_worker.grant_role(text, text) is
  'Owner only: grant an existing role one of the levels producer (enqueue, remove by key, job status and waiting), runner (claim, report, heartbeats, cron, pruning), admin (admin functions, cleanup, retention, flow control: pause, limits, cancel; operations: retry, delete, run at, run a cron item) or monitor (read only: list, count and show jobs with payloads, statistics, workers, flow controls, retention settings, cron items, storage sizes; the jobs and finished_jobs views). producer < runner < admin each include the ones before them; admin includes monitor; monitor includes no other level.';

create or replace function graphile_worker.revoke_role(role_name text)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_fn regprocedure;
begin
  if role_name is null or not exists (select 1 from pg_catalog.pg_roles where rolname = role_name) then
    raise exception 'role % does not exist', coalesce(quote_ident(role_name), 'null')
      using errcode = 'undefined_object', hint = 'Pass the name of an existing role.';
  end if;
  for v_fn in
    select f from pg_catalog.unnest(array['producer', 'runner', 'monitor', 'admin']) as l,
      graphile_worker._private_level_functions(l) as f
  loop
    execute format('revoke execute on function %s from %I', v_fn, role_name);
  end loop;
  execute format('revoke select on graphile_worker.jobs from %I', role_name);
  execute format('revoke select on graphile_worker.finished_jobs from %I', role_name);
  execute format('revoke usage on schema graphile_worker from %I', role_name);
end;
$$;

comment on function graphile_worker.revoke_role(text) is
  'Owner only: take back every right grant_role() gave this role.';

-- Roles granted the admin level before this upgrade (found by queue_stats, which only that
-- level holds) get the new flow-control and operations functions (admin includes monitor).
do $$
declare
  v_role text;
  v_fn text;
begin
  for v_role in
    select a.grantee::regrole::text
    from pg_catalog.pg_proc as p, pg_catalog.aclexplode(p.proacl) as a
    where p.oid = 'graphile_worker.queue_stats(timestamptz)'::regprocedure
      and a.privilege_type = 'EXECUTE' and a.grantee <> 0 and a.grantee <> p.proowner
  loop
    foreach v_fn in array array[
      'pause_tasks(text[])', 'resume_tasks(text[])', 'pause_queues(text[])',
      'resume_queues(text[])', 'set_task_limits(text, integer, integer, interval)',
      'flow_controls()', 'cancel_jobs(bigint[])', 'cancel_jobs_by_key(text[])',
      'list_jobs(text[], text[], text[], text, bigint, bigint, bigint, integer, timestamptz)',
      'count_jobs(text[], text[], text[], text, bigint, bigint, timestamptz)',
      'job_detail(bigint)', 'cron_items(timestamptz)', 'storage_stats()',
      'retry_jobs(bigint[])', 'delete_jobs(bigint[])', 'run_jobs_at(bigint[], timestamptz)',
      'run_cron_item(text)', 'finished_per_minute(timestamptz, timestamptz)']
    loop
      execute format('grant execute on function graphile_worker.%s to %s', v_fn, v_role);
    end loop;
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
  select '@EXTVERSION@'::text;
$$;

comment on function graphile_worker.version() is
  'The version of the graphile_worker SQL installed in this database (extension or standalone script).';
