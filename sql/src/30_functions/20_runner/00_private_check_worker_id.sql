-- Runner functions take the id the runner locks jobs with; it must be a usable text.
create function graphile_worker._private_check_worker_id(worker_id text)
returns void
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  if worker_id is null or worker_id = '' then
    raise exception 'worker_id must not be null or empty'
      using errcode = 'GWA01',
      detail = 'Jobs are locked by worker id; an empty id would lock them anonymously.',
      hint = 'Pass a stable id per runner process, e.g. gw-<host>-<pid>-<random>.';
  end if;
  if length(worker_id) > 128 then
    raise exception 'worker_id is too long: % characters, at most 128', length(worker_id)
      using errcode = 'GWA02',
      detail = format('The worker id starts with %L.', left(worker_id, 40)),
      hint = 'Use a worker id of at most 128 characters.';
  end if;
end;
$$;
