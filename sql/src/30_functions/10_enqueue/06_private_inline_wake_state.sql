-- What the wait marks say an enqueue should do (see _private_wait_marks), the one place the
-- rule is written: 'notify' when graphile_worker.notify_inserts is 'always' or no runner marked
-- itself in the last 10 minutes (Node workers, runners before 0.1.5, a fleet busy for that
-- long: every enqueue notifies); 'wake' when a runner waits (_private_wake_runners takes its
-- mark off and the enqueue notifies); 'quiet' while runners are marked, fresh, and none waits.
-- _private_wake_runners decides with it, and add_job's common call reads it in place so that a
-- quiet enqueue (a busy fleet's) makes no further call.
-- Inlined: a single-SELECT SQL function without SET, SECURITY DEFINER or STRICT, not
-- volatile, called in FROM, which the planner merges into the caller's statement. It runs
-- only inside the extension's functions, under their pinned search_path; its names are
-- qualified all the same (see CONTRIBUTING.md, "Inlined helpers").
create function graphile_worker._private_inline_wake_state(now timestamptz)
returns table (wake_state text)
language sql
stable
as $$
  select case
    when pg_catalog.current_setting('graphile_worker.notify_inserts', true) = 'always'
      or not coalesce(pg_catalog.bool_or(m.marked_at > $1 - interval '10 minutes'), false)
      then 'notify'
    when pg_catalog.bool_or(m.waiting) then 'wake'
    else 'quiet'
  end
  from graphile_worker._private_wait_marks as m
$$;

comment on function graphile_worker._private_inline_wake_state(timestamptz) is
  'Private, inlined into add_job and _private_wake_runners: what the wait marks say an enqueue should do (notify: notify_inserts is always, or no runner marked itself in 10 minutes; wake: a runner waits; quiet).';
