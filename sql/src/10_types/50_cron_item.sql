-- One parsed crontab line (or one parsed schedule): the time fields expanded once into sorted
-- int arrays, plus the options and payload. Produced by parse_crontab and consumed by
-- cron_matches, cron_next_after, cron_times_between and schedule_crontab.
create type graphile_worker.cron_item as (
  line_number int,
  identifier text,
  task_identifier text,
  schedule text,
  minutes int[],
  hours int[],
  days int[],
  months int[],
  weekdays int[],
  dom_restricted boolean,
  dow_restricted boolean,
  fixed_time boolean,
  time_zone text,
  fill interval,
  max_attempts int,
  queue_name text,
  job_key text,
  job_key_mode text,
  priority int,
  payload json
);

comment on type graphile_worker.cron_item is
  'A parsed crontab item: time fields expanded into sorted arrays (weekdays 0-6, 0 = Sunday), '
  'dom/dow_restricted for the either-day rule, fixed_time (minute and hour both explicit: runs '
  'once per local occurrence across DST changes), time zone, options and JSON object payload.';
