-- Parse crontab text into its items, in line order. One bad line rejects the whole crontab with
-- an error naming the line, the field and what is wrong; nothing is dropped silently.
-- security definer: callers get EXECUTE on this function only, not on the _private_cron
-- helpers it calls; it reads no table, pins search_path and qualifies every name.
create function graphile_worker.parse_crontab(crontab text)
returns setof graphile_worker.cron_item
language plpgsql
security definer
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_line_number int;
  v_line text;
  v_context text;
  v_tokens text[];
  v_time_fields int;
  v_rest text;
  v_task text;
  v_options text;
  v_item graphile_worker.cron_item;
  v_identifiers text[] := '{}'::text[];
  v_lines int[] := '{}'::int[];
  v_previous int;
begin
  if crontab is null then
    raise exception 'crontab is null'
      using errcode = 'GWC09',
        detail = 'parse_crontab needs the text of a crontab (it may be empty).',
        hint = 'Pass '''' for a crontab without items.';
  end if;
  for v_line_number, v_line in
    select l.n, btrim(l.line, E' \t\f\v\r')
    from regexp_split_to_table(crontab, E'\r?\n') with ordinality as l(line, n)
    order by l.n
  loop
    continue when v_line = '' or left(v_line, 1) = '#';
    v_context := format('crontab line %s', v_line_number);
    v_tokens := regexp_split_to_array(v_line, E'[ \t]+');
    v_time_fields := case when left(v_tokens[1], 1) = '@' then 1 else 5 end;
    if cardinality(v_tokens) <= v_time_fields then
      raise exception '%: too few fields: expected % and a task identifier, found % field%',
        v_context,
        case v_time_fields when 1 then 'a schedule shorthand' else '5 time fields' end,
        cardinality(v_tokens), case when cardinality(v_tokens) = 1 then '' else 's' end
        using errcode = 'GWC01',
          detail = format('The line is ''%s''.', v_line),
          hint = 'Write: minute hour day-of-month month day-of-week task [?options] [{payload}].';
    end if;
    v_item := graphile_worker._private_cron_parse_schedule(
      v_context, array_to_string(v_tokens[1:v_time_fields], ' '), 'UTC');
    v_item.line_number := v_line_number;
    v_task := v_tokens[v_time_fields + 1];
    if v_task !~ '^[_a-zA-Z][_a-zA-Z0-9:/_-]*$' or length(v_task) > 128 then
      raise exception '%: task identifier ''%'' is invalid', v_context, v_task
        using errcode = 'GWC01',
          detail = 'A task identifier starts with a letter or _ and continues with letters, '
            'digits, _, -, : or / (at most 128 characters).',
          hint = 'Check that the line has exactly 5 time fields before the task.';
    end if;
    v_item.task_identifier := v_task;
    v_item.identifier := v_task;
    -- The text after the task: optional ?options, then an optional JSON object to the end.
    v_rest := (regexp_match(v_line,
      format(E'^(?:[^ \\t]+[ \\t]+){%s}[^ \\t]+[ \\t]*(.*)$', v_time_fields)))[1];
    if left(v_rest, 1) = '?' then
      v_options := (regexp_match(v_rest, E'^\\?([^ \\t]*)'))[1];
      v_rest := (regexp_match(v_rest, E'^[^ \\t]*[ \\t]*(.*)$'))[1];
      v_item := graphile_worker._private_cron_parse_options(v_context, v_options, v_item);
    end if;
    if v_rest <> '' then
      -- Only text starting with { is taken as the payload, so a valid one is always an object.
      if left(v_rest, 1) <> '{' then
        raise exception '%: unexpected text ''%'' after the task identifier', v_context, v_rest
          using errcode = 'GWC01',
            detail = 'After the task come only ?options and a JSON object payload.',
            hint = 'A task is one identifier, not a command; put arguments in the payload, '
              'e.g. {"to": "x"}.';
      end if;
      begin
        v_item.payload := v_rest::json;
        -- scheduling merges the payload as jsonb, which rejects some valid json (\u0000)
        perform v_item.payload::jsonb;
      exception when data_exception then
        raise exception '%: the payload is not valid JSON', v_context
          using errcode = 'GWC07',
            detail = format('%s: %s', sqlerrm, v_rest),
            hint = 'Write a strict JSON object: double-quoted keys and strings, no comments '
              'or trailing commas (JSON5 is not accepted).';
      end;
    end if;
    v_previous := v_lines[array_position(v_identifiers, v_item.identifier)];
    if v_previous is not null then
      raise exception '%: identifier ''%'' is already used on line %', v_context,
        v_item.identifier, v_previous
        using errcode = 'GWC06',
          detail = 'Each item''s identifier (its task, unless ?id= is given) must be unique: '
            'it keys the item''s scheduling state.',
          hint = 'Add ?id=some_name to one of the two lines.';
    end if;
    v_identifiers := v_identifiers || v_item.identifier;
    v_lines := v_lines || v_line_number;
    return next v_item;
  end loop;
end;
$$;

comment on function graphile_worker.parse_crontab(text) is
  'Parses crontab text into cron_items in line order (comments and blank lines skipped); a bad '
  'line raises GWC01-GWC08 naming the line and the field, so nothing is dropped silently.';
