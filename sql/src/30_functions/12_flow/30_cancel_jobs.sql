-- Cancel jobs (docs/flow-control.md). A waiting, scheduled or retrying job is deleted and
-- recorded as cancelled. A running job (locked, the lock younger than _private_lock_expiry())
-- gets a cancel request and its attempts raised to max_attempts, so it never runs again whatever
-- its runner does; runners hear it on graphile_worker:control (gw_runner cancels an async
-- handler and sets the job context's cancelled flag), and the runner's report or return of the
-- job deletes it and records it as cancelled. A job that failed for good, an unknown id and a
-- job already being cancelled are left alone and come back with cancelled false.

-- Delete the jobs with a cancel request that are in job_ids and locked by worker_id (a
-- runner reports or returns them), or, with a null worker_id, that are no longer locked (their
-- runner was swept) or gone; record them as cancelled and drop their requests. Returns the ids
-- of the jobs deleted.
create function graphile_worker._private_finish_cancelled(worker_id text, job_ids bigint[])
returns bigint[]
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_rows graphile_worker._private_jobs[];
  v_queue_ids integer[];
  v_ids bigint[];
begin
  with gone as (
    delete from graphile_worker._private_jobs as jobs
    using graphile_worker._private_cancel_requests as r
    where r.job_id = jobs.id
      and case when _private_finish_cancelled.worker_id is null then jobs.locked_at is null
        else jobs.id = any(_private_finish_cancelled.job_ids)
          and jobs.locked_by = _private_finish_cancelled.worker_id end
    returning jobs
  )
  select array_agg(g.jobs), array_agg((g.jobs).id),
    array_agg((g.jobs).job_queue_id) filter (where (g.jobs).job_queue_id is not null)
  into v_rows, v_ids, v_queue_ids
  from gone as g;
  delete from graphile_worker._private_cancel_requests as r
  where r.job_id = any(v_ids)
    or (_private_finish_cancelled.worker_id is null and not exists (
      select 1 from graphile_worker._private_jobs as j where j.id = r.job_id));
  if v_rows is null then
    return '{}';
  end if;
  if graphile_worker._private_history_on() then
    perform graphile_worker._private_record_finished(v_rows, 'cancelled',
      _private_finish_cancelled.worker_id, null, pg_catalog.now());
  end if;
  if _private_finish_cancelled.worker_id is not null then
    perform graphile_worker._private_unlock_job_queues(_private_finish_cancelled.worker_id,
      v_queue_ids);
  end if;
  return v_ids;
end;
$$;

comment on function graphile_worker._private_finish_cancelled(text, bigint[]) is
  'Flow control: delete and record as cancelled the jobs with a cancel request among job_ids locked by worker_id (null: those no longer locked), dropping their requests. Returns their ids.';

-- security definer: admins get EXECUTE on this function and no rights on the private tables,
-- so it acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.cancel_jobs(job_ids bigint[])
returns table (job_id bigint, cancelled boolean, state text)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_now timestamptz := pg_catalog.now();
  v_ids bigint[];
  v_states text[];
  v_removed graphile_worker._private_jobs[];
  v_running bigint[];
  v_new bigint[];
begin
  if cancel_jobs.job_ids is null or cardinality(cancel_jobs.job_ids) = 0
     or array_position(cancel_jobs.job_ids, null) is not null then
    raise exception 'cancel_jobs: pass at least one job id, and no null'
      using errcode = 'GWF01',
      detail = format('job_ids was %s.', coalesce(left(cancel_jobs.job_ids::text, 200), 'null')),
      hint = 'Call e.g. graphile_worker.cancel_jobs(array[42]); cancel_jobs_by_key takes keys.';
  end if;
  -- more than 10000 ids: GWF01, as retry_jobs, delete_jobs and run_jobs_at
  perform graphile_worker._private_check_job_ids(cancel_jobs.job_ids, 'cancel_jobs');

  -- The jobs, locked in id order (a claim or report holding one is waited for), and what each
  -- one is now.
  select s.ids, s.states into v_ids, v_states
  from graphile_worker._private_lock_job_states(cancel_jobs.job_ids, v_now,
    live_lock_first => false) as s;

  with gone as (
    delete from graphile_worker._private_jobs as jobs
    where jobs.id = any(array(
      select s.id from rows from (pg_catalog.unnest(v_ids), pg_catalog.unnest(v_states)) as s(id, st)
      where s.st in ('waiting', 'scheduled', 'retrying')))
    returning jobs
  )
  select array_agg(g.jobs) into v_removed from gone as g;
  if v_removed is not null and graphile_worker._private_history_on() then
    perform graphile_worker._private_record_finished(v_removed, 'cancelled', null, null, v_now);
  end if;

  v_running := array(select s.id from rows from (pg_catalog.unnest(v_ids), pg_catalog.unnest(v_states)) as s(id, st)
                     where s.st = 'running');
  if cardinality(v_running) > 0 then
    update graphile_worker._private_jobs as jobs
    set attempts = greatest(jobs.attempts, jobs.max_attempts), updated_at = v_now
    where jobs.id = any(v_running);
    insert into graphile_worker._private_cancel_requests (job_id, requested_at)
    select r.id, v_now from pg_catalog.unnest(v_running) as r(id)
    on conflict do nothing;
    -- in chunks, each well under the 8000-byte limit of a notification
    for v_new in
      select array_agg(c.id order by c.id)
      from (select r.id, (row_number() over (order by r.id) - 1) / 400 as chunk
            from pg_catalog.unnest(v_running) as r(id)) as c
      group by c.chunk
    loop
      perform graphile_worker._private_notify_control(
        jsonb_build_object('op', 'cancel', 'ids', to_jsonb(v_new)));
    end loop;
  end if;

  return query
  select i.id, coalesce(s.st in ('waiting', 'scheduled', 'retrying', 'running'), false),
    coalesce(s.st, 'unknown')
  from pg_catalog.unnest(cancel_jobs.job_ids) with ordinality as i(id, ord)
  left join rows from (pg_catalog.unnest(v_ids), pg_catalog.unnest(v_states)) as s(id, st) on s.id = i.id
  order by i.ord;
end;
$$;

comment on function graphile_worker.cancel_jobs(bigint[]) is
  'Admin: cancel jobs. Waiting, scheduled and retrying ones are deleted and recorded as cancelled; running ones are never retried, their runner hears it (graphile_worker:control) and the job ends as cancelled when reported. One row per id given: cancelled, and the state it was in (waiting, scheduled, retrying, running; cancelling, failed and unknown are left alone). An empty array, a null id or more than 10000 ids: GWF01.';

-- security definer: as cancel_jobs.
create function graphile_worker.cancel_jobs_by_key(job_keys text[])
returns table (job_key text, job_id bigint, cancelled boolean, state text)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_keys text[];
  v_ids bigint[];
begin
  if cancel_jobs_by_key.job_keys is null or cardinality(cancel_jobs_by_key.job_keys) = 0
     or array_position(cancel_jobs_by_key.job_keys, null) is not null then
    raise exception 'cancel_jobs_by_key: pass at least one job key, and no null'
      using errcode = 'GWF01',
      detail = format('job_keys was %s.',
        coalesce(left(cancel_jobs_by_key.job_keys::text, 200), 'null')),
      hint = 'Call e.g. graphile_worker.cancel_jobs_by_key(array[''report:42'']).';
  end if;
  if cardinality(cancel_jobs_by_key.job_keys) > 10000 then
    raise exception 'cancel_jobs_by_key: at most 10000 job keys per call, not %',
      cardinality(cancel_jobs_by_key.job_keys)
      using errcode = 'GWF01',
      detail = 'One call locks every job it is given until its transaction ends.',
      hint = 'Split the keys into chunks of at most 10000.';
  end if;
  select array_agg(j.key), array_agg(j.id) into v_keys, v_ids
  from graphile_worker._private_jobs as j
  where j.key = any(cancel_jobs_by_key.job_keys);
  if v_ids is null then
    return query
    select k.key, null::bigint, false, 'unknown'::text
    from pg_catalog.unnest(cancel_jobs_by_key.job_keys) with ordinality as k(key, ord)
    order by k.ord;
    return;
  end if;
  return query
  select k.key, m.id, coalesce(c.cancelled, false), coalesce(c.state, 'unknown')
  from pg_catalog.unnest(cancel_jobs_by_key.job_keys) with ordinality as k(key, ord)
  left join rows from (pg_catalog.unnest(v_keys), pg_catalog.unnest(v_ids)) as m(key, id) on m.key = k.key
  left join graphile_worker.cancel_jobs(v_ids) as c on c.job_id = m.id
  order by k.ord;
end;
$$;

comment on function graphile_worker.cancel_jobs_by_key(text[]) is
  'Admin: cancel_jobs for the jobs holding these keys; one row per key (job_id null and state unknown for a key no job holds). An empty array, a null key or more than 10000 keys: GWF01.';
