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
