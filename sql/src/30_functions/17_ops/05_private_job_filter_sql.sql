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
