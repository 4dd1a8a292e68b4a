-- Should this enqueue notify jobs:insert (see _private_wait_marks)? Yes when
-- graphile_worker.notify_inserts is 'always' (a fleet with Node workers, which wait for
-- notifications), when no runner marked itself in the last 10 minutes (Node workers alone,
-- runners before 0.1.5, or a fleet busy for that long), and when it wakes a waiting runner: it
-- takes the waiting marks off, so the next enqueuers stay quiet until a runner waits again.
-- No while every runner is busy. The marks are read first and written only when one waits.
-- Marks locked by another enqueuer are skipped: that one notifies. An enqueuer that found no
-- waiting mark commits later; a runner that started waiting meanwhile claims again right after
-- marking itself and then after 50, 100, 200 ms and so on up to its poll interval (see
-- wait_for_jobs), so such a job waits about as long again as its transaction stayed open after
-- the enqueue, never more than the poll interval. (A SQL function could not be inlined: its
-- EXISTS tests are sublinks, which PostgreSQL does not inline.)
create function graphile_worker._private_wake_runners()
returns boolean
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_waiting boolean;
  v_fresh boolean;
  v_woken boolean;
begin
  if pg_catalog.current_setting('graphile_worker.notify_inserts', true) = 'always' then
    return true;
  end if;
  select
    exists (select 1 from graphile_worker._private_wait_marks as m where m.waiting),
    exists (select 1 from graphile_worker._private_wait_marks as m
            where m.marked_at > pg_catalog.now() - interval '10 minutes')
  into v_waiting, v_fresh;
  if not v_fresh then
    return true;
  elsif not v_waiting then
    return false;
  end if;
  with woken as (
    update graphile_worker._private_wait_marks as m
    set waiting = false
    where m.ctid = any(array(
      select m2.ctid from graphile_worker._private_wait_marks as m2
      where m2.waiting
      for update skip locked
    ))
    returning 1
  )
  select exists (select 1 from woken) into v_woken;
  return v_woken;
end;
$$;

comment on function graphile_worker._private_wake_runners() is
  'Private: whether add_job or add_jobs should notify jobs:insert (it wakes a waiting runner, or no runner marked itself lately, or notify_inserts = always).';
