-- Finished jobs kept for their retention (0.1.7; docs/history.md). Admin level: it shows
-- payloads and results. Not part of the graphile-worker schema.
create view graphile_worker.finished_jobs as
select
  f.id,
  f.task_identifier,
  f.queue_name,
  f.outcome,
  f.payload,
  f.result,
  f.result_note,
  f.last_error,
  f.errors,
  f.attempts,
  f.max_attempts,
  f.key,
  f.priority,
  f.flags,
  f.created_at,
  f.first_started_at,
  f.finished_at,
  f.finished_at - f.first_started_at as run_time,
  f.worker_id,
  f.expires_at
from graphile_worker._private_finished_jobs as f;

comment on view graphile_worker.finished_jobs is
  'Finished jobs kept for their task''s retention: outcome (completed, failed, cancelled), payload, result, the errors of every recorded attempt, times and worker.';
