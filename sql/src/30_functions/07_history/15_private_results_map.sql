-- The results of completed jobs as report_jobs passes them to _private_record_finished:
-- {"<id>": {"v": value}} for each non-null entry of results (aligned with job_ids), or
-- {"<id>": {"dropped": why}} for a result over _private_result_cap() bytes of JSON text or one
-- that jsonb cannot hold (\u0000, an unpaired surrogate, a number beyond numeric). Such a result
-- is dropped, not an error: the job still completes.
create function graphile_worker._private_results_map(job_ids bigint[], results json)
returns jsonb
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_map jsonb := '{}'::jsonb;
  v_id bigint;
  v_value json;
  v_size integer;
  v_converted jsonb;
begin
  for v_id, v_value in
    select k.id, r.v
    from pg_catalog.unnest(job_ids) with ordinality as k(id, ord)
    join json_array_elements(results) with ordinality as r(v, ord) on r.ord = k.ord
    where json_typeof(r.v) <> 'null'
  loop
    v_size := octet_length(v_value::text);
    if v_size > graphile_worker._private_result_cap() then
      v_map := v_map || jsonb_build_object(v_id::text, jsonb_build_object('dropped',
        format('the result was %s bytes of JSON, over the cap of %s bytes; it was not stored',
          v_size, graphile_worker._private_result_cap())));
      continue;
    end if;
    begin
      v_converted := v_value::jsonb;
      v_map := v_map || jsonb_build_object(v_id::text, jsonb_build_object('v', v_converted));
    exception when data_exception or program_limit_exceeded then
      v_map := v_map || jsonb_build_object(v_id::text, jsonb_build_object('dropped',
        format('the result cannot be stored as jsonb (%s); it was not stored', sqlerrm)));
    end;
  end loop;
  return v_map;
end;
$$;

comment on function graphile_worker._private_results_map(bigint[], json) is
  'History: map job id -> {"v": result} or {"dropped": why} for the non-null results of completed jobs (at most _private_result_cap() bytes each, storable as jsonb).';
