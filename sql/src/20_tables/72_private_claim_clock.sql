-- Samples of "transaction ids from xid on were assigned after at", one every 50 ms or so while
-- runners claim (written by get_jobs). A claim uses the newest sample at or below its
-- snapshot's xmin to bound how far a floor may advance: a job written, but not yet committed,
-- by a transaction still in progress has a run_at no earlier than 200 ms before that
-- transaction's xid was assigned (or the trigger logged it). Samples older than 10 minutes are
-- deleted now and then. Derived state, not dumped. Not part of the graphile-worker schema.
create table graphile_worker._private_claim_clock (
  xid xid8 not null,
  at timestamptz not null
);

-- Not unique: two claims may take the same sample at once, and neither may wait for the other.
create index claim_clock_xid_index on graphile_worker._private_claim_clock using btree (xid);

alter table graphile_worker._private_claim_clock enable row level security;

comment on table graphile_worker._private_claim_clock is
  'Samples (xid, at): transaction ids from xid on were assigned after at; get_jobs() bounds its claim floors with them.';
