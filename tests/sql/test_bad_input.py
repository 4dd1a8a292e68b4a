"""Bad input: every public function raises the documented SQLSTATE and changes nothing (no
row, no identity value). Upstream's codes for the contract functions (23502, 23514, 22003,
22004, GWBKM), the GWA0x codes of the README for the runner functions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from helpers import add_job, get_jobs, snapshot

LONG_129 = "x" * 129
KEY_513 = "k" * 513


@dataclass(frozen=True)
class Case:
    id: str
    sql: str
    sqlstate: str
    # The exact message, asserted once per distinct message (None: already checked elsewhere).
    message: str | None = None
    # Raised by the extension's own checks, which always give a DETAIL and a HINT.
    explained: bool = True


SPEC = "row({ident}, {payload}, {queue}, {run_at}, {max_attempts}, {key}, {priority}, {flags})" \
    "::graphile_worker.job_spec"


def _specs(**bad: str) -> str:
    good = {"ident": "'job1'", "payload": "null", "queue": "null", "run_at": "null",
            "max_attempts": "null", "key": "null", "priority": "null", "flags": "null"}
    return (
        "select graphile_worker.add_jobs(array["
        + SPEC.format(**{**good, "key": "'fine'"})
        + ", "
        + SPEC.format(**{**good, **bad})
        + "])"
    )


CASES = [
    # add_job
    Case("add_job-null-identifier", "select graphile_worker.add_job(null)", "23502",
         "task identifier must not be null"),
    Case("add_job-long-identifier", f"select graphile_worker.add_job('{LONG_129}')", "23514",
         "task identifier is too long: 129 characters, at most 128"),
    Case("add_job-long-identifier-keyed",
         f"select graphile_worker.add_job('{LONG_129}', job_key => 'k')", "23514"),
    Case("add_job-long-queue",
         f"select graphile_worker.add_job('new_task', queue_name => '{LONG_129}')", "23514",
         "queue name is too long: 129 characters, at most 128"),
    Case("add_job-empty-key", "select graphile_worker.add_job('new_task', job_key => '')",
         "23514", "job key must have 1 to 512 characters, not 0"),
    Case("add_job-long-key",
         f"select graphile_worker.add_job('new_task', queue_name => 'new_q', job_key => '{KEY_513}')",
         "23514"),
    Case("add_job-long-key-unsafe-dedupe",
         f"select graphile_worker.add_job('new_task', job_key => '{KEY_513}', "
         "job_key_mode => 'unsafe_dedupe')", "23514"),
    Case("add_job-max-attempts-0",
         "select graphile_worker.add_job('new_task', max_attempts => 0)", "23514",
         "max_attempts must be at least 1, not 0"),
    Case("add_job-max-attempts-negative-keyed",
         "select graphile_worker.add_job('new_task', max_attempts => -1, job_key => 'k')", "23514"),
    Case("add_job-max-attempts-over-smallint",
         "select graphile_worker.add_job('new_task', max_attempts => 32768)", "22003",
         "smallint out of range: max_attempts 32768 is above 32767"),
    Case("add_job-priority-over-smallint",
         "select graphile_worker.add_job('new_task', priority => 32768)", "22003",
         "smallint out of range: priority 32768 is outside -32768..32767"),
    Case("add_job-priority-under-smallint",
         "select graphile_worker.add_job('new_task', queue_name => 'new_q', priority => -32769)",
         "22003"),
    Case("add_job-null-flag",
         "select graphile_worker.add_job('new_task', flags => array['a', null])", "22004",
         "flags must not contain null"),
    # run_at: only what a client (Python's datetime, in any time zone) can read back.
    Case("add_job-run-at-infinity",
         "select graphile_worker.add_job('new_task', run_at => 'infinity')", "GWE01",
         "run_at must be between 0001-01-02 and 9999-12-30 UTC, not infinity"),
    Case("add_job-run-at-minus-infinity-keyed",
         "select graphile_worker.add_job('new_task', run_at => '-infinity', job_key => 'k')",
         "GWE01"),
    Case("add_job-run-at-0001-01-01",
         "select graphile_worker.add_job('job1', run_at => '0001-01-01 23:59:59.999999+00')",
         "GWE01"),
    Case("add_job-run-at-year-10000-unsafe-dedupe",
         "select graphile_worker.add_job('new_task', run_at => '10000-01-01 00:00+00', "
         "job_key => 'k', job_key_mode => 'unsafe_dedupe')", "GWE01"),
    Case("add_job-run-at-9999-12-31",
         "select graphile_worker.add_job('job1', queue_name => 'q', "
         "run_at => '9999-12-31 00:00+00')", "GWE01"),
    # payload: json that jsonb cannot hold
    Case("add_job-payload-nul",
         "select graphile_worker.add_job('job1', '[\"\\u0000\"]')", "GWE03",
         "payload cannot be converted to jsonb: unsupported Unicode escape sequence"),
    Case("add_job-payload-nul-keyed",
         "select graphile_worker.add_job('job1', '{{\"a\": \"x\\u0000\"}}', job_key => 'fine')",
         "GWE03"),
    Case("add_job-payload-lone-surrogate",
         "select graphile_worker.add_job('new_task', '[\"\\ud800\"]')", "GWE03",
         "payload cannot be converted to jsonb: invalid input syntax for type json"),
    Case("add_job-payload-number-beyond-numeric-unsafe-dedupe",
         "select graphile_worker.add_job('job1', '[1e1000000]', job_key => 'k', "
         "job_key_mode => 'unsafe_dedupe')", "GWE03",
         "payload cannot be converted to jsonb: value overflows numeric format"),
    Case("add_job-payload-long-number",
         "select graphile_worker.add_job('job1', ('[0.' || repeat('0', 20000) || '1]')::json)",
         "GWE03"),
    Case("add_job-invalid-key-mode",
         "select graphile_worker.add_job('new_task', job_key => 'k', job_key_mode => 'bogus')",
         "GWBKM",
         "Invalid job_key_mode value, expected 'replace', 'preserve_run_at' or 'unsafe_dedupe'."),
    # add_jobs: the second spec is bad, the first is fine; nothing is written.
    Case("add_jobs-null-identifier", _specs(ident="null"), "23502",
         "task identifier must not be null (job spec 2)"),
    Case("add_jobs-long-identifier", _specs(ident=f"'{LONG_129}'"), "23514"),
    Case("add_jobs-long-queue", _specs(queue=f"'{LONG_129}'"), "23514"),
    Case("add_jobs-empty-key", _specs(key="''"), "23514"),
    Case("add_jobs-long-key", _specs(key=f"'{KEY_513}'"), "23514",
         "job key must have 1 to 512 characters (job spec 2), not 513"),
    Case("add_jobs-max-attempts-0", _specs(max_attempts="0"), "23514"),
    Case("add_jobs-null-flag", _specs(flags="array['a', null]"), "22004"),
    # The spec's fields are smallints: PostgreSQL raises this one while building the argument.
    Case("add_jobs-priority-over-smallint", _specs(priority="40000"), "22003",
         explained=False),
    Case("add_jobs-run-at-infinity", _specs(run_at="'infinity'"), "GWE01",
         "run_at must be between 0001-01-02 and 9999-12-30 UTC (job spec 2), not infinity"),
    Case("add_jobs-run-at-minus-infinity-keyed", _specs(run_at="'-infinity'", key="'k2'"),
         "GWE01"),
    Case("add_jobs-run-at-year-10000", _specs(run_at="'10000-01-01 00:00+00'"), "GWE01"),
    Case("add_jobs-payload-nul", _specs(payload="'[\"\\u0000\"]'"), "GWE03",
         "payload cannot be converted to jsonb (job spec 2): unsupported Unicode escape sequence"),
    Case("add_jobs-payload-lone-surrogate-keyed",
         _specs(payload="'{{\"a\": \"\\udc00\"}}'", key="'k2'"), "GWE03"),
    # One upsert cannot replace a keyed job twice: upstream's raw 21000, after burning ids.
    Case("add_jobs-same-key-twice", _specs(key="'fine'"), "GWE02",
         "job key 'fine' is in more than one job spec (job specs 1, 2)"),
    Case("add_jobs-same-new-key-twice", _specs(ident="'new_task'", key="'fine'"), "GWE02"),
    # reschedule_jobs: upstream's codes (23514 of the CHECK, 22003 of the smallint casts), now
    # raised before any row is touched, with DETAIL and HINT.
    Case("reschedule_jobs-max-attempts-0",
         "select graphile_worker.reschedule_jobs(array[{free}]::bigint[], max_attempts => 0)",
         "23514"),
    Case("reschedule_jobs-priority-over-smallint",
         "select graphile_worker.reschedule_jobs(array[{free}]::bigint[], priority => 40000)",
         "22003", "smallint out of range: priority 40000 is outside -32768..32767"),
    Case("reschedule_jobs-priority-under-smallint",
         "select graphile_worker.reschedule_jobs(array[{free}]::bigint[], priority => -40000)",
         "22003"),
    Case("reschedule_jobs-attempts-over-smallint",
         "select graphile_worker.reschedule_jobs(array[{free}]::bigint[], attempts => 40000)",
         "22003", "attempts must be between 0 and 32767, not 40000"),
    # A deviation from upstream, which stores a negative count.
    Case("reschedule_jobs-attempts-negative",
         "select graphile_worker.reschedule_jobs(array[{free}]::bigint[], attempts => -5)",
         "22003", "attempts must be between 0 and 32767, not -5"),
    Case("reschedule_jobs-max-attempts-over-smallint",
         "select graphile_worker.reschedule_jobs(array[{free}]::bigint[], max_attempts => 40000)",
         "22003", "smallint out of range: max_attempts 40000 is above 32767"),
    Case("reschedule_jobs-run-at-infinity",
         "select graphile_worker.reschedule_jobs(array[{free}]::bigint[], run_at => 'infinity')",
         "GWE01"),
    Case("reschedule_jobs-run-at-0001-01-01",
         "select graphile_worker.reschedule_jobs(array[{free}]::bigint[], "
         "run_at => '0001-01-01 00:00+00', priority => 1)", "GWE01"),
    # get_jobs
    Case("get_jobs-null-worker", "select graphile_worker.get_jobs(null, array['job1'])",
         "GWA01", "worker_id must not be null or empty"),
    Case("get_jobs-empty-worker", "select graphile_worker.get_jobs('', array['job1'])", "GWA01"),
    Case("get_jobs-long-worker", f"select graphile_worker.get_jobs('{LONG_129}', array['job1'])",
         "GWA02", "worker_id is too long: 129 characters, at most 128"),
    Case("get_jobs-batch-0", "select graphile_worker.get_jobs('w', array['job1'], 0)", "GWA02",
         "batch_size must be between 1 and 10000, not 0"),
    Case("get_jobs-batch-negative", "select graphile_worker.get_jobs('w', array['job1'], -1)",
         "GWA02"),
    Case("get_jobs-batch-too-big", "select graphile_worker.get_jobs('w', array['job1'], 10001)",
         "GWA02"),
    Case("get_jobs-batch-null", "select graphile_worker.get_jobs('w', array['job1'], null)",
         "GWA02"),
    Case("get_jobs-now-null",
         "select graphile_worker.get_jobs('w', array['job1'], 5, null, null)", "GWA01",
         "now must not be null"),
    # report_jobs: the claimed job is named, and its completion is requested alongside, so a
    # partial run would show in the snapshot.
    Case("report_jobs-null-worker",
         "select graphile_worker.report_jobs(null, array[{job}]::bigint[])", "GWA01"),
    Case("report_jobs-empty-worker",
         "select graphile_worker.report_jobs('', array[{job}]::bigint[])", "GWA01"),
    Case("report_jobs-long-worker",
         f"select graphile_worker.report_jobs('{LONG_129}', array[{{job}}]::bigint[])", "GWA02"),
    Case("report_jobs-now-null",
         "select graphile_worker.report_jobs('w', array[{job}]::bigint[], null, null)", "GWA01"),
    Case("report_jobs-failures-object",
         "select graphile_worker.report_jobs('w', array[{job}]::bigint[], "
         "'{{\"id\": {job}, \"message\": \"x\"}}')", "GWA03",
         "failures must be a JSON array, not object"),
    Case("report_jobs-failures-string",
         "select graphile_worker.report_jobs('w', array[{job}]::bigint[], '\"oops\"')", "GWA03"),
    Case("report_jobs-failure-not-object",
         "select graphile_worker.report_jobs('w', array[{job}]::bigint[], '[1]')", "GWA03",
         "malformed failure entry: 1"),
    *[
        Case(f"report_jobs-failure-{name}",
             "select graphile_worker.report_jobs('w', array[{job}]::bigint[], '[" + entry + "]')",
             "GWA03")
        for name, entry in [
            ("missing-id", '{{"message": "x"}}'),
            ("string-id", '{{"id": "{job}", "message": "x"}}'),
            ("missing-message", '{{"id": {job}}}'),
            ("number-message", '{{"id": {job}, "message": 5}}'),
            ("string-permanent", '{{"id": {job}, "message": "x", "permanent": "yes"}}'),
            ("negative-retry-delay", '{{"id": {job}, "message": "x", "retry_delay": -1}}'),
            ("string-retry-delay", '{{"id": {job}, "message": "x", "retry_delay": "5"}}'),
            ("second-entry-bad", '{{"id": {job}, "message": "x"}}, {{"id": null}}'),
            ("fractional-id", '{{"id": 2.5, "message": "x"}}'),
            ("fraction-written-id", '{{"id": 2.0, "message": "x"}}'),
            ("id-beyond-bigint", '{{"id": 9223372036854775808, "message": "x"}}'),
            ("huge-id", '{{"id": 1e1000000, "message": "x"}}'),
            ("null-message", '{{"id": {job}, "message": null}}'),
            ("nul-in-message", '{{"id": {job}, "message": "a\\u0000"}}'),
            ("lone-surrogate-in-message", '{{"id": {job}, "message": "a\\ud800"}}'),
            ("nul-in-payload", '{{"id": {job}, "message": "x", "payload": ["\\u0000"]}}'),
            ("object-retry-delay-after-null-permanent",
             '{{"id": {job}, "message": "x", "permanent": null, "retry_delay": {{}}}}'),
            ("huge-retry-delay", '{{"id": {job}, "message": "x", "retry_delay": 1e308}}'),
            ("overflowing-retry-delay",
             '{{"id": {job}, "message": "x", "retry_delay": 1e1000000}}'),
            ("retry-delay-over-10-years",
             '{{"id": {job}, "message": "x", "retry_delay": 315360000.000001}}'),
        ]
    ],
    Case("report_jobs-failure-fractional-id-wording",
         "select graphile_worker.report_jobs('w', null, '[{{\"id\": 2.5, \"message\": \"m\"}}]')",
         "GWA03", 'malformed failure entry: {"id": 2.5, "message": "m"}'),
    # One outcome per job: upstream-style first-wins would silently drop the second entry.
    Case("report_jobs-failure-same-id-twice",
         "select graphile_worker.report_jobs('w', null, '[{{\"id\": 424242, \"message\": \"x\"}}, "
         "{{\"id\": 424242, \"message\": \"y\", \"permanent\": true}}]')",
         "GWA03", "job 424242 is in failures more than once"),
    Case("report_jobs-failure-claimed-id-twice",
         "select graphile_worker.report_jobs('w', null, '[{{\"id\": {job}, \"message\": \"x\"}}, "
         "{{\"id\": {job}, \"message\": \"y\", \"permanent\": true}}]')", "GWA03"),
    Case("report_jobs-completed-and-failed",
         "select graphile_worker.report_jobs('w', array[424242]::bigint[], "
         "'[{{\"id\": 424242, \"message\": \"x\"}}]')",
         "GWA03", "job 424242 is reported both completed and failed"),
    Case("report_jobs-claimed-completed-and-failed",
         "select graphile_worker.report_jobs('w', array[{job}]::bigint[], "
         "'[{{\"id\": {job}, \"message\": \"x\"}}]')", "GWA03"),
    # return_jobs
    Case("return_jobs-null-worker",
         "select graphile_worker.return_jobs(null, array[{job}]::bigint[])", "GWA01"),
    Case("return_jobs-empty-worker",
         "select graphile_worker.return_jobs('', array[{job}]::bigint[])", "GWA01"),
    Case("return_jobs-long-worker",
         f"select graphile_worker.return_jobs('{LONG_129}', array[{{job}}]::bigint[])", "GWA02"),
    Case("return_jobs-now-null",
         "select graphile_worker.return_jobs('w', array[{job}]::bigint[], null)", "GWA01"),
    # return_unheld_jobs
    Case("return_unheld_jobs-null-worker",
         "select graphile_worker.return_unheld_jobs(null, '{{}}'::bigint[])", "GWA01"),
    Case("return_unheld_jobs-long-worker",
         f"select graphile_worker.return_unheld_jobs('{LONG_129}', '{{{{}}}}'::bigint[])", "GWA02"),
    Case("return_unheld_jobs-null-held",
         "select graphile_worker.return_unheld_jobs('w', null)", "GWA01"),
    Case("return_unheld_jobs-now-null",
         "select graphile_worker.return_unheld_jobs('w', '{{}}'::bigint[], null)", "GWA01"),
    # reset_locked: a job locked 5 hours ago would be swept by a partial run.
    Case("reset_locked-negative",
         "select graphile_worker.reset_locked(interval '-1 hour')", "GWA02",
         "older_than must not be negative, not -01:00:00"),
    Case("reset_locked-null-interval", "select graphile_worker.reset_locked(null)", "GWA01",
         "older_than and now must not be null"),
    Case("reset_locked-null-now", "select graphile_worker.reset_locked(now => null)", "GWA01"),
    # next_job_due_at
    Case("next_job_due_at-null-now",
         "select graphile_worker.next_job_due_at(array['job1'], null, null)", "GWA01"),
    # parse_crontab: scheduling merges the payload as jsonb
    Case("parse_crontab-payload-nul",
         "select * from graphile_worker.parse_crontab("
         "'* * * * * job1 {{\"a\": \"\\u0000\"}}')", "GWC07",
         "crontab line 1: the payload is not valid JSON"),
]


def _seed(db: psycopg.Connection) -> tuple[int, int]:
    """Jobs in every state, so that a partial run of a failing call would change something.
    Returns the id of a job claimed by worker 'w' and of an unlocked one."""
    add_job(db, "job1", queue_name="q", job_key="fine", payload=[1])
    free = add_job(db, "job1", queue_name="q2")
    assert free is not None
    stale = add_job(db, "job1")
    assert stale is not None
    db.execute(
        "update graphile_worker._private_jobs set locked_by = 'gone', attempts = 1, "
        "locked_at = now() - interval '5 hours' where id = %s", [stale["id"]]
    )
    [claimed] = get_jobs(db, "w", ["job1"])
    assert claimed["id"] != free["id"]
    return int(claimed["id"]), int(free["id"])


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_raises_sqlstate_and_changes_nothing(db: psycopg.Connection, case: Case) -> None:
    claimed, free = _seed(db)
    before = snapshot(db)
    with pytest.raises(psycopg.Error) as caught:
        db.execute(case.sql.format(job=claimed, free=free))
    err: Any = caught.value
    assert err.sqlstate == case.sqlstate, err
    if case.message is not None:
        assert err.diag.message_primary == case.message
    if case.explained:
        assert err.diag.message_hint, err
        if case.message is not None and case.sqlstate != "GWA01":
            assert err.diag.message_detail, err
    assert snapshot(db) == before


def test_bad_input_cases_have_unique_messages() -> None:
    messages = [c.message for c in CASES if c.message is not None]
    assert len(messages) == len(set(messages))


@pytest.mark.parametrize(
    "sql",
    [
        "select graphile_worker.add_job('t', job_key_mode => 'bogus')",
        "select graphile_worker.add_job('t', job_key => null, job_key_mode => 'bogus')",
    ],
)
def test_bad_input_invalid_key_mode_without_key_is_not_raised(
    db: psycopg.Connection, sql: str
) -> None:
    db.execute(sql)


def test_bad_input_limits_themselves_are_accepted(db: psycopg.Connection) -> None:
    row = add_job(db, "t" * 128, queue_name="q" * 128, job_key="k" * 512, max_attempts=32767,
                  priority=-32768)
    assert row is not None
    assert add_job(db, "t", job_key="k", max_attempts=1, priority=32767) is not None
    assert add_job(db, "t", flags=[]) is not None
