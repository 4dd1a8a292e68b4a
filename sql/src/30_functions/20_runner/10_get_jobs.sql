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
