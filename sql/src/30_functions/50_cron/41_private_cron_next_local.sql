-- The first wall-clock minute strictly after `after` that matches an item's fields, ignoring
-- time zones (DST is handled by the callers). Jumps month by month, day by day, then to the next
-- allowed hour and minute, so it never walks minute by minute. Null when nothing matches within
-- ten years (e.g. `0 0 30 2 *`); every satisfiable schedule matches within eight.
create function graphile_worker._private_cron_next_local(
  item graphile_worker.cron_item,
  after timestamp
) returns timestamp
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_start timestamp := date_trunc('minute', after) + interval '1 minute';
  v_year int := extract(year from v_start)::int;
  v_month int := extract(month from v_start)::int;
  v_day int := extract(day from v_start)::int;
  v_hour int := extract(hour from v_start)::int;
  v_minute int := extract(minute from v_start)::int;
  v_last_year int := v_year + 10;
  v_month_days int;
  v_first_dow int;
  v_dow int;
  v_next int;
  v_either boolean := item.dom_restricted and item.dow_restricted;
begin
  loop
    if v_year > v_last_year then
      return null;
    end if;
    if not v_month = any(item.months) then
      v_next := (select min(m) from unnest(item.months) as m where m > v_month);
      if v_next is null then
        v_year := v_year + 1;
        v_month := item.months[1];
      else
        v_month := v_next;
      end if;
      v_day := 1;
      v_hour := item.hours[1];
      v_minute := item.minutes[1];
      continue;
    end if;
    v_month_days := extract(day from
      make_date(v_year, v_month, 1) + interval '1 month' - interval '1 day')::int;
    v_first_dow := extract(dow from make_date(v_year, v_month, 1))::int;
    while v_day <= v_month_days loop
      v_dow := (v_first_dow + v_day - 1) % 7;
      exit when case when v_either
        then v_day = any(item.days) or v_dow = any(item.weekdays)
        else v_day = any(item.days) and v_dow = any(item.weekdays) end;
      v_day := v_day + 1;
      v_hour := item.hours[1];
      v_minute := item.minutes[1];
    end loop;
    if v_day > v_month_days then
      v_month := v_month + 1;
      if v_month > 12 then
        v_month := 1;
        v_year := v_year + 1;
      end if;
      v_day := 1;
      v_hour := item.hours[1];
      v_minute := item.minutes[1];
      continue;
    end if;
    if not v_hour = any(item.hours) then
      v_next := (select min(h) from unnest(item.hours) as h where h > v_hour);
      if v_next is null then
        v_day := v_day + 1;
        v_hour := item.hours[1];
        v_minute := item.minutes[1];
        continue;
      end if;
      v_hour := v_next;
      v_minute := item.minutes[1];
    end if;
    if not v_minute = any(item.minutes) then
      v_next := (select min(m) from unnest(item.minutes) as m where m > v_minute);
      if v_next is null then
        v_next := (select min(h) from unnest(item.hours) as h where h > v_hour);
        if v_next is null then
          v_day := v_day + 1;
          v_hour := item.hours[1];
          v_minute := item.minutes[1];
          continue;
        end if;
        v_hour := v_next;
        v_minute := item.minutes[1];
      else
        v_minute := v_next;
      end if;
    end if;
    return make_timestamp(v_year, v_month, v_day, v_hour, v_minute, 0);
  end loop;
end;
$$;
