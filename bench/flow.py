"""Flow-control workloads (SQL 0.1.8, set_task_limits): do the fleet-wide limits hold, and how
much of them does a fleet of runners use?

    python bench/run.py --workloads flow
    python bench/run.py --workloads flow --flow-parts max_running --flow-ms 50
    python bench/run.py --workloads flow --flow-out flow.json --flow-dir /tmp/flow  # keep logs

Each part runs in a fresh database against a fleet of runners (`python -m gw_runner
bench/flow_tasks.py -j 10`, default settings) that is started and waiting before the jobs are
enqueued in one add_jobs call, so start-up is not measured. Every job writes down its claim
time (locked_at) and its handler's start and end (bench/flow_tasks.py); history is on, so the
database's view, from the claim to the report (finished_at), is read back as well.

1. max_running: 4 runners drain `--flow-jobs` (5,000) jobs of `limited` (a `--flow-ms`, 20 ms,
   sleep) with max_running 3. The most jobs running at once and the time-weighted average
   running while a backlog exists (from the first start to the last claim: no job waits
   after it), by the handlers (start to end: the target, at most 3, average above 2.5) and
   by the database (claim to report: what max_running counts); the drain time and rate
   against the ideal 3 / duration.
2. rate_limit: 2 runners, 3,000 no-op jobs of `rated` with 600 starts per minute, run for
   `--flow-rate-seconds` (180). The most starts in any 60 s window [t, t + 60 s), t at each
   start, by handler start and by claim time; the share of the allowed rate used in the
   `--flow-rate-seconds` from the first claim. Starts come in bursts (the window frees the
   starts of a whole slot, rate_period / 60, at once): each is listed with its delay after
   the moment its starts became allowed.
3. mixed: 4 runners drain `--flow-free-jobs` (2,000) no-op jobs of `free` (enqueue to last
   report), alone and with 100 jobs of `limited` (300 ms, max_running 3) enqueued before them,
   alternating, `--flow-rounds` (2) times: the median drain rate of `free` both ways (mixed,
   every claim locks the control row of `limited`). The fleet stops once `free` is done.

4. cancel: 1 runner at -j 10 runs 10 `sleeper` jobs (10 minutes each); each is cancelled with
   its own cancel_jobs call, one after another, twice over (20 jobs): the time from
   sending the call to the handler's CancelledError (median and most; target under 1 s).

The calls of get_jobs, wait_for_jobs and next_job_due_at are counted (track_functions = pl).
Prints each part and a JSON document of all (written to `--flow-out` too). Nothing here asserts
a speed; a broken limit is reported as such (and the exit status is 1).
"""

from __future__ import annotations

import bisect
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from dbs import scratch_database

HERE = Path(__file__).resolve().parent
TASKS = HERE / "flow_tasks.py"

ENQUEUE_SQL = """
select count(*) from graphile_worker.add_jobs(
  array(select row(i, p, null, null, null, null, null, null)::graphile_worker.job_spec
        from unnest(%s::text[], %s::json[]) with ordinality as u(i, p, n) order by n))
"""
LIMITS_SQL = "select graphile_worker.set_task_limits(%s, %s, %s, %s::interval)"
TRACK_SQL = """
do $$ begin
  execute format('alter database %I set track_functions = ''pl''', current_database());
end $$
"""
WAITING_SQL = "select count(*) from graphile_worker._private_wait_marks where waiting"
LEFT_SQL = """
select count(*) from graphile_worker._private_jobs as j
join graphile_worker._private_tasks as t on t.id = j.task_id
where t.identifier = any(%s)
"""
RUNNING_SQL = "select running from graphile_worker.flow_controls() where name = %s"
FINISHED_SQL = """
select id, extract(epoch from first_started_at)::float8, extract(epoch from finished_at)::float8
from graphile_worker._private_finished_jobs where task_identifier = %s and outcome = 'completed'
"""
CALLS_SQL = """
select funcname, calls, total_time / greatest(calls, 1) from pg_stat_user_functions
where schemaname = 'graphile_worker'
  and funcname in ('get_jobs', 'wait_for_jobs', 'next_job_due_at', 'report_jobs')
"""


@dataclass(frozen=True, slots=True)
class Run:
    """One job as its handler wrote it down (epoch seconds)."""

    task: str
    id: int
    locked: float  # the claim's time (locked_at, the claiming transaction's now())
    start: float
    end: float
    runner: int


# -- the fleet ---------------------------------------------------------------------------------


