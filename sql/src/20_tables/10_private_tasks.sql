-- Task identifiers, referenced by _private_jobs.task_id (no foreign key, as upstream).
create table graphile_worker._private_tasks (
  id integer generated always as identity (sequence name graphile_worker.tasks_id_seq),
  identifier text not null,
  constraint tasks_pkey primary key (id),
  constraint tasks_identifier_key unique (identifier),
  constraint tasks_identifier_check check (length(identifier) <= 128)
);

alter table graphile_worker._private_tasks enable row level security;

-- extension-only:begin
select pg_catalog.pg_extension_config_dump('graphile_worker._private_tasks', '');
select pg_catalog.pg_extension_config_dump('graphile_worker.tasks_id_seq', '');
-- extension-only:end
