-- Apply the `?key=value&...` options of a crontab line to an item: id, fill, max, queue, jobKey,
-- jobKeyMode, priority, tz. Keys and values are URL-decoded like Node's querystring.
create function graphile_worker._private_cron_parse_options(
  context text,
  options text,
  item graphile_worker.cron_item
) returns graphile_worker.cron_item
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_item graphile_worker.cron_item := item;
  v_part text;
  v_key text;
  v_value text;
  v_seen text[] := '{}'::text[];
  v_invalid text;
  v_seconds numeric;
  v_supported constant text := 'id, fill, max, queue, jobKey, jobKeyMode, priority, tz';
begin
  foreach v_part in array string_to_array(options, '&') loop
    continue when v_part = '';
    v_key := graphile_worker._private_cron_url_decode(split_part(v_part, '=', 1), true);
    v_value := graphile_worker._private_cron_url_decode(
      substr(v_part, length(split_part(v_part, '=', 1)) + 2), v_key <> 'tz');
    if not v_key = any(
      array['id', 'fill', 'max', 'queue', 'jobKey', 'jobKeyMode', 'priority', 'tz'])
    then
      raise exception '%: unknown option ''%''', context, v_key
        using errcode = 'GWC04',
          detail = format('Supported options: %s.', v_supported),
          hint = 'Options are written ?key=value&key=value after the task identifier; '
            'names are case-sensitive.';
    end if;
    if v_key = any(v_seen) then
      raise exception '%: option ''%'' is given more than once', context, v_key
        using errcode = 'GWC04',
          detail = format('The options are ''%s''.', options),
          hint = 'Give each option once.';
    end if;
    v_seen := v_seen || v_key;
    v_invalid := null;
    case v_key
      when 'id' then
        if v_value ~ '^[_a-zA-Z][-_a-zA-Z0-9]*$' and length(v_value) <= 128 then
          v_item.identifier := v_value;
        else
          v_invalid := 'a letter or _ followed by letters, digits, _ or - (at most 128)';
        end if;
      when 'fill' then
        if v_value ~ '^([0-9]+[smhdw])+$' and length(v_value) <= 40 then
          select sum(m[1]::numeric * case m[2]
              when 's' then 1 when 'm' then 60 when 'h' then 3600 when 'd' then 86400
              else 604800 end)
            into v_seconds
          from regexp_matches(v_value, '([0-9]+)([smhdw])', 'g') as m;
          if v_seconds <= 3162240000 then
            v_item.fill := make_interval(secs => v_seconds::double precision);
          else
            v_invalid := 'a period of at most 100 years';
          end if;
        else
          v_invalid := 'a period such as 30m, 1d or 4w3d2h1m (units s, m, h, d, w)';
        end if;
      when 'max' then
        if (case when v_value ~ '^[0-9]{1,5}$' then v_value::int between 1 and 32767 end) then
          v_item.max_attempts := v_value::int;
        else
          v_invalid := 'a whole number from 1 to 32767';
        end if;
      when 'queue' then
        if v_value ~ '^[-a-zA-Z0-9_:]+$' and length(v_value) <= 128 then
          v_item.queue_name := v_value;
        else
          v_invalid := 'letters, digits, -, _ or : (at most 128)';
        end if;
      when 'jobKey' then
        if length(v_value) between 1 and 512 then
          v_item.job_key := v_value;
        else
          v_invalid := 'a non-empty key of at most 512 characters';
        end if;
      when 'jobKeyMode' then
        if v_value in ('replace', 'preserve_run_at') then
          v_item.job_key_mode := v_value;
        else
          v_invalid := 'replace or preserve_run_at';
        end if;
      when 'priority' then
        if (case when v_value ~ '^-?[0-9]{1,5}$'
            then v_value::int between -32768 and 32767 end) then
          v_item.priority := v_value::int;
        else
          v_invalid := 'a whole number from -32768 to 32767';
        end if;
      else -- tz
        v_item.time_zone := graphile_worker._private_cron_time_zone(context, v_value);
    end case;
    if v_invalid is not null then
      raise exception '%: option % has an invalid value ''%''', context, v_key, v_value
        using errcode = 'GWC05',
          detail = format('%s takes %s.', v_key, v_invalid),
          hint = 'Fix the value, or remove the option to use its default.';
    end if;
  end loop;
  if v_item.job_key is not null and v_item.job_key_mode is null then
    v_item.job_key_mode := 'replace';
  end if;
  return v_item;
end;
$$;