def _setup(dsn: str, history: bool = True) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create extension graphile_worker")
        if history:
            conn.execute("select graphile_worker.set_retention(null, '1 day')")
        conn.execute(TRACK_SQL)


@contextmanager
def _fleet(dsn: str, n: int, concurrency: int, folder: Path, log_level: str) -> Iterator[None]:
    """n runners, each writing its jobs to folder/runner<i>.txt and its log to
    folder/runner<i>.log; yields once all of them wait for jobs, stops them afterwards."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(n):
            env = dict(os.environ, BENCH_FLOW_RECORD=str(folder / f"runner{i}.txt"))
            with open(folder / f"runner{i}.log", "ab") as log:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "gw_runner", str(TASKS), "-c", dsn,
                     "-j", str(concurrency), "--log-level", log_level],
                    env=env, stdout=subprocess.DEVNULL, stderr=log,
                ))
        deadline = time.monotonic() + 60
        with psycopg.connect(dsn, autocommit=True) as conn:
            while conn.execute(WAITING_SQL).fetchone() != (n,):
                _check_alive(procs, folder)
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the {n} runners did not all wait for jobs within 60 s")
                time.sleep(0.1)
        yield
        _check_alive(procs, folder)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=40)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _check_alive(procs: Sequence[subprocess.Popen[bytes]], folder: Path) -> None:
    for i, p in enumerate(procs):
        if p.poll() is not None:
            tail = (folder / f"runner{i}.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"runner {i} exited ({p.returncode}): {tail}")


def _enqueue(dsn: str, specs: list[tuple[str, str]]) -> float:
    """Enqueue (task, payload JSON) pairs in this order in one add_jobs call; returns the
    time of its commit."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(ENQUEUE_SQL, ([t for t, _ in specs], [p for _, p in specs]))
        return time.time()


def _wait_until_gone(dsn: str, tasks: list[str], timeout: float, sample: str | None = None
                     ) -> tuple[float, int]:
    """Poll until no job of these tasks is left; returns the time it was seen and the most
    `running` flow_controls() showed for task `sample` meanwhile (sampled every 50 ms)."""
    most = 0
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as conn:
        while True:
            if sample is not None:
                row = conn.execute(RUNNING_SQL, (sample,)).fetchone()
                most = max(most, row[0] if row and row[0] is not None else 0)
            left = conn.execute(LEFT_SQL, (tasks,)).fetchone()
            if left == (0,):
                return time.time(), most
            if time.monotonic() > deadline:
                raise RuntimeError(f"{left[0] if left else '?'} jobs of {tasks} left after "
                                   f"{timeout:.0f} s")
            time.sleep(0.05)


def _runs(folder: Path, task: str) -> list[Run]:
    out = []
    for path in sorted(folder.glob("runner*.txt")):
        runner = int(path.stem.removeprefix("runner"))
        for line in path.read_text().splitlines():
            t, i, locked, start, end = line.split()
            if t == task:
                out.append(Run(t, int(i), float(locked), float(start), float(end), runner))
    return out


