"""get_jobs: what is claimed, in which order, and how (runner API; upstream's fetch query,
forbiddenFlags, main.runTaskListOnce future jobs and serial queues, section 7.3 #621)."""

from __future__ import annotations

from datetime import timedelta

import psycopg
from helpers import add_job, add_jobs, get_jobs, job, job_queues, one, report_jobs, scalar


def test_get_jobs_claims_and_counts_attempt_at_checkout(db: psycopg.Connection) -> None:
    row = add_job(db, "job1", payload={"a": 1}, queue_name="q", job_key="k", flags=["f"])
    assert row is not None
    now = scalar(db, "select now() + interval '1 second'")
    [claimed] = get_jobs(db, "worker-1", ["job1"], now=now)
    assert claimed["id"] == row["id"]
    assert claimed["task_identifier"] == "job1"
    assert claimed["queue_name"] == "q"
    assert claimed["payload"] == {"a": 1}
    assert claimed["attempts"] == 1
    assert claimed["max_attempts"] == 25
    assert claimed["key"] == "k"
    assert claimed["flags"] == {"f": True}
    assert claimed["revision"] == 0
    assert claimed["locked_at"] == now
    assert claimed["job_queue_id"] == row["job_queue_id"]
    stored = job(db, row["id"])
    assert (stored["locked_by"], stored["locked_at"], stored["attempts"]) == ("worker-1", now, 1)
    assert stored["updated_at"] == row["updated_at"]  # not touched by fetch, as upstream
    [queue] = job_queues(db)
    assert (queue["locked_by"], queue["locked_at"]) == ("worker-1", now)


def test_get_jobs_orders_by_priority_then_run_at(db: psycopg.Connection) -> None:
    base = scalar(db, "select now() - interval '1 hour'")
    specs = [
        ("p5", 5, base),
        ("p0_late", 0, base + timedelta(minutes=2)),
        ("p0_early", 0, base + timedelta(minutes=1)),
        ("pm1", -1, base + timedelta(minutes=3)),
    ]
    for name, priority, run_at in specs:
        add_job(db, "job1", payload={"name": name}, priority=priority, run_at=run_at)
    batch = get_jobs(db, "w", ["job1"], batch_size=4)
    assert [j["payload"]["name"] for j in batch] == ["pm1", "p0_early", "p0_late", "p5"]


def test_get_jobs_one_at_a_time_follows_the_same_order(db: psycopg.Connection) -> None:
    base = scalar(db, "select now() - interval '1 hour'")
    for i, priority in enumerate([3, 1, 2]):
        add_job(
            db,
            "job1",
            payload={"p": priority},
            priority=priority,
            run_at=base + timedelta(seconds=i),
        )
    order = [get_jobs(db, "w", ["job1"])[0]["payload"]["p"] for _ in range(3)]
    assert order == [1, 2, 3]
    assert get_jobs(db, "w", ["job1"]) == []


def test_get_jobs_returns_at_most_one_job_per_named_queue_per_batch(
    db: psycopg.Connection,
) -> None:
    base = scalar(db, "select now() - interval '1 hour'")
    specs = []
    for i in range(3):
        specs.append(
            {
                "identifier": "job1",
                "queue_name": "A",
                "payload": {"n": f"A{i}"},
                "run_at": base + timedelta(seconds=i),
            }
        )
    for i in range(2):
        specs.append(
            {
                "identifier": "job1",
                "queue_name": "B",
                "payload": {"n": f"B{i}"},
                "run_at": base + timedelta(seconds=10 + i),
            }
        )
    for i in range(2):
        specs.append(
            {
                "identifier": "job1",
                "payload": {"n": f"N{i}"},
                "run_at": base + timedelta(seconds=20 + i),
            }
        )
    add_jobs(db, specs)

    batch = get_jobs(db, "w1", ["job1"], batch_size=10)
    assert sorted(j["payload"]["n"] for j in batch) == ["A0", "B0", "N0", "N1"]
    # The other jobs of A and B stay untouched and unlocked.
    untouched = scalar(
        db,
        "select count(*) from graphile_worker._private_jobs "
        "where locked_at is null and attempts = 0",
    )
    assert untouched == 3
    # Both queues stay locked until their job is reported.
    assert [(q["queue_name"], q["locked_by"]) for q in job_queues(db)] == [("A", "w1"), ("B", "w1")]
    assert get_jobs(db, "w2", ["job1"], batch_size=10) == []

    a0 = next(j for j in batch if j["payload"]["n"] == "A0")
    report_jobs(db, "w1", completed_job_ids=[a0["id"]])
    [next_a] = get_jobs(db, "w2", ["job1"], batch_size=10)
    assert next_a["payload"]["n"] == "A1"
    assert next_a["queue_name"] == "A"


