-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.worker_stats(now timestamptz default now())
returns table (
  worker_id text,
  registered boolean,
  alive boolean,
  last_heartbeat_at timestamptz,
  stale_after interval,
  jobs_locked bigint,
  oldest_lock_age interval,
  info jsonb
)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  with locks as (
    select j.locked_by, count(*) as n, min(j.locked_at) as oldest
    from graphile_worker._private_jobs as j
    where j.locked_by is not null and j.locked_at is not null
    group by j.locked_by
  )
  select
    coalesce(w.worker_id, l.locked_by),
    w.worker_id is not null,
    case when w.worker_id is null then null
      else w.last_heartbeat_at >= worker_stats.now - w.stale_after end,
    w.last_heartbeat_at,
    w.stale_after,
    coalesce(l.n, 0),
    worker_stats.now - l.oldest,
    w.info
  from graphile_worker._private_workers as w
  full join locks as l on l.locked_by = w.worker_id
  order by 1;
$$;

comment on function graphile_worker.worker_stats(timestamptz) is
  'Admin insight: every registered worker and every id holding job locks (e.g. Node workers, which do not register): alive (heartbeat within stale_after; null when not registered), jobs locked and the age of the oldest lock.';
