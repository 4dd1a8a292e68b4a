-- A heartbeat never moves backwards, and below the admin level it is the server's clock
-- (GWA06): a runner cannot make its worker look alive into the future. A worker registered by
-- another role is refused (GWA05) unless the caller is at the admin level.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.heartbeat(worker_id text, now timestamptz default now())
returns boolean
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform graphile_worker._private_check_worker_id(heartbeat.worker_id);
  if heartbeat.now <> pg_catalog.now() then
    perform graphile_worker._private_check_clock(heartbeat.now, 'heartbeat');
  end if;
  perform graphile_worker._private_check_worker_holder(heartbeat.worker_id, 'heartbeat');

  update graphile_worker._private_workers as w
  set last_heartbeat_at = greatest(w.last_heartbeat_at, coalesce(heartbeat.now, now()))
  where w.worker_id = heartbeat.worker_id;
  return found;
end;
$$;

comment on function graphile_worker.heartbeat(text, timestamptz) is
  'Recovery: record that a registered runner is alive. Returns false when the worker is not registered (it was swept as stale: its jobs were released; it must re-register and must not assume it still holds them). A worker registered by another role is GWA05 (unless the caller is admin-level); below the admin level a now other than the server''s clock is GWA06 (null means the server''s clock).';
