-- When does the next not-yet-due job of these tasks become runnable? Lets a runner sleep until
-- exactly then instead of polling blindly. Uses the (priority, run_at) index once per distinct
-- priority (a skip scan), not a scan of all future jobs. Rows written by Node or by hand may
-- hold a run_at no client can read (infinity, years outside 1 to 9999): infinity is never due
-- and is skipped; the result is clamped to 0001-01-02 .. 9999-12-30 UTC, which a Python
-- datetime holds in any time zone.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.next_job_due_at(
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
