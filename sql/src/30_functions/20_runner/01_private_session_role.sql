-- The role a worker is bound to: the session's login role (session_user). Inside the SECURITY
-- DEFINER runner functions current_user is the functions' owner, so the caller's role is read
-- from the session; a caller cannot forge it (SET ROLE changes current_user, never
-- session_user; SET SESSION AUTHORIZATION is for superusers). As an oid, so a renamed role
-- keeps its workers; a plain oid rather than a regrole, so that a dump of a standalone install
-- restores into a cluster without that role.
create function graphile_worker._private_session_role()
returns oid
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.to_regrole(pg_catalog.quote_ident(session_user))::oid;
$$;
