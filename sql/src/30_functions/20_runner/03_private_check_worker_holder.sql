-- A runner acts only for the workers it registered: raise GWA05 when worker_id is registered
-- to another role than the session's (see _private_session_role) and the caller is not at the
-- admin level. An id that is not registered (Node workers, gw_runner --no-recovery) or whose
-- registration predates 0.1.3 (registered_by is null) is bound to no role: any runner-level
-- role that knows it may use it (docs/security.md).
create function graphile_worker._private_check_worker_holder(worker_id text, function_name text)
returns void
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_bound oid;
begin
  select w.registered_by into v_bound
  from graphile_worker._private_workers as w
  where w.worker_id = _private_check_worker_holder.worker_id;
  -- the bound role's current name against the session's: the same test as comparing oids
  -- with _private_session_role(), without a role lookup by name on every claim
  if v_bound is null or pg_catalog.pg_get_userbyid(v_bound) = session_user
     or graphile_worker._private_caller_is_admin() then
    return;
  end if;
  raise exception '%: worker % is registered to another role', function_name, worker_id
    using errcode = 'GWA05',
    detail = format('Worker %L was registered by another role than this session''s login role '
      '%I (session_user; SET ROLE does not change it). A runner acts only for the workers its '
      'role registered.', worker_id, session_user),
    hint = 'Use the worker id this runner registered. Only admin-level roles '
      '(graphile_worker.grant_role(role, ''admin'')) act for any worker.';
end;
$$;
