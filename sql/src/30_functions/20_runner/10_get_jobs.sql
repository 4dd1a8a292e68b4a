-- Claim up to batch_size runnable jobs of the given tasks for one worker, in one statement.
-- Below the admin level, now is the server's clock and worker_id must not be registered to
-- another role (GWA06, GWA05).
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.get_jobs(
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
  perform graphile_worker._private_check_worker_holder(get_jobs.worker_id, 'get_jobs');
  v_want := batch_size + least(batch_size, 100);

  select array_agg(t.id order by t.id), array_agg(t.identifier order by t.id)
  into v_task_ids, v_task_names
  from graphile_worker._private_tasks as t
  where t.identifier = any(task_identifiers);
  if v_task_ids is null then
    return;
  end if;

  -- Phase 1 (reads only): the best candidates by priority then run_at, found without walking
  -- past jobs that cannot run now. Each statement is small, so its cached plan is cheap and
  -- stays good for any arguments (the function forces generic plans: re-planning one large
  -- statement on every call cost more than running it).
  --
  -- Jobs without a queue: per task, a skip scan over its priorities (lowest first) and a run_at
  -- range per priority. Once v_want candidates are in hand, higher priorities cannot beat them.
  foreach v_task_id in array v_task_ids loop
    if cardinality(v_ids) > 0 then
      v_in_order := false;
    end if;
    select j.priority into v_priority
    from graphile_worker._private_jobs as j
    where j.task_id = v_task_id and j.is_available = true and j.job_queue_id is null
    order by j.priority
    limit 1;
    while found loop
      exit when cardinality(v_ids) >= v_want and v_priority > v_worst_priority;

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
          and (v_flags is null or (j.flags ?| v_flags) is not true)
        order by j.run_at
        limit v_want
      ) as c;
      if cardinality(v_ids) > 0 then
        v_worst_priority := greatest(v_worst_priority, v_priority);
      end if;

      select j.priority into v_priority
      from graphile_worker._private_jobs as j
      where j.task_id = v_task_id and j.is_available = true and j.job_queue_id is null
        and j.priority > v_priority
      order by j.priority
      limit 1;
    end loop;
  end loop;

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

  if cardinality(v_ids) = 0 then
    return;
  end if;
  if cardinality(v_ids) - v_before > (case when v_before > 0 then 0 else 1 end) then
    v_in_order := false;  -- queue heads (in no particular order) after or among the others
  end if;

  if v_in_order then
    v_candidates := v_ids[1:v_want];
  else
    select array_agg(c.id order by c.priority, c.run_at) into v_candidates
    from (
      select u.id, u.priority, u.run_at
      from rows from (
        pg_catalog.unnest(v_ids), pg_catalog.unnest(v_priorities), pg_catalog.unnest(v_run_ats)
      ) as u(id, priority, run_at)
      order by u.priority, u.run_at
      limit v_want
    ) as c;
  end if;

  if v_candidates is null then
    return;
  end if;

  -- Phase 2: lock what is still free (SKIP LOCKED: a job or queue another worker is claiming
  -- right now is skipped; a row claimed since phase 1 no longer passes is_available). Task and
  -- flags are checked again: a keyed job replaced since phase 1 may have changed both.
  return query
  with locked as (
    select jobs.ctid as tid, jobs.id, jobs.job_queue_id, jobs.priority, jobs.run_at
    from graphile_worker._private_jobs as jobs
    where jobs.id = any(v_candidates)
      and jobs.is_available = true
      and jobs.run_at <= v_now
      and jobs.task_id = any(v_task_ids)
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
    order by jobs.priority, jobs.run_at
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
      order by l.job_queue_id, l.priority, l.run_at
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