def _finished(dsn: str, task: str) -> dict[int, tuple[float, float]]:
    """The database's view of each completed job: (claim, report) epoch seconds."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {i: (a, b) for i, a, b in conn.execute(FINISHED_SQL, (task,)).fetchall()}


def _calls(dsn: str) -> dict[str, dict[str, float]]:
    """Calls of the runner's functions so far and their mean time in ms (the runners
    stopped, so their counts have been sent)."""
    time.sleep(1.0)
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {name: {"calls": calls, "mean ms": ms}
                for name, calls, ms in conn.execute(CALLS_SQL).fetchall()}


def _n(calls: dict[str, dict[str, float]], name: str) -> int:
    return int(calls.get(name, {}).get("calls", 0))


# -- measures ----------------------------------------------------------------------------------


def max_overlap(intervals: Sequence[tuple[float, float]]) -> int:
    """The most half-open intervals [a, b) that hold one instant."""
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    most = now = 0
    for _, step in events:  # at a tie, an end (-1) comes before a start
        now += step
        most = max(most, now)
    return most


def mean_overlap(intervals: Sequence[tuple[float, float]], t0: float, t1: float) -> float:
    """The time-weighted average number of intervals holding an instant of [t0, t1]."""
    if t1 <= t0:
        return float("nan")
    return sum(max(0.0, min(b, t1) - max(a, t0)) for a, b in intervals) / (t1 - t0)


def max_in_window(times: Sequence[float], width: float) -> tuple[int, float]:
    """The most times in a window [t, t + width) for t at each of them, and that t."""
    ts = sorted(times)
    best, at, j = 0, ts[0] if ts else 0.0, 0
    for i, t in enumerate(ts):
        while j < len(ts) and ts[j] < t + width:
            j += 1
        if j - i > best:
            best, at = j - i, t
    return best, at


def bursts(times: Sequence[float], gap: float) -> list[tuple[float, float, int]]:
    """Runs of times with less than `gap` seconds between neighbours: (first, last, count)."""
    out: list[tuple[float, float, int]] = []
    for t in sorted(times):
        if out and t - out[-1][1] < gap:
            first, _, k = out[-1]
            out[-1] = (first, t, k + 1)
        else:
            out.append((t, t, 1))
    return out


# -- the parts ---------------------------------------------------------------------------------


def part_max_running(base_dsn: str, folder: Path, *, jobs: int, ms: float, limit: int,
                     runners: int, concurrency: int, log_level: str, history: bool = True
                     ) -> dict[str, Any]:
    """history False: no retention, so reports record nothing (the runner's own speed); the
    database's view (claim to report) is then not measured."""
    with scratch_database(base_dsn, "gw_flow") as dsn:
        _setup(dsn, history)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(LIMITS_SQL, ("limited", limit, None, None))
        with _fleet(dsn, runners, concurrency, folder, log_level):
            enqueued = _enqueue(dsn, [("limited", json.dumps({"ms": ms}))] * jobs)
            seen, sampled = _wait_until_gone(dsn, ["limited"],
                                             timeout=60 + 5 * jobs * ms / 1000 / limit,
                                             sample="limited")
        runs = _runs(folder, "limited")
        db = _finished(dsn, "limited") if history else {r.id: (r.locked, r.end) for r in runs}
        calls = _calls(dsn)
    if len(runs) != jobs or len(db) != jobs:
        raise RuntimeError(f"{len(runs)} handler records and {len(db)} finished jobs, "
                           f"not {jobs}")
    handler = [(r.start, r.end) for r in runs]
    claimed = [db[r.id] for r in runs]  # without history: claim to handler end
    last_claim = max(a for a, _ in claimed)
    drain = max(b for _, b in claimed) - enqueued
    return {
        "history": history,
        "jobs": jobs, "job ms": ms, "max_running": limit, "runners": runners,
        "concurrency": concurrency,
        "handler max running": max_overlap(handler),
        "handler mean running (backlog)": mean_overlap(
            handler, min(r.start for r in runs), last_claim),
        "db max running": max_overlap(claimed),
        "db mean running (backlog)": mean_overlap(claimed, min(a for a, _ in claimed),
                                                  last_claim),
        "sampled max running": sampled,
        "drain s": drain,
        "jobs/s": jobs / drain,
        "ideal jobs/s": limit * 1000 / ms,
        "claim->start ms": statistics.mean(r.start - db[r.id][0] for r in runs) * 1000,
        "handler ms": statistics.mean(r.end - r.start for r in runs) * 1000,
        "end->report ms": statistics.mean(db[r.id][1] - r.end for r in runs) * 1000,
        "runners used": len({r.runner for r in runs}),
        "jobs per claim": jobs / len({(r.runner, r.locked) for r in runs}),
        "end->next start ms (median)": _next_start_gap(runs) * 1000,
        "seen empty after s": seen - enqueued,
        "calls": calls,
        "get_jobs per job": _n(calls, "get_jobs") / jobs,
    }


def _next_start_gap(runs: Sequence[Run]) -> float:
    """The median time from a handler's end to the next start of any handler: how long a
    slot freed by max_running stays empty."""
    starts = sorted(r.start for r in runs)
    gaps = []
    for end in sorted(r.end for r in runs):
        k = bisect.bisect_left(starts, end)
        if k < len(starts):
            gaps.append(starts[k] - end)
    return statistics.median(gaps) if gaps else float("nan")


def part_rate_limit(base_dsn: str, folder: Path, *, jobs: int, rate: int, seconds: float,
                    runners: int, concurrency: int, log_level: str) -> dict[str, Any]:
    period, slot = 60.0, 1.0  # '1 minute', counted in slots of period / 60
    with scratch_database(base_dsn, "gw_flow") as dsn:
        _setup(dsn)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(LIMITS_SQL, ("rated", None, rate, "1 minute"))
        with _fleet(dsn, runners, concurrency, folder, log_level):
            enqueued = _enqueue(dsn, [("rated", "{}")] * jobs)
            time.sleep(max(0.0, enqueued + seconds + 2 - time.time()))
        stopped = time.time()
        runs = _runs(folder, "rated")
        calls = _calls(dsn)
    if not runs:
        raise RuntimeError("no job of `rated` ran")
    claims = sorted(r.locked for r in runs)
    starts = sorted(r.start for r in runs)
    c0, s0 = claims[0], starts[0]
    if c0 + seconds > stopped:
        raise RuntimeError("the run ended before the measuring window did")
    allowed = rate * seconds / period
    in_claims = sum(1 for t in claims if t < c0 + seconds)
    in_starts = sum(1 for t in starts if t < s0 + seconds)
    max_c, at_c = max_in_window(claims, period)
    max_s, at_s = max_in_window(starts, period)
    listed = []
    groups = bursts(claims, gap=2.0)
    for k, (first, last, count) in enumerate(groups):
        entry: dict[str, float] = {"at s": first - c0, "span s": last - first, "starts": count}
        if k > 0:
            # the previous burst's first slot stops counting at its end + period
            prev = groups[k - 1][0]
            entry["after allowed s"] = first - ((prev // slot + 1) * slot + period)
        listed.append(entry)
    # over whole bursts: the starts before the last burst, against what the rate allows
    # from the first burst to the last (a burst frees at most a slot later than a period)
    span = groups[-1][0] - groups[0][0]
    steady = (len(claims) - groups[-1][2]) / (rate * span / period) if span > 0 else None
    return {
        "jobs": jobs, "rate_limit": rate, "period s": period, "seconds": seconds,
        "runners": runners, "concurrency": concurrency,
        "max per 60 s (claims)": max_c, "max per 60 s (starts)": max_s,
        "worst window at s (claims)": at_c - c0, "worst window at s (starts)": at_s - s0,
        "claims in window": in_claims, "starts in window": in_starts, "allowed": allowed,
        "utilization (claims)": in_claims / allowed,
        "utilization (starts)": in_starts / allowed,
        "utilization between bursts": steady,
        "first claim after enqueue s": c0 - enqueued,
        "bursts": listed,
        "calls": calls,
    }


def _free_drain(base_dsn: str, folder: Path, *, free: int, limited: int, ms: float,
                runners: int, concurrency: int, log_level: str) -> dict[str, Any]:
    with scratch_database(base_dsn, "gw_flow") as dsn:
        _setup(dsn)
        if limited:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(LIMITS_SQL, ("limited", 3, None, None))
        with _fleet(dsn, runners, concurrency, folder, log_level):
            specs = [("limited", json.dumps({"ms": ms}))] * limited + [("free", "{}")] * free
            enqueued = _enqueue(dsn, specs)
            _wait_until_gone(dsn, ["free"], timeout=120)
        runs = _runs(folder, "free")
        lim = _runs(folder, "limited")
        db = _finished(dsn, "free")
        calls = _calls(dsn)
    if len(runs) != free or len(db) != free:
        raise RuntimeError(f"{len(runs)} handler records and {len(db)} finished jobs of `free`,"
                           f" not {free}")
    last = max(b for _, b in db.values())  # the last report
    out: dict[str, Any] = {
        "free drain s": last - enqueued, "free jobs/s": free / (last - enqueued),
        "get_jobs": _n(calls, "get_jobs"),
        "get_jobs mean ms": calls.get("get_jobs", {}).get("mean ms", 0.0),
    }
    if limited:
        # the fleet stopped once `free` was done: the limited jobs that ran by then
        out["limited max running"] = max_overlap([(r.start, r.end) for r in lim])
        out["limited done while free drained"] = sum(1 for r in lim if r.end <= last)
    return out


def part_mixed(base_dsn: str, folder: Path, *, free: int, limited: int, ms: float, rounds: int,
               runners: int, concurrency: int, log_level: str) -> dict[str, Any]:
    alone: list[dict[str, Any]] = []
    mixed: list[dict[str, Any]] = []
    for r in range(rounds):
        for n_limited, out in ((0, alone), (limited, mixed)):
            sub = folder / f"mixed{r}_{n_limited}"
            sub.mkdir()
            out.append(_free_drain(base_dsn, sub, free=free, limited=n_limited, ms=ms,
                                   runners=runners, concurrency=concurrency,
                                   log_level=log_level))
    a = statistics.median(x["free jobs/s"] for x in alone)
    m = statistics.median(x["free jobs/s"] for x in mixed)
    calls_a = statistics.median(x["get_jobs"] for x in alone)
    calls_m = statistics.median(x["get_jobs"] for x in mixed)
    ms_a = statistics.median(x["get_jobs mean ms"] for x in alone)
    ms_m = statistics.median(x["get_jobs mean ms"] for x in mixed)
    return {
        "free jobs": free, "limited jobs": limited, "limited ms": ms, "rounds": rounds,
        "runners": runners,
        "free jobs/s alone": a, "free jobs/s mixed": m, "mixed/alone": m / a,
        "get_jobs calls alone": calls_a, "get_jobs calls mixed": calls_m,
        "get_jobs ms alone": ms_a, "get_jobs ms mixed": ms_m,
        "limited max running": max(x["limited max running"] for x in mixed),
        "limited done while free drained (max)": max(
            x["limited done while free drained"] for x in mixed),
        "rounds alone": alone, "rounds mixed": mixed,
    }


def part_cancel(base_dsn: str, folder: Path, *, batches: int, concurrency: int,
                log_level: str) -> dict[str, Any]:
    """Cancel running async jobs one by one: from sending each cancel_jobs call (it commits at
    once) to the handler's CancelledError."""
    latencies: list[float] = []
    with scratch_database(base_dsn, "gw_flow_cancel") as dsn:
        _setup(dsn)
        with _fleet(dsn, 1, concurrency, folder, log_level):
            for _ in range(batches):
                _enqueue(dsn, [("sleeper", "{}")] * concurrency)
                with psycopg.connect(dsn, autocommit=True) as conn:
                    deadline = time.monotonic() + 60
                    while True:
                        ids = [r[0] for r in conn.execute(
                            "select id from graphile_worker._private_jobs"
                            " where locked_at is not null order by id").fetchall()]
                        if len(ids) == concurrency:
                            break
                        if time.monotonic() > deadline:
                            raise RuntimeError("the sleeper jobs did not all start in 60 s")
                        time.sleep(0.05)
                    time.sleep(0.5)  # every handler is in its sleep
                    committed: dict[int, float] = {}
                    for job_id in ids:
                        committed[job_id] = time.time()  # the call is sent (autocommit)
                        row = conn.execute("select cancelled from graphile_worker.cancel_jobs"
                                           "(array[%s::bigint])", (job_id,)).fetchone()
                        if row != (True,):
                            raise RuntimeError(f"cancel_jobs({job_id}) gave {row}")
                        time.sleep(0.2)
                _wait_until_gone(dsn, ["sleeper"], 60)
                heard = {r.id: r.end for r in _runs(folder, "cancelled")}
                missing = set(committed) - set(heard)
                if missing:
                    raise RuntimeError(f"jobs {sorted(missing)} were not interrupted")
                latencies += [heard[i] - committed[i] for i in committed]
                for path in folder.glob("runner*.txt"):
                    path.write_text("")
    return {
        "cancels": len(latencies),
        "median ms": statistics.median(latencies) * 1000,
        "max ms": max(latencies) * 1000,
    }


# -- entry point -------------------------------------------------------------------------------


def main_flow(base_dsn: str, *, parts: list[str], jobs: int, ms: float, rate_seconds: float,
              free_jobs: int, rounds: int, out_path: str | None, folder: str | None,
              log_level: str, history: bool = True) -> bool:
    """Run the parts; print them and the JSON document. Returns whether every limit held."""
    unknown = set(parts) - {"max_running", "rate_limit", "mixed", "cancel"}
    if unknown:
        raise ValueError(f"unknown --flow-parts: {', '.join(sorted(unknown))}")
    root = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="gw_flow_"))
    root.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {}
    ok = True
    try:
        if "max_running" in parts:
            sub = root / "max_running"
            sub.mkdir()
            mr = result["max_running"] = part_max_running(
                base_dsn, sub, jobs=jobs, ms=ms, limit=3, runners=4, concurrency=10,
                log_level=log_level, history=history)
            held = mr["handler max running"] <= mr["max_running"]
            ok &= held
            print(f"max_running 3, {jobs:,} jobs of {ms:g} ms, 4 runners at -j 10:"
                  f" most running {mr['handler max running']} by the handlers"
                  f" ({'held' if held else 'BROKEN'}), {mr['db max running']} claim to report"
                  f" (sampled {mr['sampled max running']});"
                  f" mean while a backlog lasted {mr['handler mean running (backlog)']:.2f}"
                  f" (handlers), {mr['db mean running (backlog)']:.2f} (claim to report);"
                  f" drained in {mr['drain s']:.1f} s, {mr['jobs/s']:.0f} jobs/s of an ideal"
                  f" {mr['ideal jobs/s']:.0f}; per job: claim->start {mr['claim->start ms']:.1f}"
                  f" ms, handler {mr['handler ms']:.1f} ms, end->report"
                  f" {mr['end->report ms']:.1f} ms, a job's end to the next start"
                  f" {mr['end->next start ms (median)']:.1f} ms (median), {mr['jobs per claim']:.2f}"
                  f" jobs per claim; {mr['get_jobs per job']:.2f} get_jobs"
                  f" calls per job ({mr['calls'].get('get_jobs', {}).get('mean ms', 0):.2f} ms each),"
                  f" {mr['runners used']} runners ran jobs", flush=True)
        if "rate_limit" in parts:
            sub = root / "rate_limit"
            sub.mkdir()
            rl = result["rate_limit"] = part_rate_limit(
                base_dsn, sub, jobs=3000, rate=600, seconds=rate_seconds, runners=2,
                concurrency=10, log_level=log_level)
            held = rl["max per 60 s (claims)"] <= 600 and rl["max per 60 s (starts)"] <= 600
            ok &= held
            print(f"rate_limit 600 per minute, 3,000 no-op jobs, 2 runners for"
                  f" {rate_seconds:g} s: most per 60 s window {rl['max per 60 s (starts)']}"
                  f" by handler start, {rl['max per 60 s (claims)']} by claim"
                  f" ({'held' if held else 'BROKEN'}); used {rl['utilization (claims)']:.1%}"
                  f" of the allowed {rl['allowed']:,.0f} in {rate_seconds:g} s from the first"
                  f" claim ({rl['utilization (starts)']:.1%} by handler start),"
                  f" {rl['utilization between bursts'] or 0:.1%} from the first burst to the"
                  f" last;"
                  f" {_n(rl['calls'], 'get_jobs')} get_jobs calls", flush=True)
            for b in rl["bursts"]:
                after = (f", {b['after allowed s']:+.3f} s after allowed"
                         if "after allowed s" in b else "")
                print(f"  burst at {b['at s']:7.3f} s: {b['starts']:4} starts over"
                      f" {b['span s']:.3f} s{after}", flush=True)
        if "mixed" in parts:
            sub = root / "mixed"
            sub.mkdir()
            mx = result["mixed"] = part_mixed(
                base_dsn, sub, free=free_jobs, limited=100, ms=300, rounds=rounds, runners=4,
                concurrency=10, log_level=log_level)
            held = mx["limited max running"] <= 3
            ok &= held
            print(f"mixed, 4 runners: {free_jobs:,} no-op jobs drain at"
                  f" {mx['free jobs/s alone']:,.0f} jobs/s alone and"
                  f" {mx['free jobs/s mixed']:,.0f} jobs/s behind 100 limited jobs"
                  f" (300 ms, max_running 3): {mx['mixed/alone']:.2f}x (median of"
                  f" {rounds}); limited most running {mx['limited max running']}"
                  f" ({'held' if held else 'BROKEN'}), at most"
                  f" {mx['limited done while free drained (max)']} of them done while the"
                  f" no-op jobs drained; get_jobs calls {mx['get_jobs calls alone']:.0f}"
                  f" alone ({mx['get_jobs ms alone']:.2f} ms each), {mx['get_jobs calls mixed']:.0f}"
                  f" mixed ({mx['get_jobs ms mixed']:.2f} ms each)", flush=True)
        if "cancel" in parts:
            sub = root / "cancel"
            sub.mkdir()
            cn = result["cancel"] = part_cancel(base_dsn, sub, batches=2, concurrency=10,
                                                log_level=log_level)
            print(f"cancel of a running async job ({cn['cancels']} one by one): the handler's"
                  f" CancelledError {cn['median ms']:.1f} ms after the cancel_jobs call was sent"
                  f" (median), {cn['max ms']:.1f} ms at most", flush=True)
    finally:
        if folder is None:
            shutil.rmtree(root, ignore_errors=True)
    result["limits held"] = ok
    text = json.dumps(result, indent=2)
    print(text, flush=True)
    if out_path:
        Path(out_path).write_text(text)
    return ok
