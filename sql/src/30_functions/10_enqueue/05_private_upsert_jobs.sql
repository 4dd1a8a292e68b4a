-- The one statement that writes keyed jobs, for add_jobs and for add_job with a key: an upsert
-- of the specs in job key order. Every caller takes the speculative insert or the ON CONFLICT
-- row lock of each key in the same order, so concurrent calls wait for each other key by key and
-- never deadlock. ON CONFLICT DO UPDATE locks every conflicting row, also one it does not update:
-- with replace, a key's job that is available is replaced (array payloads merged, run_at kept
-- with preserve_run_at while the job has not run), and the row of a running or permanently
-- failed job is only locked; without replace (add_job's unsafe_dedupe) no job is changed. Rows
-- come back for the jobs inserted or replaced, so a caller learns which keys it holds but did not
-- write. Ids are drawn in spec order first (FIFO within a named queue); the id of a spec that
-- replaces a job stays unused, as with the identity default. Specs without keys are inserted
-- too. The tasks and queues must exist (a spec whose task or queue is missing writes nothing).
-- A plpgsql function, not SQL: its plan is cached for the session. Always the generic plan: a
-- custom plan for each call (PostgreSQL's choice for the first five calls, and later whenever
-- the custom plans look cheaper) costs add_job with a key about half its speed.
create function graphile_worker._private_upsert_jobs(
  specs graphile_worker.job_spec[],
  preserve_run_at boolean,
  replace boolean
)
returns setof graphile_worker._private_jobs
language plpgsql
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
begin
  return query
  insert into graphile_worker._private_jobs as jobs
    (id, job_queue_id, task_id, payload, run_at, max_attempts, key, priority, flags)
  overriding system value
  select s.id, r.*
  from (
    -- not pulled up (ORDER BY, volatile target list): nextval runs after the sort
    select pg_catalog.nextval('graphile_worker.jobs_id_seq1'::regclass) as id, u.*
    from pg_catalog.unnest(specs) with ordinality
      as u(identifier, payload, queue_name, run_at, max_attempts, job_key, priority, flags, ord)
    order by u.ord
  ) as s
  cross join lateral graphile_worker._private_inline_job_row(
    s.identifier, s.payload, s.queue_name, s.run_at, s.max_attempts, s.job_key, s.priority,
    s.flags) as r
  order by s.job_key
  on conflict (key) do update set
    job_queue_id = excluded.job_queue_id,
    task_id = excluded.task_id,
    payload = case
      when json_typeof(jobs.payload) = 'array' and json_typeof(excluded.payload) = 'array'
        then graphile_worker._private_merge_array_payloads(jobs.payload, excluded.payload)
      else excluded.payload
    end,
    max_attempts = excluded.max_attempts,
    run_at = case
      when _private_upsert_jobs.preserve_run_at is true and jobs.attempts = 0 then jobs.run_at
      else excluded.run_at
    end,
    priority = excluded.priority,
    revision = jobs.revision + 1,
    flags = excluded.flags,
    attempts = 0,
    last_error = null,
    updated_at = now()
  where jobs.is_available and _private_upsert_jobs.replace
  returning jobs.*;
end;
$$;

comment on function graphile_worker._private_upsert_jobs(graphile_worker.job_spec[], boolean, boolean) is
  'Private: insert the specs'' jobs, in job key order; with replace, a key''s available job is replaced, otherwise left as it is. Returns the rows written.';
