-- Lock the rows of the jobs table with these ids, in id order, and say what state each one is
-- in at now: the first step of cancel_jobs, retry_jobs, delete_jobs and run_jobs_at (the admin
-- actions on given jobs). ids is sorted, states aligned with it; an id not in the jobs table
-- is in neither. Every caller locks in the same order (id), so two admin calls never deadlock
-- each other; a claim or report holding one of the rows is waited for.
-- States: cancelling (a cancel request is under way), and those of _private_inline_job_state:
-- running (locked, the lock younger than _private_lock_expiry(); an older lock is stale and the
-- job is not running), failed (no attempts left), retrying (attempted, attempts left),
-- scheduled (run_at after now), waiting.
-- One case differs between the callers, and the difference is real: live_lock_first.
-- delete_jobs checks the live lock before the cancel request. A job being cancelled whose
-- runner still holds it is running and is not deleted (its report ends it as cancelled); one
-- whose lock went stale is cancelling and is deleted. The other callers leave every job being
-- cancelled alone and report it cancelling, running or not.
-- report_jobs locks the rows of its batch in its own order (the completed ones, then the
-- failed ones), so a caller locking several running jobs can deadlock with a runner's report
-- of the same jobs (40P01). When this call is the one chosen to fail, its locks are rolled
-- back (a subtransaction) and the report goes on. Before trying again, it waits for the
-- transactions that hold rows of these jobs now, holding none of the other rows: trying again
-- at once would take back a row the report was woken to take but has not taken yet, and
-- deadlock again. The rows held now are those a SKIP LOCKED read cannot take; they are then
-- locked, in id order, which waits for their holders. Both steps let their locks go at once by
-- rolling back their subtransaction (a RAISE caught right there; it never leaves this
-- function). Up to 3 tries, then the deadlock error is raised.
create function graphile_worker._private_lock_job_states(
  job_ids bigint[],
  now timestamptz,
  live_lock_first boolean,
  out ids bigint[],
  out states text[]
)
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_round integer := 1;
  v_free bigint[];
begin
  loop
    begin
      select coalesce(array_agg(x.id order by x.id), '{}'),
        coalesce(array_agg(x.st order by x.id), '{}')
      into ids, states
      from (
        select j.id, case
            when r.job_id is not null
              and (not _private_lock_job_states.live_lock_first or s.st <> 'running')
              then 'cancelling'
            else s.st
          end as st
        from graphile_worker._private_jobs as j
        cross join lateral (select graphile_worker._private_inline_job_state(j.locked_at, j.attempts,
          j.max_attempts, j.run_at,
          _private_lock_job_states.now - graphile_worker._private_lock_expiry(),
          _private_lock_job_states.now) as st) as s
        left join graphile_worker._private_cancel_requests as r on r.job_id = j.id
        where j.id = any(_private_lock_job_states.job_ids)
        order by j.id
        for update of j
      ) as x;
      return;
    exception when deadlock_detected then
      if v_round >= 3 then
        raise;
      end if;
      v_round := v_round + 1;
    end;
    -- wait for the holders of these rows, holding none of the others
    begin
      v_free := array(
        select j.id from graphile_worker._private_jobs as j
        where j.id = any(_private_lock_job_states.job_ids)
        for update skip locked);
      raise exception 'let the rows go';
    exception when raise_exception then
      null;
    end;
    begin
      perform from (
        select j.id from graphile_worker._private_jobs as j
        where j.id = any(_private_lock_job_states.job_ids) and j.id <> all(v_free)
        order by j.id
        for update
      ) as w;
      raise exception 'let the rows go';
    exception when raise_exception or deadlock_detected then
      null;  -- a deadlock while waiting ends the wait; the next try counts as one of the 3
    end;
  end loop;
end;
$$;

comment on function graphile_worker._private_lock_job_states(bigint[], timestamptz, boolean) is
  'Admin actions: lock the jobs-table rows of job_ids in id order and return their ids (sorted) and states at now (cancelling, running, failed, retrying, scheduled, waiting). live_lock_first: a live lock wins over a cancel request (delete_jobs). A deadlock with a runner''s report is tried again (up to 3 tries) once the rows'' holders are done.';
