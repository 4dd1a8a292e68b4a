-- The scheduler, for items parsed once by the caller (parse_crontab): register, backfill, catch
-- up and schedule the current minute.
-- Every job goes through upstream's guard, an upsert that only moves last_execution forward, so
-- any number of concurrent callers schedule each (identifier, minute) at most once, and a clock
-- that steps back schedules nothing twice.
-- security definer: callers get EXECUTE on this function and no rights on the private tables
-- or helpers, so it acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.schedule_crontab(
  items graphile_worker.cron_item[],
  since timestamptz default null,
  now timestamptz default now()
) returns table (
  identifier text,
  task_identifier text,
  scheduled_at timestamptz,
  backfilled boolean,
  job_id bigint
)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_item graphile_worker.cron_item;
  v_minute timestamptz := date_trunc('minute', now, 'UTC');
  v_regular_after timestamptz;
  v_after timestamptz;
  v_known_since timestamptz;
  v_last_execution timestamptz;
  v_time timestamptz;
  v_won boolean;
  v_payload jsonb;
begin
  if items is null or now is null then
    raise exception 'cron: items and now must not be null'
      using errcode = 'GWC09',
        detail = 'schedule_crontab needs the parsed items (parse_crontab) and a time.',
        hint = 'Pass ''{}'' for no items; leave now out to use the transaction time.';
  end if;
  -- below the admin level, the server's clock: a future now would move each item's
  -- last_execution forward and no runner would schedule it again until then
  if now <> pg_catalog.now() then
    perform graphile_worker._private_check_clock(now, 'schedule_crontab');
  end if;
  -- Minutes after v_regular_after are due now (the current one, or all since the caller's
  -- previous call); earlier ones are only scheduled as backfill, within each item's fill.
  v_regular_after := least(
    coalesce(date_trunc('minute', since, 'UTC'), v_minute - interval '1 minute'), v_minute);

  insert into graphile_worker._private_known_crontabs as k (identifier, known_since, last_execution)
  select distinct i.identifier, now, null::timestamptz
  from unnest(items) as i
  order by 1
  on conflict (identifier) do nothing;
  -- 0.1.8: the items as registered (written only when one changed), for cron_items() and
  -- run_cron_item()
  perform graphile_worker._private_store_cron_specs(items, now);

  foreach v_item in array items loop
    select k.known_since, k.last_execution
      into v_known_since, v_last_execution
    from graphile_worker._private_known_crontabs as k
    where k.identifier = v_item.identifier;
    v_after := v_regular_after;
    if v_item.fill > interval '0' then
      v_after := least(v_after, now - v_item.fill - interval '1 microsecond');
    end if;
    v_after := greatest(v_after, v_last_execution,
      date_trunc('minute', coalesce(v_known_since, now), 'UTC') - interval '1 microsecond');
    -- Bounded: at most 100000 minutes per item per call (69 days of an every-minute item). Only
    -- a window that long is counted first, so the common call pays nothing.
    if v_minute - v_after > interval '100000 minutes' then
      begin
        perform count(*)
        from graphile_worker.cron_times_between(v_item, v_after, v_minute, 100000);
      exception when sqlstate 'GWC10' then
        raise exception 'cron: item ''%'' has more than 100000 due minutes to schedule from % to %',
          v_item.identifier, v_after, v_minute
          using errcode = 'GWC10',
            detail = 'schedule_crontab schedules at most 100000 minutes per item and call, so '
              'that one call is bounded; nothing was scheduled. The window runs from the item''s '
              'last execution, or from `since` or its fill, to `now`.',
            hint = 'Shorten the item''s fill option, or pass a later since.';
      end;
    end if;
    for v_time in
      select t from graphile_worker.cron_times_between(v_item, v_after, v_minute, 100000) as t
    loop
      v_won := false;
      insert into graphile_worker._private_known_crontabs as k
        (identifier, known_since, last_execution)
      values (v_item.identifier, v_time, v_time)
      on conflict (identifier) do update
        set last_execution = excluded.last_execution
        where k.last_execution is null or k.last_execution < excluded.last_execution
      returning true into v_won;
      continue when v_won is not true;
      v_payload := coalesce(v_item.payload::jsonb, '{}'::jsonb) || jsonb_build_object('_cron',
        jsonb_build_object(
          'ts', to_char(v_time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
          'backfilled', v_time <= v_regular_after));
      identifier := v_item.identifier;
      task_identifier := v_item.task_identifier;
      scheduled_at := v_time;
      backfilled := v_time <= v_regular_after;
      select j.id into job_id
      from graphile_worker.add_job(
        v_item.task_identifier,
        payload => v_payload::json,
        queue_name => v_item.queue_name,
        run_at => v_time,
        max_attempts => v_item.max_attempts,
        job_key => v_item.job_key,
        priority => v_item.priority,
        job_key_mode => coalesce(v_item.job_key_mode, 'replace')) as j;
      return next;
    end loop;
  end loop;
end;
$$;

comment on function graphile_worker.schedule_crontab(
  graphile_worker.cron_item[], timestamptz, timestamptz) is
  'Registers new items (never backfilled), then for each item enqueues every due minute: the '
  'current minute (all minutes after `since` when given), and for known items the missed '
  'minutes within fill (backfilled); run_at = the minute, payload gets _cron {ts, backfilled}. '
  'Exactly once per (identifier, minute) across concurrent callers: last_execution only moves '
  'forward. Bounded: more than 100000 due minutes for one item in one call raises GWC10.';
