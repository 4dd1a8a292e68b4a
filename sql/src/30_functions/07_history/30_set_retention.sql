-- Retention of finished jobs (docs/history.md). set_retention(task, keep) keeps the finished
-- jobs of one task (or, with a null task, of every task without its own setting) for keep;
-- keep = '0' records nothing. Rows already stored get their expiry moved to finished_at + the
-- new retention, so a shorter retention is pruned at the next prune. clear_retention(task)
-- removes a task's own setting (the default applies again) or, with null, the default (tasks
-- without their own setting are no longer recorded). A task need not exist yet: identifiers
-- appear with their first job. Both are admin actions.
create function graphile_worker._private_check_retention_task(task_identifier text, function_name text)
returns void
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  if task_identifier = '' or length(task_identifier) > 128 then
    raise exception '%: the task identifier must be 1 to 128 characters, not %', function_name,
      length(task_identifier)
      using errcode = 'GWH01',
      detail = format('The identifier given was %s.', quote_literal(left(task_identifier, 200))),
      hint = 'Pass a task identifier as add_job takes it, or null for the default of every task.';
  end if;
end;
$$;

comment on function graphile_worker._private_check_retention_task(text, text) is
  'History: raise GWH01 for an empty task identifier or one over 128 characters.';

-- Move the expiry of stored rows of one task (or of every task without its own setting, when
-- task_identifier is null) to finished_at + its retention now.
create function graphile_worker._private_redate_finished(task_identifier text)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_keep interval := graphile_worker._private_keep_for(_private_redate_finished.task_identifier);
begin
  if _private_redate_finished.task_identifier is not null then
    update graphile_worker._private_finished_jobs as f
    set expires_at = f.finished_at + v_keep
    where f.task_identifier = _private_redate_finished.task_identifier
      and f.expires_at is distinct from f.finished_at + v_keep;
  else
    update graphile_worker._private_finished_jobs as f
    set expires_at = f.finished_at + v_keep
    where not exists (
        select 1 from graphile_worker._private_retention as r
        where r.task_identifier = f.task_identifier)
      and f.expires_at is distinct from f.finished_at + v_keep;
  end if;
end;
$$;

comment on function graphile_worker._private_redate_finished(text) is
  'History: set expires_at = finished_at + the current retention on the stored rows of a task (null: of every task without its own setting).';

-- security definer: admins get EXECUTE on this function and no rights on the private tables,
-- so the function acts with the owner's rights; it pins search_path and qualifies every name.
create function graphile_worker.set_retention(task_identifier text, keep interval)
returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
begin
  if set_retention.keep is null or set_retention.keep < interval '0' then
    raise exception 'set_retention: keep must be an interval of zero or more, not %',
      coalesce(set_retention.keep::text, 'null')
      using errcode = 'GWH01',
      detail = 'keep is how long finished jobs are kept; ''0'' records nothing.',
      hint = 'Pass e.g. interval ''1 day''; clear_retention(task) removes a task''s own setting.';
  end if;
  perform graphile_worker._private_check_retention_task(set_retention.task_identifier,
    'set_retention');

  if set_retention.task_identifier is null then
    insert into graphile_worker._private_retention as r (task_identifier, keep, set_at)
    values (null, set_retention.keep, pg_catalog.now())
    on conflict ((true)) where task_identifier is null
    do update set keep = excluded.keep, set_at = excluded.set_at;
  else
    insert into graphile_worker._private_retention as r (task_identifier, keep, set_at)
    values (set_retention.task_identifier, set_retention.keep, pg_catalog.now())
    on conflict (task_identifier) where task_identifier is not null
    do update set keep = excluded.keep, set_at = excluded.set_at;
  end if;
  perform graphile_worker._private_redate_finished(set_retention.task_identifier);
end;
$$;

comment on function graphile_worker.set_retention(text, interval) is
  'Admin: keep the finished jobs of a task (null: of every task without its own setting) for keep; ''0'' records nothing. Stored rows get the new expiry. A null or negative keep, an empty or over-long identifier: GWH01.';

-- security definer: as set_retention.
create function graphile_worker.clear_retention(task_identifier text)
returns boolean
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_found boolean;
begin
  perform graphile_worker._private_check_retention_task(clear_retention.task_identifier,
    'clear_retention');
  if clear_retention.task_identifier is null then
    delete from graphile_worker._private_retention as r where r.task_identifier is null;
  else
    delete from graphile_worker._private_retention as r
    where r.task_identifier = clear_retention.task_identifier;
  end if;
  v_found := found;
  perform graphile_worker._private_redate_finished(clear_retention.task_identifier);
  return v_found;
end;
$$;

comment on function graphile_worker.clear_retention(text) is
  'Admin: remove a task''s own retention (the default applies again), or with null the default (tasks without their own setting are no longer recorded); stored rows get the new expiry. Returns whether there was a setting.';

-- security definer: as set_retention.
create function graphile_worker.retention_settings()
returns table (task_identifier text, keep interval, set_at timestamptz)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select r.task_identifier, r.keep, r.set_at
  from graphile_worker._private_retention as r
  order by r.task_identifier nulls first;
$$;

comment on function graphile_worker.retention_settings() is
  'Admin: the retention settings; task_identifier null is the default of every task without its own.';
