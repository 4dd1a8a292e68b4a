-- Should this enqueue notify jobs:insert (see _private_wait_marks)? As
-- _private_inline_wake_state says: yes for 'notify' (notify_inserts is 'always', or no runner
-- marked itself in the last 10 minutes); no for 'quiet' (every runner is busy); for 'wake' yes
-- when it wakes a waiting runner: it takes the waiting marks off, so the next enqueuers stay
-- quiet until a runner waits again. The marks are read first and written only when one waits.
-- Marks locked by another enqueuer are skipped: that one notifies. An enqueuer that found no
-- waiting mark commits later; a runner that started waiting meanwhile claims again right after
-- marking itself and then after 50, 100, 200 ms and so on up to its poll interval (see
-- wait_for_jobs), so such a job waits about as long again as its transaction stayed open after
-- the enqueue, never more than the poll interval. (plpgsql: the update that takes the marks
-- off is a statement of its own.)
create function graphile_worker._private_wake_runners()
returns boolean
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_state text;
  v_woken boolean;
begin
  select w.wake_state into v_state
  from graphile_worker._private_inline_wake_state(pg_catalog.now()) as w;
  if v_state = 'notify' then
    return true;
  elsif v_state = 'quiet' then
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
