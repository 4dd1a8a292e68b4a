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
