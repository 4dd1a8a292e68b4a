-- One value of a crontab time field: a number, or a month/weekday name (case-insensitive).
-- `range_end` lets `sun` close a weekday range as 7 (`fri-sun`). Values are range-checked here
-- so that every error names the line, the field and the allowed range.
create function graphile_worker._private_cron_field_value(
  context text,
  field_name text,
  token text,
  min_value int,
  max_value int,
  range_end boolean
) returns int
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_value int;
  v_allowed text;
begin
  v_allowed := case field_name
    when 'month' then format('%s-%s, or jan-dec', min_value, max_value)
    when 'day of week' then format('%s-%s (0 and 7 are Sunday), or sun-sat', min_value, max_value)
    else format('%s-%s', min_value, max_value)
  end;
  if token ~ '^[0-9]+$' then
    if length(token) > 6 then
      v_value := 1000000;
    else
      v_value := token::int;
    end if;
  elsif field_name = 'month' then
    v_value := array_position(
      array['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'],
      token);
  elsif field_name = 'day of week' then
    v_value := array_position(array['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'], token) - 1;
    if v_value = 0 and range_end then
      v_value := 7;
    end if;
  end if;
  if v_value is null then
    raise exception '%: % value ''%'' is not a number%', context, field_name, token,
      case field_name when 'month' then ' or a month name'
        when 'day of week' then ' or a weekday name' else '' end
      using errcode = 'GWC01',
        detail = format('The %s field accepts %s.', field_name, v_allowed),
        hint = 'Each comma-separated part is a value, a range a-b, *, */n or a-b/n.';
  end if;
  if v_value < min_value or v_value > max_value then
    raise exception '%: % % is out of range (%)', context, field_name, token, v_allowed
      using errcode = 'GWC02',
        detail = format('The %s field accepts %s.', field_name, v_allowed),
        hint = 'Use a value inside the range; ranges and lists must stay inside it too.';
  end if;
  return v_value;
end;
$$;
