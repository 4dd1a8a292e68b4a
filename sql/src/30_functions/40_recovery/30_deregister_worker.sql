-- A worker registered by another role is refused (GWA05) unless the caller is at the admin
-- level.
-- security definer: callers get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.deregister_worker(worker_id text)
returns boolean
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform graphile_worker._private_check_worker_id(deregister_worker.worker_id);
  perform graphile_worker._private_check_worker_holder(deregister_worker.worker_id,
    'deregister_worker');

  delete from graphile_worker._private_workers as w
  where w.worker_id = deregister_worker.worker_id;
  return found;
end;
$$;

comment on function graphile_worker.deregister_worker(text) is
  'Recovery: remove a runner at clean shutdown (after it returned or reported its jobs). Returns false when it was not registered; a worker registered by another role is GWA05 (unless the caller is admin-level).';
