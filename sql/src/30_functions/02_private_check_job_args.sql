-- Validate one job's arguments before anything is written, so bad input raises a clear error
-- with upstream's SQLSTATE (23502 not null, 23514 check, 22003 range, 22004 null flag) and burns
-- no identity value. Returns nothing; raises on the first problem.
create function graphile_worker._private_check_job_args(
  identifier text,
  queue_name text,
  job_key text,
  max_attempts integer,
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
end;
$$;
