-- security definer: callers get EXECUTE on this function and no rights on the private tables
-- or helpers, so it acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.schedule_crontab(
  crontab text,
  since timestamptz default null,
  now timestamptz default now()
) returns table (
  identifier text,
  task_identifier text,
  scheduled_at timestamptz,
  backfilled boolean,
  job_id bigint
)
language sql
security definer
set search_path = pg_catalog, pg_temp
begin atomic
  select s.identifier, s.task_identifier, s.scheduled_at, s.backfilled, s.job_id
  from graphile_worker.schedule_crontab(
    array(select i from graphile_worker.parse_crontab(crontab) as i), since, now) as s;
end;

comment on function graphile_worker.schedule_crontab(text, timestamptz, timestamptz) is
  'Parses the crontab and schedules its items (see schedule_crontab(cron_item[], ...)): call '
  'it at every minute boundary (from a runner, pg_cron or any timer); exactly once per '
  '(identifier, minute) however many callers; see docs/cron.md.';
