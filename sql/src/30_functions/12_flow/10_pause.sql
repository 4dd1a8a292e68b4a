-- Pause and resume tasks and named queues (docs/flow-control.md). get_jobs claims no job of a
-- paused task or queue; jobs already claimed run to their end (gw_runner gives back the ones
-- it has not started when it hears of the pause); waiting jobs keep their order; enqueueing
-- and cron keep working. A task or queue need not exist yet. Each returns the names whose
-- state changed, and notifies graphile_worker:control. Admin actions.
-- security definer: admins get EXECUTE on these functions and no rights on the private tables,
-- so they act with the owner's rights; they pin search_path and qualify every name.
create function graphile_worker.pause_tasks(task_identifiers text[])
returns text[]
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_changed text[];
begin
  perform graphile_worker._private_check_flow_names(task_identifiers, 'task', 'pause_tasks');
  with changed as (
    insert into graphile_worker._private_task_controls as c (task_identifier, paused)
    select distinct n, true from pg_catalog.unnest(task_identifiers) as n
    order by 1
    on conflict on constraint task_controls_pkey do update
    set paused = true, updated_at = pg_catalog.now()
    where c.paused is false
    returning c.task_identifier
  )
  select coalesce(array_agg(ch.task_identifier order by ch.task_identifier), '{}')
  into v_changed from changed as ch;
  if cardinality(v_changed) > 0 then
    perform graphile_worker._private_notify_control(
      jsonb_build_object('op', 'pause_tasks', 'names', to_jsonb(v_changed)));
  end if;
  return v_changed;
end;
$$;

comment on function graphile_worker.pause_tasks(text[]) is
  'Admin: pause these tasks (existing or not yet used): get_jobs claims none of their jobs until resume_tasks; running jobs finish, waiting jobs keep their order, enqueueing works. Returns the tasks that were not paused before; notifies graphile_worker:control. Bad names: GWF01.';

create function graphile_worker.resume_tasks(task_identifiers text[])
returns text[]
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_changed text[];
begin
  perform graphile_worker._private_check_flow_names(task_identifiers, 'task', 'resume_tasks');
  with changed as (
    update graphile_worker._private_task_controls as c
    set paused = false, updated_at = pg_catalog.now()
    where c.task_identifier = any(task_identifiers) and c.paused
    returning c.task_identifier
  )
  select coalesce(array_agg(ch.task_identifier order by ch.task_identifier), '{}')
  into v_changed from changed as ch;
  -- a row that only held the pause goes
  delete from graphile_worker._private_task_controls as c
  where c.task_identifier = any(v_changed) and c.max_running is null and c.rate_limit is null;
  if cardinality(v_changed) > 0 then
    perform graphile_worker._private_notify_control(
      jsonb_build_object('op', 'resume_tasks', 'names', to_jsonb(v_changed)));
  end if;
  return v_changed;
end;
$$;

comment on function graphile_worker.resume_tasks(text[]) is
  'Admin: resume paused tasks; runners hear it at once (graphile_worker:control) and claim. Returns the tasks that were paused. Bad names: GWF01.';

create function graphile_worker.pause_queues(queue_names text[])
returns text[]
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_changed text[];
begin
  perform graphile_worker._private_check_flow_names(queue_names, 'queue', 'pause_queues');
  with changed as (
    insert into graphile_worker._private_queue_controls as q (queue_name, paused_at)
    select distinct n, pg_catalog.now() from pg_catalog.unnest(queue_names) as n
    order by 1
    on conflict on constraint queue_controls_pkey do nothing
    returning q.queue_name
  )
  select coalesce(array_agg(ch.queue_name order by ch.queue_name), '{}')
  into v_changed from changed as ch;
  if cardinality(v_changed) > 0 then
    perform graphile_worker._private_notify_control(
      jsonb_build_object('op', 'pause_queues', 'names', to_jsonb(v_changed)));
  end if;
  return v_changed;
end;
$$;

comment on function graphile_worker.pause_queues(text[]) is
  'Admin: pause these named queues (existing or not yet used): get_jobs claims none of their jobs until resume_queues; the running job finishes, the others keep their order. Returns the queues that were not paused before; notifies graphile_worker:control. Bad names: GWF01.';

create function graphile_worker.resume_queues(queue_names text[])
returns text[]
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_changed text[];
begin
  perform graphile_worker._private_check_flow_names(queue_names, 'queue', 'resume_queues');
  with changed as (
    delete from graphile_worker._private_queue_controls as q
    where q.queue_name = any(queue_names)
    returning q.queue_name
  )
  select coalesce(array_agg(ch.queue_name order by ch.queue_name), '{}')
  into v_changed from changed as ch;
  if cardinality(v_changed) > 0 then
    perform graphile_worker._private_notify_control(
      jsonb_build_object('op', 'resume_queues', 'names', to_jsonb(v_changed)));
  end if;
  return v_changed;
end;
$$;

comment on function graphile_worker.resume_queues(text[]) is
  'Admin: resume paused named queues; runners hear it at once (graphile_worker:control) and claim. Returns the queues that were paused. Bad names: GWF01.';
