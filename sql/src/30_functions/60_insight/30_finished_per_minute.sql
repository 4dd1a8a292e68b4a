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
