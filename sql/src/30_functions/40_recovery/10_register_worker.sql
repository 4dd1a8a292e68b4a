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
begin
  perform graphile_worker._private_check_worker_id(register_worker.worker_id);
  if stale_after is null or stale_after <= interval '0' or register_worker.now is null then
    raise exception 'stale_after must be a positive interval and now must not be null'
      using errcode = 'GWA02',
      detail = format('stale_after was %s.', coalesce(stale_after::text, 'null')),
      hint = 'Pass a threshold several times the heartbeat interval, e.g. 5 minutes.';
  end if;

  insert into graphile_worker._private_workers as w
    (worker_id, registered_at, last_heartbeat_at, stale_after, info)
  values (register_worker.worker_id, register_worker.now, register_worker.now,
          register_worker.stale_after, register_worker.info)
  on conflict on constraint workers_pkey do update set
    last_heartbeat_at = excluded.last_heartbeat_at,
    stale_after = excluded.stale_after,
    info = excluded.info;
end;
$$;

comment on function graphile_worker.register_worker(text, interval, jsonb, timestamptz) is
  'Recovery: register (or re-register) a runner that will send heartbeats; if it stops beating for stale_after, recover_stale_workers() releases its jobs.';
