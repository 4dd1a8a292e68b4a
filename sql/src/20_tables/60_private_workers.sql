-- Runners that send heartbeats (gw_runner). Not part of the graphile-worker schema: Node workers
-- never register, and their locks are left to the 4-hour rule (reset_locked). A registered
-- worker belongs to the login role that registered it (registered_by, added in 0.1.3, hence
-- last): only that role, or an admin-level one, claims, reports, returns, beats and
-- deregisters for it.
create table graphile_worker._private_workers (
  worker_id text not null,
  registered_at timestamptz not null,
  last_heartbeat_at timestamptz not null,
  stale_after interval not null,
  info jsonb,
  registered_by oid,
  constraint workers_pkey primary key (worker_id),
  constraint workers_worker_id_check check (length(worker_id) between 1 and 128),
  constraint workers_stale_after_check check (stale_after > interval '0')
);

alter table graphile_worker._private_workers enable row level security;

comment on table graphile_worker._private_workers is
  'Registered runners and their last heartbeat; recover_stale_workers() releases the jobs of those that stopped beating.';

comment on column graphile_worker._private_workers.registered_by is
  'The oid of the login role (session_user) that registered the worker; null for registrations made before 0.1.3, which are bound to no role until the worker registers again.';