def test_get_jobs_serial_queue_runs_one_job_at_a_time(db: psycopg.Connection) -> None:
    for i in range(5):
        add_job(db, "job1", payload={"i": i}, queue_name="serial")
    done = []
    workers = ["w1", "w2", "w3"]
    for step in range(5):
        claims = [get_jobs(db, w, ["job1"], batch_size=5) for w in workers]
        claimed = [(w, j) for w, c in zip(workers, claims, strict=True) for j in c]
        assert len(claimed) == 1, claims
        w, j = claimed[0]
        assert j["payload"] == {"i": step}
        # While it runs, nobody gets another job of the queue.
        assert all(get_jobs(db, x, ["job1"], batch_size=5) == [] for x in workers)
        report_jobs(db, w, completed_job_ids=[j["id"]])
        done.append(j["payload"]["i"])
        workers = workers[1:] + workers[:1]
    assert done == [0, 1, 2, 3, 4]


def test_get_jobs_skips_future_jobs_until_due(db: psycopg.Connection) -> None:
    run_at = scalar(db, "select now() + interval '3 seconds'")
    row = add_job(db, "future", run_at=run_at)
    assert row is not None
    assert get_jobs(db, "w", ["future"]) == []
    assert get_jobs(db, "w", ["future"], now=run_at - timedelta(microseconds=1)) == []
    [claimed] = get_jobs(db, "w", ["future"], now=run_at)
    assert claimed["id"] == row["id"]


def test_get_jobs_skips_locked_and_permanently_failed_jobs(db: psycopg.Connection) -> None:
    locked = add_job(db, "job1")
    dead = add_job(db, "job1")
    assert locked is not None and dead is not None
    db.execute(
        "update graphile_worker._private_jobs set locked_by = 'other', locked_at = now() "
        "where id = %s",
        [locked["id"]],
    )
    db.execute(
        "update graphile_worker._private_jobs set attempts = max_attempts where id = %s",
        [dead["id"]],
    )
    assert get_jobs(db, "w", ["job1"], batch_size=10) == []


def test_get_jobs_ignores_lock_older_than_4_hours_until_swept(db: psycopg.Connection) -> None:
    # As upstream, the fetch does not treat an expired lock as no lock: only the sweep frees it.
    row = add_job(db, "job1", queue_name="q")
    assert row is not None
    db.execute(
        "update graphile_worker._private_jobs set locked_by = 'gone', "
        "locked_at = now() - interval '5 hours' where id = %s",
        [row["id"]],
    )
    assert get_jobs(db, "w", ["job1"]) == []


def test_get_jobs_only_claims_the_given_tasks(db: psycopg.Connection) -> None:
    add_job(db, "mine")
    add_job(db, "other")
    assert get_jobs(db, "w", ["unknown"]) == []
    assert get_jobs(db, "w", []) == []
    assert get_jobs(db, "w", None) == []
    claimed = get_jobs(db, "w", ["mine", "unknown"], batch_size=5)
    assert [j["task_identifier"] for j in claimed] == ["mine"]
    # A task list never creates task rows.
    assert scalar(db, "select count(*) from graphile_worker._private_tasks") == 2


def test_get_jobs_skips_jobs_with_a_forbidden_flag(db: psycopg.Connection) -> None:
    flagged = add_job(db, "job1", flags=["c", "d"])
    plain = add_job(db, "job1")
    assert flagged is not None and plain is not None
    claimed = get_jobs(db, "w", ["job1"], batch_size=5, forbidden_flags=["d"])
    assert [j["id"] for j in claimed] == [plain["id"]]
    assert job(db, flagged["id"])["attempts"] == 0


