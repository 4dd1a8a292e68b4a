-- One job's row as add_job and add_jobs insert it, the only place its expressions are written:
-- the task's and queue's ids and the defaults (payload {}, run_at now, 25 attempts, priority 0,
-- flags as the keys of a JSON object). No row when the task, or a named queue, does not exist
-- yet: the callers create them first (_private_add_tasks_and_queues), or add_job then goes
-- through add_jobs. The arguments were checked (_private_check_job_args).
-- Inlined: a single-SELECT SQL function without SET, SECURITY DEFINER or STRICT, not volatile;
-- the planner merges it into the caller's INSERT, for add_jobs' specs as a lateral join that it
-- pulls up into a plain join (the queue is therefore looked up in subqueries: an outer join
-- whose condition names the specs would keep the lateral subquery apart, a nested loop that
-- measured 6 to 8 % slower for 5,000 specs than the join written in place; this form, 2 %).
-- It runs (and is parsed) only inside add_job and add_jobs, under their pinned search_path; its
-- function and table names are qualified all the same (see CONTRIBUTING.md, "Inlined helpers").
create function graphile_worker._private_inline_job_row(
  identifier text,
  payload json,
  queue_name text,
  run_at timestamptz,
  max_attempts smallint,
  job_key text,
  priority smallint,
  flags text[]
)
returns table (
  job_queue_id integer,
  task_id integer,
  job_payload json,
  job_run_at timestamptz,
  job_max_attempts smallint,
  key text,
  job_priority smallint,
  job_flags jsonb
)
language sql
stable
as $$
  select
    case when $3 is not null then
      (select q.id from graphile_worker._private_job_queues as q where q.queue_name = $3) end,
    t.id,
    coalesce($2, '{}'::json),
    coalesce($4, pg_catalog.now()),
    coalesce($5, 25::smallint),
    $6,
    coalesce($7, 0::smallint),
    case when $8 is not null then
      (select pg_catalog.jsonb_object_agg(f, true) from pg_catalog.unnest($8) as f) end
  from graphile_worker._private_tasks as t
  where t.identifier = $1
    and ($3 is null
         or exists (select from graphile_worker._private_job_queues as q where q.queue_name = $3))
$$;

comment on function graphile_worker._private_inline_job_row(text, json, text, timestamptz, smallint, text, smallint, text[]) is
  'Private, inlined into add_job and add_jobs: one job''s row (task and queue ids, defaults applied) for the insert; no row when the task or named queue does not exist yet.';
