-- Expand one crontab time field (`*/10,7,56-59`, `mon-fri`, `1-30/5`) into its sorted, distinct
-- values. Weekday 7 is folded into 0 (Sunday).
create function graphile_worker._private_cron_parse_field(
  context text,
  field_name text,
  field text,
  min_value int,
  max_value int
) returns int[]
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_part text;
  v_match text[];
  v_low int;
  v_high int;
  v_step int;
  v_values int[] := '{}'::int[];
  v_top int := case when field_name = 'day of week' then max_value + 1 else max_value end;
begin
  foreach v_part in array string_to_array(lower(field), ',') loop
    v_match := regexp_match(v_part, '^(\*|[0-9a-z]+)(?:-([0-9a-z]+))?(?:/([0-9]+))?$');
    if v_match is null or (v_match[1] = '*' and v_match[2] is not null) then
      raise exception '%: % ''%'' is not understood', context, field_name, v_part
        using errcode = 'GWC01',
          detail = format('The %s field is ''%s''.', field_name, field),
          hint = 'Each comma-separated part is a value, a range a-b, *, */n or a-b/n.';
    end if;
    if v_match[1] = '*' then
      v_low := min_value;
      v_high := max_value;
    else
      v_low := graphile_worker._private_cron_field_value(
        context, field_name, v_match[1], min_value, v_top, false);
      if v_match[2] is not null then
        v_high := graphile_worker._private_cron_field_value(
          context, field_name, v_match[2], min_value, v_top, true);
        if v_high <= v_low then
          raise exception '%: % range ''%'' is invalid: its end is not after its start',
            context, field_name, v_part
            using errcode = 'GWC03',
              detail = format('%s is not after %s.', v_high, v_low),
              hint = 'Write ranges from low to high (22-23,0-2 rather than 22-2).';
        end if;
      elsif v_match[3] is not null then
        raise exception '%: % step ''%'' needs * or a range before the /', context, field_name,
          v_part
          using errcode = 'GWC01',
            detail = format('The %s field is ''%s''.', field_name, field),
            hint = format('Write */n or a-b/n, e.g. %s-%s/%s.', v_low, max_value, v_match[3]);
      else
        v_high := v_low;
      end if;
    end if;
    if v_match[3] is null then
      v_step := 1;
    elsif v_match[3] ~ '^0+$' then
      raise exception '%: % step ''%'' is invalid: a step must be at least 1', context,
        field_name, v_part
        using errcode = 'GWC03',
          detail = format('The %s field is ''%s''.', field_name, field),
          hint = 'Use */1 (or *) for every value, */n for every n-th.';
    elsif length(v_match[3]) > 6 then
      v_step := 1000000;
    else
      v_step := v_match[3]::int;
    end if;
    v_values := v_values || array(select generate_series(v_low, v_high, v_step));
  end loop;
  return array(
    select distinct case when v > max_value then min_value else v end
    from unnest(v_values) as v
    order by 1);
end;
$$;
