-- The payload of a keyed job replaced by a spec whose payload is an array, when the stored
-- payload is an array too (add_job and add_jobs call this only then; other payloads are
-- replaced): the two arrays concatenated as jsonb, as graphile-worker 0.18 does. A job written by
-- Node or by hand may hold json that jsonb cannot convert (\u0000, an unpaired surrogate, a
-- number beyond numeric): its key stays replaceable, the two arrays are then joined as text (the
-- elements are kept exactly as written). The new payload was checked at enqueue. The
-- subtransaction that catches the conversion error writes nothing (no transaction id): about
-- 2 microseconds a call.
create function graphile_worker._private_merge_array_payloads(existing json, added json)
returns json
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_existing text;
  v_added text;
begin
  return (existing::jsonb || added::jsonb)::json;
exception when data_exception or program_limit_exceeded then
  -- the elements between the outer brackets (json keeps the text as written)
  v_existing := btrim(existing::text, E' \t\n\r');
  v_existing := btrim(substr(v_existing, 2, length(v_existing) - 2), E' \t\n\r');
  v_added := btrim(added::text, E' \t\n\r');
  v_added := btrim(substr(v_added, 2, length(v_added) - 2), E' \t\n\r');
  return ('[' || v_existing
    || case when v_existing <> '' and v_added <> '' then ', ' else '' end
    || v_added || ']')::json;
end;
$$;

comment on function graphile_worker._private_merge_array_payloads(json, json) is
  'Private: the payload of a keyed job whose array payload is replaced by an array: both concatenated (as jsonb, or as text when jsonb rejects the stored one).';
