-- The rules for one job's arguments, with their errors, each written once: the first rule
-- broken raises, in this order, before anything is written, so bad input gets a clear error and
-- burns no identity value: upstream's SQLSTATEs where upstream has them (23502 not null, 23514
-- check, 22003 range, 22004 null flag), GWE01 for a run_at no client can read back and GWE03
-- for a payload that jsonb cannot hold. Returns nothing when the arguments are fine.
-- add_job and add_jobs call it only for a job that _private_inline_job_args_flagged flags (see
-- there why); a rule added here is added there too.
create function graphile_worker._private_check_job_args(
  identifier text,
  payload json,
  queue_name text,
  run_at timestamptz,
  max_attempts integer,
  job_key text,
  priority integer,
  flags text[],
  spec_position integer default null
)
returns void
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_where text := case when spec_position is null then '' else format(' (job spec %s)', spec_position) end;
  v_message text;
  v_detail text;
begin
  if identifier is null then
    raise exception 'task identifier must not be null%', v_where
      using errcode = 'not_null_violation', column = 'identifier',
      detail = 'Every job names the task that runs it.',
      hint = 'Pass the task identifier as the first argument, e.g. add_job(''send_email'', ...).';
  end if;
  if length(identifier) > 128 then
    raise exception 'task identifier is too long%: % characters, at most 128', v_where, length(identifier)
      using errcode = 'check_violation', constraint = 'tasks_identifier_check',
      detail = format('The identifier starts with %L.', left(identifier, 40)),
      hint = 'Use a task identifier of at most 128 characters.';
  end if;
  if length(queue_name) > 128 then
    raise exception 'queue name is too long%: % characters, at most 128', v_where, length(queue_name)
      using errcode = 'check_violation', constraint = 'job_queues_queue_name_check',
      detail = format('The queue name starts with %L.', left(queue_name, 40)),
      hint = 'Use a queue name of at most 128 characters.';
  end if;
  if job_key is not null and (length(job_key) = 0 or length(job_key) > 512) then
    raise exception 'job key must have 1 to 512 characters%, not %', v_where, length(job_key)
      using errcode = 'check_violation', constraint = 'jobs_key_check',
      detail = 'An empty job key or one longer than 512 characters cannot be stored.',
      hint = 'Pass null for no key, or a key of 1 to 512 characters.';
  end if;
  if max_attempts is not null and max_attempts < 1 then
    raise exception 'max_attempts must be at least 1%, not %', v_where, max_attempts
      using errcode = 'check_violation', constraint = 'jobs_max_attempts_check',
      detail = 'A job needs at least one attempt.',
      hint = 'Pass null for the default of 25, or a number from 1 to 32767.';
  end if;
  if max_attempts > 32767 then
    raise exception 'smallint out of range%: max_attempts % is above 32767', v_where, max_attempts
      using errcode = 'numeric_value_out_of_range',
      detail = 'max_attempts is stored as a smallint.',
      hint = 'Pass a number from 1 to 32767.';
  end if;
  if priority < -32768 or priority > 32767 then
    raise exception 'smallint out of range%: priority % is outside -32768..32767', v_where, priority
      using errcode = 'numeric_value_out_of_range',
      detail = 'priority is stored as a smallint; lower numbers run first.',
      hint = 'Pass a priority from -32768 to 32767.';
  end if;
  if flags is not null and array_position(flags, null) is not null then
    raise exception 'flags must not contain null%', v_where
      using errcode = 'null_value_not_allowed',
      detail = 'Flags are stored as the keys of a JSON object.',
      hint = 'Remove the null element from flags.';
  end if;
  -- The range a Python datetime can hold in any time zone (years 1 to 9999, one day of margin
  -- for the session's UTC offset); PostgreSQL itself would accept infinity and year 294276.
  if run_at < '0001-01-02 00:00:00+00' or run_at >= '9999-12-31 00:00:00+00' then
    raise exception 'run_at must be between 0001-01-02 and 9999-12-30 UTC%, not %', v_where, run_at
      using errcode = 'GWE01',
      detail = 'Runners read run_at back as a date and time: infinity, -infinity and years '
        'outside 1 to 9999 cannot be represented by them (Python''s datetime).',
      hint = 'Pass null to run the job now, or a time from 0001-01-02 to 9999-12-30 UTC.';
  end if;
  -- json accepts what jsonb cannot hold: \u0000, an unpaired surrogate (\ud800-\udfff), a
  -- number beyond the numeric type. Replacing a keyed job merges array payloads as jsonb.
  if payload is not null then
    begin
      perform payload::jsonb;
    exception when data_exception or program_limit_exceeded then
      get stacked diagnostics v_message = message_text, v_detail = pg_exception_detail;
      raise exception 'payload cannot be converted to jsonb%: %', v_where, v_message
        using errcode = 'GWE03',
        detail = format('The payload is valid json, but jsonb rejects it (%s). Keyed jobs merge '
          'array payloads as jsonb, and other tools read payloads as jsonb.',
          rtrim(coalesce(nullif(v_detail, ''), v_message), '.')),
        hint = E'Remove \\u0000 and unpaired surrogates (\\ud800 to \\udfff) from the payload''s '
          'strings and keep its numbers within PostgreSQL''s numeric range; send binary data '
          'as base64, for example.';
    end;
  end if;
end;
$$;

comment on function graphile_worker._private_check_job_args(text, json, text, timestamptz, integer, text, integer, text[], integer) is
  'Private: raise the error of the first rule one job''s arguments break (spec_position names the spec of add_jobs); return nothing when they are fine.';
