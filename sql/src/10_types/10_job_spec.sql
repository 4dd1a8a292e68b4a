-- One job for add_jobs(); the field names are part of the graphile-worker contract (Node fills
-- it with json_populate_recordset).
create type graphile_worker.job_spec as (
  identifier text,
  payload json,
  queue_name text,
  run_at timestamptz,
  max_attempts smallint,
  job_key text,
  priority smallint,
  flags text[]
);

comment on type graphile_worker.job_spec is
  'One job for add_jobs(): task identifier, payload, queue, run_at, max attempts, job key, priority, flags.';