def test_get_jobs_unmatched_empty_or_null_forbidden_flags_skip_nothing(
    db: psycopg.Connection,
) -> None:
    for forbidden in (["z"], [], None):
        add_job(db, "job1", flags=["c", "d"])
        add_job(db, "job1")
        claimed = get_jobs(db, "w", ["job1"], batch_size=5, forbidden_flags=forbidden)
        assert len(claimed) == 2, forbidden
        report_jobs(db, "w", completed_job_ids=[j["id"] for j in claimed])


def test_get_jobs_batch_size_limits_the_claim(db: psycopg.Connection) -> None:
    add_jobs(db, [{"identifier": "job1"} for _ in range(5)])
    assert len(get_jobs(db, "w", ["job1"], batch_size=3)) == 3
    assert len(get_jobs(db, "w", ["job1"], batch_size=3)) == 2
    counts = one(
        db,
        "select count(*) filter (where locked_by = 'w') as locked, count(*) as total "
        "from graphile_worker._private_jobs",
    )
    assert counts == {"locked": 5, "total": 5}


def test_get_jobs_different_queues_run_in_parallel(db: psycopg.Connection) -> None:
    for i in range(5):
        add_job(db, "job1", payload={"i": i}, queue_name=f"queue_{i}")
    claims = [get_jobs(db, f"pool-{n}", ["job1"]) for n in range(5)]
    assert all(len(c) == 1 for c in claims)
    assert len({c[0]["queue_name"] for c in claims}) == 5
    lockers = {q["queue_name"]: q["locked_by"] for q in job_queues(db)}
    assert sorted(lockers.values()) == [f"pool-{n}" for n in range(5)]
    for c, n in zip(claims, range(5), strict=True):
        assert lockers[c[0]["queue_name"]] == f"pool-{n}"


def test_get_jobs_runs_a_named_queue_first_in_first_out_for_one_add_jobs_call(db) -> None:
    db.execute(
        "select graphile_worker.add_jobs(array(select row('t', json_build_object('i', i), 'serial', "
        "'2020-01-01', null, null, null, null)::graphile_worker.job_spec from generate_series(1, 6) as i))"
    )
    order = []
    for _ in range(6):
        ((job_id, payload),) = db.execute(
            "select id, payload from graphile_worker.get_jobs('w', array['t'], 10)"
        ).fetchall()
        order.append(payload["i"])
        db.execute("select * from graphile_worker.report_jobs('w', array[%s]::bigint[])", (job_id,))
    assert order == [1, 2, 3, 4, 5, 6]


def test_get_jobs_picks_the_earliest_candidates_across_tasks(db: psycopg.Connection) -> None:
    """With more candidates than a batch needs, the earliest win whichever task they belong
    to (task A's candidates are found first, task B's are earlier)."""
    base = scalar(db, "select now() - interval '1 hour'")
    for i in range(5):
        add_job(db, "task_a", payload={"n": f"A{i}"}, run_at=base + timedelta(minutes=10 + i))
        add_job(db, "task_b", payload={"n": f"B{i}"}, run_at=base + timedelta(minutes=i))
    batch = get_jobs(db, "w", ["task_a", "task_b"], batch_size=3)
    assert [j["payload"]["n"] for j in batch] == ["B0", "B1", "B2"]


def test_get_jobs_picks_the_earliest_queue_head(db: psycopg.Connection) -> None:
    """Queue heads are found in queue order; the claim still takes the earliest."""
    base = scalar(db, "select now() - interval '1 hour'")
    for i, queue in enumerate(["q1", "q2", "q3", "q4"]):
        add_job(db, "job1", payload={"q": queue}, queue_name=queue,
                run_at=base + timedelta(minutes=10 - i))
    order = [get_jobs(db, "w", ["job1"], batch_size=1)[0]["payload"]["q"] for _ in range(4)]
    assert order == ["q4", "q3", "q2", "q1"]


def test_get_jobs_orders_queue_heads_among_jobs_without_a_queue(db: psycopg.Connection) -> None:
    base = scalar(db, "select now() - interval '1 hour'")
    for i in range(3):
        add_job(db, "job1", payload={"n": f"plain{i}"}, run_at=base + timedelta(minutes=10 + i))
    add_job(db, "job1", payload={"n": "queued"}, queue_name="q", run_at=base)
    [first] = get_jobs(db, "w", ["job1"], batch_size=1)
    assert first["payload"]["n"] == "queued"
