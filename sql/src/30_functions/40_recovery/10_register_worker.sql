-- A registered worker belongs to the login role that registered it (registered_by, see
-- _private_session_role): re-registering a worker registered by another role is refused
-- (GWA05) unless the caller is at the admin level; a re-registration keeps the first role.
-- Below the admin level now is the server's clock (GWA06).
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.register_worker(
  worker_id text,
  stale_after interval default interval '5 minutes',
  info jsonb default null,
  now timestamptz default now()
)
returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_role oid := graphile_worker._private_session_role();
begin
  perform graphile_worker._private_check_worker_id(register_worker.worker_id);
  if stale_after is null or stale_after <= interval '0' or register_worker.now is null then
    raise exception 'stale_after must be a positive interval and now must not be null'
      using errcode = 'GWA02',
      detail = format('stale_after was %s.', coalesce(stale_after::text, 'null')),
      hint = 'Pass a threshold several times the heartbeat interval, e.g. 5 minutes.';
  end if;
  if register_worker.now <> pg_catalog.now() then
    perform graphile_worker._private_check_clock(register_worker.now, 'register_worker');
  end if;

  -- The condition on the update makes the check and the write one step: a concurrent
  -- registration of the same id by another role cannot slip in between.
  insert into graphile_worker._private_workers as w
    (worker_id, registered_at, last_heartbeat_at, stale_after, info, registered_by)
  values (register_worker.worker_id, register_worker.now, register_worker.now,
          register_worker.stale_after, register_worker.info, v_role)
  on conflict on constraint workers_pkey do update set
    last_heartbeat_at = excluded.last_heartbeat_at,
    stale_after = excluded.stale_after,
    info = excluded.info,
    registered_by = coalesce(w.registered_by, excluded.registered_by)
  where w.registered_by is null or w.registered_by = excluded.registered_by
    or graphile_worker._private_caller_is_admin();
  if not found then
    perform graphile_worker._private_check_worker_holder(register_worker.worker_id,
      'register_worker');
    -- not reached (the conflicting row stays locked by the upsert), but never pass silently
    raise exception 'register_worker: worker % is registered to another role',
      register_worker.worker_id
      using errcode = 'GWA05',
      detail = 'The worker id is registered by another login role than this session''s.',
      hint = 'Register a worker id of this runner''s own, e.g. gw-<host>-<pid>-<random>.';
  end if;
end;
$$;

comment on function graphile_worker.register_worker(text, interval, jsonb, timestamptz) is
  'Recovery: register (or re-register) a runner that will send heartbeats; if it stops beating for stale_after, recover_stale_workers() releases its jobs. The worker belongs to the login role (session_user) that registered it: another role''s registration is refused (GWA05) unless the caller is admin-level; below the admin level a now other than the server''s clock is GWA06.';
