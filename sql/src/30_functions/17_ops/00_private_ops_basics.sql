-- Operations (0.1.8, docs/operations.md): the checks the functions that list, count and act on
-- jobs share. Bad arguments raise GWF01 (as flow control does) before anything is read or
-- changed.

-- The states a job can be in (job_status): those of the jobs table, then those of the
-- finished-jobs store ('failed' is in both: a job that failed for good stays in the jobs table
-- and, with a retention, is recorded too).
create function graphile_worker._private_ops_states()
returns text[]
language sql
immutable
set search_path = pg_catalog, pg_temp
return array['waiting', 'scheduled', 'running', 'retrying', 'failed', 'completed', 'cancelled'];

comment on function graphile_worker._private_ops_states() is
  'Operations: the job states list_jobs and count_jobs filter on (waiting, scheduled, running, retrying, failed, completed, cancelled).';

-- Raise GWF01 unless the filters of list_jobs / count_jobs are usable: each array null (no
-- filter) or non-empty without null or empty entries, states known, the key not empty, the id
-- range not reversed.
create function graphile_worker._private_check_job_filter(
  states text[],
  task_identifiers text[],
  queue_names text[],
  job_key text,
  min_id bigint,
  max_id bigint,
  function_name text
)
returns void
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_bad text;
begin
  if states is not null then
    if cardinality(states) = 0 or array_position(states, null) is not null then
      raise exception '%: states must be null (every state) or a non-empty array without null',
        function_name
        using errcode = 'GWF01',
        detail = format('states was %s.', left(states::text, 200)),
        hint = 'Leave states out for every state, or pass e.g. array[''failed'', ''retrying''].';
    end if;
    select s into v_bad from pg_catalog.unnest(states) as s
    where s <> all (graphile_worker._private_ops_states())
    limit 1;
    if found then
      raise exception '%: unknown state %', function_name, quote_literal(left(v_bad, 200))
        using errcode = 'GWF01',
        detail = 'The states are waiting, scheduled, running, retrying, failed, completed and '
          'cancelled (see job_status).',
        hint = 'Remove the unknown state from the array.';
    end if;
  end if;
  if task_identifiers is not null then
    perform graphile_worker._private_check_flow_names(task_identifiers, 'task', function_name);
  end if;
  if queue_names is not null then
    perform graphile_worker._private_check_flow_names(queue_names, 'queue', function_name);
  end if;
  if job_key = '' or length(job_key) > 512 then
    raise exception '%: a job key must be 1 to 512 characters, not %', function_name,
      quote_literal(left(job_key, 200))
      using errcode = 'GWF01',
      detail = 'Job keys are 1 to 512 characters long (jobs_key_check).',
      hint = 'Leave job_key out (null) to match every job.';
  end if;
  if min_id > max_id then
    raise exception '%: min_id % is above max_id %', function_name, min_id, max_id
      using errcode = 'GWF01',
      detail = 'min_id and max_id bound the ids listed, both included.',
      hint = 'Swap them, or leave one out (null) for no bound on that side.';
  end if;
end;
$$;

comment on function graphile_worker._private_check_job_filter(text[], text[], text[], text, bigint, bigint, text) is
  'Operations: raise GWF01 for an empty array or a null entry in a filter, an unknown state, an empty or over-512-character key, or min_id above max_id.';

-- Raise GWF01 unless job_ids is a non-empty array without null, of at most 10000 ids.
create function graphile_worker._private_check_job_ids(job_ids bigint[], function_name text)
returns void
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  if job_ids is null or cardinality(job_ids) = 0
     or array_position(job_ids, null) is not null then
    raise exception '%: pass at least one job id, and no null', function_name
      using errcode = 'GWF01',
      detail = format('job_ids was %s.', coalesce(left(job_ids::text, 200), 'null')),
      hint = format('Call e.g. graphile_worker.%s(array[42]).', function_name);
  end if;
  if cardinality(job_ids) > 10000 then
    raise exception '%: at most 10000 job ids per call, not %', function_name,
      cardinality(job_ids)
      using errcode = 'GWF01',
      detail = 'One call locks every job it is given until its transaction ends.',
      hint = 'Split the ids into chunks of at most 10000 (gw-admin does).';
  end if;
end;
$$;

comment on function graphile_worker._private_check_job_ids(bigint[], text) is
  'Operations: raise GWF01 for a null or empty array of job ids, a null id, or more than 10000 ids.';
