-- Below the admin level the runner functions use the server's clock: raise GWA06 when now is
-- not the transaction time (now()) and the caller is not at the admin level. Otherwise a runner
-- could make every other worker look stale (a sweep with now = 'infinity'), or its own
-- heartbeats and locks look fresh for ever. Callers test `now <> now()` first and call this
-- only then.
create function graphile_worker._private_check_clock(now timestamptz, function_name text)
returns void
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
begin
  if _private_check_clock.now is distinct from pg_catalog.now()
     and not graphile_worker._private_caller_is_admin() then
    raise exception '%: only admin-level roles may pass a now other than the server''s clock',
      function_name
      using errcode = 'GWA06',
      detail = format('now was %s; the transaction time is %s. Below the admin level the '
        'runner functions use the server''s clock, so no runner can make another worker look '
        'stale or its own heartbeats and locks look fresh.',
        _private_check_clock.now, pg_catalog.now()),
      hint = 'Leave now out. Tests and scripts that move time call as an admin-level role '
        '(graphile_worker.grant_role(role, ''admin'')).';
  end if;
end;
$$;
