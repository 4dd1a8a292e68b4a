-- One row per gw_runner that has waited for jobs (wait_for_jobs): waiting is true from the
-- moment the runner found nothing to claim until a producer wakes it. add_job and add_jobs
-- notify jobs:insert only when they wake a waiting runner (they set waiting to false), when no
-- runner has marked itself for 10 minutes (a fleet of Node workers, or of runners older than
-- 0.1.5, relies on every notification), or when graphile_worker.notify_inserts is 'always'. An
-- enqueue in a transaction that commits after a runner marked itself does not notify it: the
-- runner's rechecks find the job (see wait_for_jobs). So a busy fleet is not notified at all, and
-- producers do not queue behind the lock a notifying commit takes (docs/scaling.md, "Many
-- producers"). Unlogged: after a crash the table is empty, which means "notify". Derived state,
-- not dumped. Not part of the graphile-worker schema.
create unlogged table graphile_worker._private_wait_marks (
  worker_id text not null,
  waiting boolean not null,
  marked_at timestamptz not null,
  constraint wait_marks_pkey primary key (worker_id)
);

alter table graphile_worker._private_wait_marks enable row level security;

comment on table graphile_worker._private_wait_marks is
  'Runners waiting for jobs (wait_for_jobs()); add_job and add_jobs notify jobs:insert when they wake one, or when no runner marked itself for 10 minutes.';
