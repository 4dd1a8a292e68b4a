"""Mixed fleets: Node graphile-worker 0.18 and gw_runner on one database (only CREATE
EXTENSION graphile_worker ran), each running the jobs the other enqueues and retrying the jobs
the other failed."""

from __future__ import annotations

import json
import math
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import psycopg.sql
import pytest

from gw_runner import JobSpec, add_job, add_jobs
from tests.compat.conftest import (
    log_of,
    node_cmd,
    py_cmd,
    run_py_once,
    stop_node,
    wait_for,
)
from tests.helpers import rows, scalar

FUTURE = "2100-01-01T00:00:00.000Z"
PAST = "2000-01-01T00:00:00.000Z"


def _node_add_jobs(node_env: dict[str, str], specs: list[dict[str, Any]],
                   batch: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    env = dict(node_env)
    if batch is not None:
        env["ADD_JOBS_BATCH"] = json.dumps(batch)
    out = subprocess.run(
        node_cmd("add-jobs"), env=env, input=json.dumps(specs), capture_output=True,
        text=True, timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _by_n(db: psycopg.Connection) -> dict[int, dict[str, Any]]:
    found = rows(
        db,
        "select (payload->>'n')::int as n, job_id, runner, attempt, info, started_at"
        " from public.executions order by started_at",
    )
    ns = [r["n"] for r in found]
    assert len(ns) == len(set(ns)), f"a job ran twice: {ns}"
    return {r["n"]: r for r in found}


def test_gw_runner_runs_jobs_added_by_node_worker_utils(
    executions: psycopg.Connection, node_env: dict[str, str]
) -> None:
    db = executions
    created = _node_add_jobs(
        node_env,
        [
            {"identifier": "record", "payload": {"n": 1},
             "spec": {"jobKey": "k1", "queueName": "qa", "priority": 3}},
            # same key: replaces n=1 (payload, queue, priority, max attempts)
            {"identifier": "record", "payload": {"n": 2},
             "spec": {"jobKey": "k1", "queueName": "qa", "priority": 3, "maxAttempts": 9}},
            {"identifier": "record", "payload": {"n": 3}, "spec": {"runAt": PAST, "priority": -1}},
            {"identifier": "record", "payload": {"n": 4}, "spec": {"queueName": "qa"}},
            {"identifier": "record", "payload": {"n": 5}, "spec": {"runAt": FUTURE}},
            {"identifier": "record", "payload": {"n": 6}, "spec": {"flags": ["b", "a"]}},
            {"identifier": "record", "payload": {"n": 9}, "spec": {"jobKey": "k9", "runAt": FUTURE}},
            # preserve_run_at: new payload, the future run_at stays, so it does not run
            {"identifier": "record", "payload": {"n": 10},
             "spec": {"jobKey": "k9", "jobKeyMode": "preserve_run_at", "runAt": PAST}},
            {"identifier": "record", "payload": {"n": 11}, "spec": {"jobKey": "k11"}},
            # unsafe_dedupe: the existing job is kept as it is
            {"identifier": "record", "payload": {"n": 12},
             "spec": {"jobKey": "k11", "jobKeyMode": "unsafe_dedupe", "priority": 5}},
        ],
        batch=[
            {"identifier": "record", "payload": {"n": 7}, "queueName": "qb", "jobKey": "k7"},
            {"identifier": "record", "payload": {"n": 8}, "priority": 2, "runAt": PAST},
        ],
    )
    assert len(created) == 12
    assert created[0]["id"] == created[1]["id"]
    assert created[8]["id"] == created[9]["id"]

    run_py_once(node_env, "-j", "1", "--poll-interval", "0.2")

    done = _by_n(db)
    assert sorted(done) == [2, 3, 4, 6, 7, 8, 11]
    assert {r["runner"] for r in done.values()} == {"python"}
    assert all(r["attempt"] == 1 for r in done.values())
    info = {n: r["info"] for n, r in done.items()}
    assert info[2] == {"queue_name": "qa", "key": "k1", "priority": 3, "max_attempts": 9,
                       "flags": None, "run_at": info[2]["run_at"]}
    assert datetime.fromisoformat(info[3]["run_at"]) == datetime(2000, 1, 1, tzinfo=UTC)
    assert info[3]["priority"] == -1 and info[3]["queue_name"] is None
    assert (info[4]["queue_name"], info[4]["key"], info[4]["max_attempts"]) == ("qa", None, 25)
    assert info[6]["flags"] == ["a", "b"]
    assert (info[7]["queue_name"], info[7]["key"]) == ("qb", "k7")
    assert info[8]["priority"] == 2
    assert info[11]["priority"] == 0, "unsafe_dedupe kept the first job"
    first = min(done.values(), key=lambda r: r["started_at"])
    assert str(first["job_id"]) == created[2]["id"], "the priority -1 job ran first (-j 1)"
    # Node's jobs with a future run_at wait, untouched (n=10 replaced n=9's payload).
    left = rows(
        db,
        "select key, payload->>'n' as n, attempts, locked_by, run_at"
        " from graphile_worker._private_jobs"
        " order by id",
    )
    future = datetime(2100, 1, 1, tzinfo=UTC)
    assert [(r["key"], r["n"], r["attempts"], r["locked_by"], r["run_at"]) for r in left] == [
        (None, "5", 0, None, future),
        ("k9", "10", 0, None, future),
    ]
    assert scalar(
        db, "select count(*) from graphile_worker._private_job_queues where locked_by is not null"
    ) == 0


def test_node_worker_runs_jobs_added_by_the_python_api_and_sql(
    executions: psycopg.Connection, node_env: dict[str, str], spawn: Any
) -> None:
    db = executions
    past = datetime(2000, 1, 1, tzinfo=UTC)
    j1 = add_job(db, "record", {"n": 1}, queue_name="pq", priority=-2, job_key="pk",
                 max_attempts=3, flags=["x"])
    j2 = add_job(db, "record", {"n": 2}, queue_name="pq", job_key="pk", priority=-2,
                 max_attempts=4)
    assert j1.id == j2.id
    batch = add_jobs(db, [
        JobSpec("record", {"n": 3}, run_at=past, priority=4),
        JobSpec("record", {"n": 4}, queue_name="pq"),
        JobSpec("record", {"n": 5}, run_at=datetime.now(UTC) + timedelta(days=1)),
        JobSpec("record", {"n": 6}, job_key="bk", flags=["y", "z"]),
    ])
    db.execute("select graphile_worker.add_job('record', '{\"n\": 7}', queue_name => 'sq')")
    # a job the gw_runner-side helpers add (the same SQL), run by Node
    db.execute(
        "select graphile_worker.add_jobs(array[row('record', '{\"n\": 8}', null, null, 2, 'sk',"
        " 1, null)::graphile_worker.job_spec])"
    )
    spawn(node_cmd("worker"), {**node_env, "CONCURRENCY": "2"}, "node")
    wait_for(lambda: scalar(db, "select count(*) from graphile_worker._private_jobs") == 1, 60,
             "Node to run every due job")
    done = _by_n(db)
    assert sorted(done) == [2, 3, 4, 6, 7, 8]
    assert {r["runner"] for r in done.values()} == {"node"}
    info = {n: r["info"] for n, r in done.items()}
    assert (info[2]["queue_name"], info[2]["key"], info[2]["priority"],
            info[2]["max_attempts"], info[2]["flags"]) == ("pq", "pk", -2, 4, None)
    assert datetime.fromisoformat(info[3]["run_at"].replace("Z", "+00:00")) == past
    assert info[3]["priority"] == 4
    assert info[4]["queue_name"] == "pq"
    assert (info[6]["key"], info[6]["flags"]) == ("bk", ["y", "z"])
    assert info[7]["queue_name"] == "sq"
    assert (info[8]["key"], info[8]["max_attempts"], info[8]["priority"]) == ("sk", 2, 1)
    assert done[2]["job_id"] == j1.id and done[6]["job_id"] == batch[3].id
    assert scalar(db, "select (payload->>'n')::int from graphile_worker._private_jobs") == 5


# --- retries across runtimes ------------------------------------------------------------------

PARK = """
with j as (
  select id, run_at, attempts, last_error, locked_by, clock_timestamp() as seen
  from graphile_worker._private_jobs where id = %(id)s and locked_at is null and attempts = %(n)s
  for update
), parked as (
  update graphile_worker._private_jobs p set run_at = now() + interval '1 day'
  from j where p.id = j.id
)
select j.run_at, j.attempts, j.last_error, j.locked_by, j.seen from j
"""


def _park_after_failure(db: psycopg.Connection, job_id: int, attempt: int,
                        timeout: float = 60) -> dict[str, Any]:
    """Wait until attempt `attempt` of the job has failed (unlocked, attempts = attempt); in the
    same statement read its run_at, last_error and the time it was seen, and park the job a
    day ahead so no runner retries it before the test hands it over."""

    def poll() -> dict[str, Any] | None:
        found = rows(db, PARK, {"id": job_id, "n": attempt})
        if found:
            return found[0]
        now_attempts = scalar(
            db, "select attempts from graphile_worker._private_jobs where id = %s", (job_id,)
        )
        assert now_attempts <= attempt, f"attempt {attempt + 1} started before the hand-over"
        return None

    return wait_for(poll, timeout, f"the failure of attempt {attempt}")


def _execution(db: psycopg.Connection, attempt: int) -> dict[str, Any]:
    found = rows(
        db, "select runner, prev_error, started_at from public.executions where attempt = %s",
        (attempt,),
    )
    assert len(found) == 1, found
    return found[0]


def _assert_backoff(job: dict[str, Any], started_at: datetime, attempt: int) -> None:
    """run_at = now + exp(attempt) s, where `now` (the failing transaction's) lies between the
    handler's start and the moment the test saw the failure (all clocks are the server's)."""
    base = job["run_at"] - timedelta(seconds=math.exp(min(attempt, 10)))
    slack = timedelta(milliseconds=1)
    assert started_at - slack <= base <= job["seen"] + slack, (
        f"attempt {attempt}: run_at {job['run_at']} is not exp({attempt}) s after the failure "
        f"(between {started_at} and {job['seen']})"
    )


def _unpark(db: psycopg.Connection, job_id: int) -> None:
    db.execute(
        "update graphile_worker._private_jobs set run_at = now() - interval '1 second'"
        " where id = %s", (job_id,),
    )


def _node_attempt(db: psycopg.Connection, node_env: dict[str, str], spawn: Any,
                  tmp_path: Path, job_id: int, attempt: int) -> dict[str, Any]:
    node = spawn(node_cmd("worker"), {**node_env, "CONCURRENCY": "1"}, f"node-{attempt}")
    job = _park_after_failure(db, job_id, attempt)
    stop_node(node, tmp_path / f"node-{attempt}.log")
    return job


def test_retries_alternate_between_node_and_gw_runner(
    executions: psycopg.Connection, node_env: dict[str, str], spawn: Any, tmp_path: Path
) -> None:
    """Attempts 1, 3, 5 by Node and 2, 4 by gw_runner: each sees the other's attempt count
    and last_error, computes the same backoff, and the fifth failure is final for both."""
    db = executions
    job_id = scalar(
        db,
        "select id from graphile_worker.add_job('fail', '{}', queue_name => 'rq',"
        " max_attempts => 5)",
    )
    expected_errors = {
        1: "node failed 1",
        2: "RuntimeError: python failed 2",
        3: "node failed 3",
        4: "RuntimeError: python failed 4",
        5: "node failed 5",
    }
    for attempt in range(1, 6):
        if attempt % 2:
            job = _node_attempt(db, node_env, spawn, tmp_path, job_id, attempt)
        else:
            run_py_once(node_env, "--poll-interval", "0.2")
            job = _park_after_failure(db, job_id, attempt, timeout=5)
        execution = _execution(db, attempt)
        assert execution["runner"] == ("node" if attempt % 2 else "python")
        assert execution["prev_error"] == expected_errors.get(attempt - 1)
        assert job["last_error"] == expected_errors[attempt]
        assert job["locked_by"] is None
        if attempt < 5:
            _assert_backoff(job, execution["started_at"], attempt)
        assert scalar(
            db, "select locked_by from graphile_worker._private_job_queues where queue_name = 'rq'"
        ) is None, "the failing runner unlocked the named queue"
        _unpark(db, job_id)

    # Attempts used up: the job stays, permanently failed, and neither runtime takes it again.
    final = rows(
        db,
        "select attempts, max_attempts, last_error, locked_by from graphile_worker.jobs"
        " where id = %s", (job_id,),
    )
    assert final == [{"attempts": 5, "max_attempts": 5, "last_error": "node failed 5",
                      "locked_by": None}]
    run_py_once(node_env, "--poll-interval", "0.2")
    assert scalar(db, "select count(*) from public.executions") == 5


# --- one queue, three processes ---------------------------------------------------------------

N_JOBS = 10_000
N_QUEUES = 20
OVERLAPS = """
select q, job_id, started_at, prev_job_id, prev_finished_at from (
  select payload->>'q' as q, job_id, started_at,
         lag(job_id) over w as prev_job_id, lag(finished_at) over w as prev_finished_at
  from public.executions where payload->>'q' is not null
  window w as (partition by payload->>'q' order by started_at)
) x where prev_finished_at > started_at
limit 5
"""


@pytest.mark.slow
@pytest.mark.parametrize("node_local_queue", ["-1", "50"], ids=["node-local-queue-off",
                                                                "node-local-queue-50"])
def test_node_and_two_gw_runners_drain_10000_jobs_exactly_once_and_serially_per_queue(
    executions: psycopg.Connection, node_env: dict[str, str], spawn: Any, tmp_path: Path,
    node_local_queue: str,
) -> None:
    db = executions
    env = {**node_env, "POLL_INTERVAL_MS": "500", "CONCURRENCY": "4",
           "LOCAL_QUEUE": node_local_queue}
    procs = {"node": spawn(node_cmd("worker"), {**env, "RUNNER_NAME": "node"}, "node")}
    for name in ("python-1", "python-2"):
        # --batch-size 1: a claimed job of a named queue locks its queue while it waits in the
        # local queue, so a runner with big batches takes every queue head and the other
        # processes get none (they only learn a queue is free by polling): participation of
        # all three would be luck. With one job per claim a runner holds at most 5 queues.
        procs[name] = spawn(
            py_cmd("-j", "4", "--batch-size", "1", "--poll-interval", "0.5"),
            {**env, "RUNNER_NAME": name}, name,
        )
    wait_for(lambda: "READY" in log_of(tmp_path, "node"), 60, "the Node worker to start")
    for name in ("python-1", "python-2"):
        wait_for(lambda n=name: "starting" in log_of(tmp_path, n), 60, f"{name} to start")

    # 20 named queues and the null queue, interleaved; 1 ms of work per job.
    ids = [r[0] for r in db.execute(
        """
        select j.id from graphile_worker.add_jobs(array(
          select row('serial', json_build_object('q', q, 'ms', 1), q, null, null, null, null,
                     null)::graphile_worker.job_spec
          from (select case when i %% %(k)s = %(n_q)s then null else 'q' || (i %% %(k)s) end
                from generate_series(1, %(n)s) i) s(q))) j
        """,
        {"n": N_JOBS, "k": N_QUEUES + 1, "n_q": N_QUEUES},
    ).fetchall()]
    assert len(ids) == N_JOBS

    def drained() -> bool:
        for name, proc in procs.items():
            assert proc.poll() is None, f"{name} exited:\n{log_of(tmp_path, name)}"
        return scalar(db, "select count(*) from graphile_worker._private_jobs") == 0

    wait_for(drained, 120, f"the fleet to run {N_JOBS} jobs")

    counts = rows(
        db,
        "select count(*) as runs, count(distinct job_id) as jobs,"
        " count(*) filter (where finished_at is null) as unfinished,"
        " count(*) filter (where attempt <> 1) as retried from public.executions",
    )[0]
    assert counts == {"runs": N_JOBS, "jobs": N_JOBS, "unfinished": 0, "retried": 0}
    ran = {r[0] for r in db.execute("select job_id from public.executions").fetchall()}
    assert ran == set(ids)
    overlaps = rows(db, OVERLAPS)
    assert overlaps == [], "two jobs of one named queue ran at the same time"

    # All three took part, in the named queues too (so the queue lock held across runtimes).
    by_runner = {
        r["runner"]: r for r in rows(
            db,
            "select runner, count(*) as jobs, count(distinct payload->>'q') as queues"
            " from public.executions group by runner",
        )
    }
    assert set(by_runner) == {"node", "python-1", "python-2"}, by_runner
    shared = scalar(
        db,
        "select count(*) from (select payload->>'q' from public.executions"
        " where payload->>'q' is not null group by 1 having count(distinct runner) = 3) s",
    )
    assert shared >= 1, f"no named queue was served by all three processes: {by_runner}"
    assert scalar(
        db, "select count(*) from graphile_worker._private_job_queues where locked_by is not null"
    ) == 0


# --- recovery: Node's locks are left to the 4-hour rule ---------------------------------------


def test_gw_runner_recovery_leaves_a_node_workers_running_job_alone(
    executions: psycopg.Connection, node_env: dict[str, str], spawn: Any, tmp_path: Path,
    connect: Any,
) -> None:
    """Node workers never register for heartbeats: a gw_runner starting beside them (it runs
    reset_locked at start) and the heartbeat sweep, even a day ahead, leave a Node worker's
    running job and queue locked; the job runs once, by Node."""
    db = executions
    gate = connect()
    gate.execute("select pg_advisory_lock(4242)")  # Node's job runs until it is released
    slow = scalar(
        db, "select id from graphile_worker.add_job('gate', '{\"lock\": 4242}', queue_name => 'nq')"
    )
    node = spawn(node_cmd("worker"), {**node_env, "CONCURRENCY": "1"}, "node")
    node_id = wait_for(
        lambda: scalar(db, "select locked_by from graphile_worker._private_jobs where id = %s",
                       (slow,)),
        60, "Node to claim the slow job",
    )
    assert node_id.startswith("pool-"), "Node locks with its pool id"
    spawn(py_cmd("-j", "2", "--poll-interval", "0.5"), node_env, "python")
    wait_for(lambda: "registered for crash recovery" in log_of(tmp_path, "python"), 60,
             "gw_runner to start")
    db.execute("select graphile_worker.add_job('record', '{\"n\": 1}', queue_name => 'nq')")
    db.execute("select graphile_worker.add_job('record', '{\"n\": 2}')")
    wait_for(lambda: scalar(db, "select count(*) from public.executions where runner = 'python'")
             == 1, 30, "gw_runner to run the unqueued job")

    swept = rows(db, "select worker_id, jobs_recovered from"
                     " graphile_worker.recover_stale_workers(now => now() + interval '1 day')")
    assert all(r["worker_id"].startswith("gw-") for r in swept), swept
    locks = rows(
        db,
        "select (select locked_by from graphile_worker._private_jobs where id = %s) as job,"
        " (select locked_by from graphile_worker._private_job_queues where queue_name = 'nq')"
        " as queue",
        (slow,),
    )[0]
    assert locks == {"job": node_id, "queue": node_id}
    gate.execute("select pg_advisory_unlock(4242)")

    wait_for(lambda: scalar(db, "select count(*) from graphile_worker._private_jobs") == 0, 60,
             "both jobs of queue nq to run")
    runs = rows(db, "select job_id, runner, (payload->>'n')::int as n, started_at, finished_at"
                    " from public.executions order by started_at")
    assert [(r["runner"], r["n"]) for r in runs] == [("node", None), ("python", 2),
                                                     (runs[2]["runner"], 1)]
    assert runs[0]["job_id"] == slow and runs[0]["finished_at"] <= runs[2]["started_at"], (
        "the queued job waited for Node's job of the same queue"
    )
    assert node.poll() is None


# --- NOTIFY -----------------------------------------------------------------------------------


def test_a_job_added_by_either_side_wakes_the_other_at_once(
    executions: psycopg.Connection, node_env: dict[str, str], spawn: Any, tmp_path: Path
) -> None:
    """Both poll only once a minute here: the `jobs:insert` NOTIFY of the other side's enqueue
    is what makes them run a new job within seconds. A mixed fleet sets
    graphile_worker.notify_inserts = 'always' (docs/compatibility.md): without it, enqueuers
    notify only while a gw_runner waits, and a busy gw_runner would leave Node to its poll."""
    db = executions
    db.execute("select set_config('graphile_worker.notify_inserts', 'always', false)")
    db.execute(psycopg.sql.SQL("alter database {} set graphile_worker.notify_inserts = 'always'")
               .format(psycopg.sql.Identifier(db.info.dbname)))
    spawn(node_cmd("worker"), {**node_env, "POLL_INTERVAL_MS": "60000"}, "node")
    spawn(py_cmd("--poll-interval", "60"), node_env, "python")
    wait_for(
        lambda: "READY" in log_of(tmp_path, "node") and scalar(
            db,
            "select count(*) from pg_stat_activity where datname = current_database()"
            " and query ilike 'LISTEN%%'",
        ) >= 2,
        60, "both workers to LISTEN",
    )
    # Node's WorkerUtils enqueues a task only gw_runner knows ...
    py_job = int(_node_add_jobs(node_env, [{"identifier": "record_py", "payload": {}}])[0]["id"])
    wait_for(lambda: scalar(db, "select count(*) from public.executions where job_id = %s",
                            (py_job,)), 20, "gw_runner to run the job Node added")
    # ... and the Python API one only Node knows.
    node_job = add_job(db, "record_node", {}).id
    wait_for(lambda: scalar(db, "select count(*) from public.executions where job_id = %s",
                            (node_job,)), 20, "Node to run the job the Python API added")
    assert rows(db, "select job_id, runner from public.executions order by started_at") == [
        {"job_id": py_job, "runner": "python"}, {"job_id": node_job, "runner": "node"},
    ]


# --- history with a mixed fleet (docs/history.md) -----------------------------------------------

def test_a_mixed_fleet_works_with_retention_on(
    executions: psycopg.Connection, node_env: dict[str, str], spawn: Any
) -> None:
    """With a retention set, Node and gw_runner both process the jobs exactly once; what
    gw_runner completes is recorded, what Node completes leaves no row (Node deletes it with
    its own SQL), and no attempt errors are left after a prune, whichever side completed the
    job gw_runner failed once."""
    db = executions
    db.execute("select graphile_worker.set_retention(null, '1 day')")
    # a job gw_runner fails once (its attempt error is recorded), then Node completes
    failing = scalar(db, "select id from graphile_worker.add_job('fail', '{}', max_attempts => 3)")
    run_py_once(node_env, "--poll-interval", "0.2")
    assert scalar(db, "select count(*) from graphile_worker._private_attempt_errors") == 1
    ids = [scalar(db, "select id from graphile_worker.add_job(%s, %s)",
                  (task, json.dumps({"n": n})))
           for n, task in enumerate(["record", "record_node", "record_py"] * 14, start=1)]
    # it becomes a 'record' job that either runtime may complete
    db.execute("update graphile_worker._private_jobs set task_id = (select id from"
               " graphile_worker._private_tasks where identifier = 'record'), run_at = now(),"
               " payload = '{\"n\": 0}' where id = %s", (failing,))
    spawn(node_cmd("worker"), {**node_env, "CONCURRENCY": "2"}, "node")
    spawn(py_cmd("-j", "2", "--poll-interval", "0.2"), node_env, "python")
    wait_for(lambda: scalar(db, "select count(*) from graphile_worker._private_jobs") == 0, 90,
             "the fleet to run every job")
    done = rows(db, "select job_id, runner from public.executions where payload ? 'n'")
    assert sorted(r["job_id"] for r in done) == sorted([*ids, failing]), "each job ran once"
    by_runner = {r["job_id"]: r["runner"] for r in done}
    recorded = {r["id"]: r["outcome"] for r in rows(
        db, "select id, outcome from graphile_worker.finished_jobs")}
    python_done = {i for i, runner in by_runner.items() if runner == "python"}
    assert len(python_done) >= 14 and len(by_runner) - len(python_done) >= 14  # both took part
    assert set(recorded) == python_done
    assert set(recorded.values()) <= {"completed"}
    for job_id, runner in by_runner.items():
        state = scalar(db, "select state from graphile_worker.job_status(%s)", (job_id,))
        assert state == ("completed" if runner == "python" else "unknown"), (job_id, runner)
    db.execute("select graphile_worker.prune_finished_jobs()")
    assert scalar(db, "select count(*) from graphile_worker._private_attempt_errors") == 0
