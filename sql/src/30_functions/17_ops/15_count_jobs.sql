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
