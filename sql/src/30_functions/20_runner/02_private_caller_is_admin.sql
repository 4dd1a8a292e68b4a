-- Is the caller at the admin level? Admin-level roles may act for any worker and pass their own
-- now to the runner functions. A role is admin when it may execute force_unlock_workers and
-- reschedule_jobs (grant_role(role, 'admin') grants both): it can already unlock any worker's
-- jobs and move any job's run_at and attempts, so acting for a worker or moving the clock gives
-- it nothing new. Checked for the session's login role (session_user) and for the role it
-- switched to with SET ROLE, if any: both are roles the session holds. The owner of the
-- extension and superusers are admin.
create function graphile_worker._private_caller_is_admin()
returns boolean
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(bool_or(
    pg_catalog.has_function_privilege(r.oid,
      'graphile_worker.force_unlock_workers(text[])'::pg_catalog.regprocedure, 'execute')
    and pg_catalog.has_function_privilege(r.oid,
      'graphile_worker.reschedule_jobs(bigint[], timestamptz, integer, integer, integer)'::pg_catalog.regprocedure,
      'execute')), false)
  from pg_catalog.pg_roles as r
  where r.rolname = session_user
     or r.rolname = pg_catalog.current_setting('role');
$$;
