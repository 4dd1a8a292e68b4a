-- Flow control (0.1.8, docs/flow-control.md): the checks and the notification its functions
-- share.

-- Raise GWF01 unless names is a non-empty array of identifiers of 1 to 128 characters.
create function graphile_worker._private_check_flow_names(
  names text[],
  what text,
  function_name text
)
returns void
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_bad text;
begin
  if names is null or cardinality(names) = 0 then
    raise exception '%: pass at least one %, not %', function_name, what,
      case when names is null then 'null' else 'an empty array' end
      using errcode = 'GWF01',
      detail = format('%s takes an array of %s names.', function_name, what),
      hint = format('Call e.g. graphile_worker.%s(array[''send_email'']).', function_name);
  end if;
  select n into v_bad from pg_catalog.unnest(names) as n
  where n is null or n = '' or length(n) > 128
  limit 1;
  if found then
    raise exception '%: a % name must be 1 to 128 characters, not %', function_name, what,
      coalesce(quote_literal(left(v_bad, 200)), 'null')
      using errcode = 'GWF01',
      detail = format('%s names are compared as add_job takes them; null and '''' name nothing.',
        initcap(what)),
      hint = 'Remove the null or empty entries from the array.';
  end if;
end;
$$;

comment on function graphile_worker._private_check_flow_names(text[], text, text) is
  'Flow control: raise GWF01 for a null or empty array, or an entry that is null, empty or over 128 characters.';

-- Tell runners (gw_runner LISTENs on graphile_worker:control) what changed, so they act at
-- once: claim after a resume or a new limit, give back the unstarted jobs of a pause, cancel a
-- running job. Sent at commit; skipped while the notification queue is over half full (runners
-- then learn at their next claim or poll).
create function graphile_worker._private_notify_control(message jsonb)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  if pg_catalog.pg_notification_queue_usage() < 0.5 then
    perform pg_catalog.pg_notify('graphile_worker:control', message::text);
  end if;
end;
$$;

comment on function graphile_worker._private_notify_control(jsonb) is
  'Flow control: notify graphile_worker:control with a message for runners ({"op": ...}).';
