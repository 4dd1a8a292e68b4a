-- The cron items as last registered (0.1.8, docs/operations.md): register_crontab and
-- schedule_crontab store each parsed item here, rewriting a row only when its item changed, so
-- that cron_items() can show an item's schedule and next run and run_cron_item() can enqueue
-- its job. _private_known_crontabs (graphile-worker's table, shared with Node workers) keeps
-- the scheduling state; Node workers do not write here, so items only they schedule show
-- without a schedule. Not part of the graphile-worker schema.
create table graphile_worker._private_cron_specs (
  identifier text not null,
  item graphile_worker.cron_item not null,
  registered_at timestamptz not null,
  constraint cron_specs_pkey primary key (identifier)
);

alter table graphile_worker._private_cron_specs enable row level security;

-- extension-only:begin
select pg_catalog.pg_extension_config_dump('graphile_worker._private_cron_specs', '');
-- extension-only:end

comment on table graphile_worker._private_cron_specs is
  'Cron items as last registered by register_crontab or schedule_crontab (the parsed item), read by cron_items() and run_cron_item().';
