-- Named queues. A queue row is locked (locked_by/locked_at) while one of its jobs runs, which
-- makes a named queue run its jobs one at a time.
create table graphile_worker._private_job_queues (
  id integer generated always as identity (sequence name graphile_worker.job_queues_id_seq),
  queue_name text not null,
  locked_at timestamptz,
  locked_by text,
  is_available boolean generated always as (locked_at is null) stored not null,
  constraint job_queues_pkey1 primary key (id),
  constraint job_queues_queue_name_key unique (queue_name),
  constraint job_queues_queue_name_check check (length(queue_name) <= 128)
);

alter table graphile_worker._private_job_queues enable row level security;

-- extension-only:begin
select pg_catalog.pg_extension_config_dump('graphile_worker._private_job_queues', '');
select pg_catalog.pg_extension_config_dump('graphile_worker.job_queues_id_seq', '');
-- extension-only:end
