"""Health: Worker.health(), the HTTP endpoint (library and CLI --health-port), the heartbeat
file (CLI --health-file), and the endpoint under attack (issue 19): its default address, what
its answers hold, idle and reset connections, running out of file descriptors."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import RunnerProcess, Runners, run, scalar, wait_until

from gw_runner import HealthServer, Worker, task

ROOT = Path(__file__).resolve().parents[2]


def get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        body = e.read()
        return e.code, json.loads(body) if body.startswith(b"{") else {}


@task
async def noop(payload: Any) -> None:
    return None


def test_health_ready_while_running_not_alive_while_the_loop_is_blocked(dsn):
    """The endpoint answers from its own thread: a loop blocked longer than stall_after is
    reported as not alive (503), and alive again once it runs."""
    seen: dict[str, Any] = {}

    async def main() -> None:
        worker = Worker([noop], connection=dsn)
        assert worker.health().state == "new" and not worker.health().alive
        with HealthServer(worker, host="127.0.0.1", port=0, stall_after=2.0) as server:
            base = f"http://127.0.0.1:{server.port}"
            async with worker:
                deadline = time.monotonic() + 20
                while True:  # ready once LISTEN is up too, shortly after start
                    seen["ready"] = await asyncio.to_thread(get, base + "/ready")
                    if seen["ready"][0] == 200 or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.1)
                seen["root"] = await asyncio.to_thread(get, base + "/")
                statuses: list[int] = []

                def probe() -> None:
                    time.sleep(3.0)  # the loop has been blocked for 3 s by now
                    statuses.append(get(base + "/live")[0])

                prober = threading.Thread(target=probe)
                prober.start()
                time.sleep(5.0)  # a handler that blocks the event loop
                prober.join()
                seen["blocked_live"] = statuses[0]
                await asyncio.sleep(0.1)
                seen["live_after"] = await asyncio.to_thread(get, base + "/live")
                seen["missing"] = await asyncio.to_thread(get, base + "/nope")
            seen["stopped"] = await asyncio.to_thread(get, base + "/live")

    run(main())
    code, body = seen["ready"]
    assert code == 200, body
    assert body["state"] == "running" and body["ready"] and body["alive"]
    assert body["connected"] is True and body["listening"] is True
    assert seen["root"][0] == 200
    assert seen["blocked_live"] == 503
    assert seen["live_after"][0] == 200
    assert seen["missing"][0] == 404
    code, body = seen["stopped"]
    assert code == 503 and body["state"] == "stopped" and not body["alive"]


def _exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def test_health_server_bounds_connections_and_answers_bad_requests(dsn):
    """Library API: an idle connection is closed after request_timeout; with every slot taken
    by idle connections a probe still gets through (the oldest idle one makes room); requests
    it does not serve get a 4xx answer, HEAD the headers alone."""
    worker = Worker([noop], connection=dsn)  # not started: /live answers 503
    with HealthServer(worker, port=0, request_timeout=1.0, max_connections=2) as server:
        assert server.host == "127.0.0.1"
        idle = [socket.create_connection(("127.0.0.1", server.port), timeout=30)
                for _ in range(2)]
        time.sleep(0.2)  # both accepted: every slot is taken
        status = _exchange(server.port, b"GET /live HTTP/1.1\r\n\r\n")
        assert status.startswith(b"HTTP/1.1 503 ") and b'"alive": false' in status, status
        for conn in idle:  # one made room for the probe, the other timed out
            assert conn.recv(100) == b""
            conn.close()
        head = _exchange(server.port, b"HEAD /live HTTP/1.1\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 ") and head.endswith(b"\r\n\r\n"), head
        post = _exchange(server.port, b"POST /live HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        assert post.startswith(b"HTTP/1.1 405 ") and b"Allow: GET, HEAD" in post, post
        assert _exchange(server.port, b"nonsense\r\n\r\n").startswith(b"HTTP/1.1 400 ")
        long_line = b"GET /" + b"x" * 10_000 + b" HTTP/1.1\r\n\r\n"
        assert _exchange(server.port, long_line).startswith(b"HTTP/1.1 414 ")


def test_cli_health_port_and_health_file(dsn, tmp_path):
    beat = tmp_path / "alive"
    runners = Runners(dsn, tmp_path, tasks=ROOT / "examples" / "tasks.py")
    try:
        runner = runners.start("--health-port", "0", "--health-host", "127.0.0.1",
                               "--health-file", str(beat))
        deadline = time.monotonic() + 30
        port = runner.health_port()
        assert f"health endpoint on http://127.0.0.1:{port}/live" in runner.log
        while True:  # ready once connected and listening
            code, body = get(f"http://127.0.0.1:{port}/ready")
            if code == 200:
                break
            assert time.monotonic() < deadline, (code, body)
            time.sleep(0.1)
        assert body["state"] == "running" and body["connected"] and body["listening"]
        assert get(f"http://127.0.0.1:{port}/live")[0] == 200
        while not beat.exists():  # touched within 5 s of being ready
            assert time.monotonic() < deadline, runner.log
            time.sleep(0.1)
        assert runner.terminate(30) == 0, runner.log
        assert not beat.exists()  # removed at exit
    finally:
        runners.close()


# --- the endpoint of a real runner under attack (issue 19) -------------------------------------

TASKS = """
import asyncio, os, resource
from gw_runner import task


@task
async def noop(payload):
    return None


@task
async def hog_fds(payload, ctx):
    \"\"\"Use up the process's file descriptors until the file payload["release"] exists.\"\"\"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 40, hard))
    files = []
    try:
        while True:
            files.append(open(os.devnull))
    except OSError:
        pass
    try:
        ctx.logger.info("holding every file descriptor")
        while not os.path.exists(payload["release"]):
            await asyncio.sleep(0.1)
    finally:
        for f in files:
            f.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
"""


def wait_ready(runner: RunnerProcess, port: int) -> dict[str, Any]:
    """The /ready answer once the runner is ready; fails if it exits."""

    def ready() -> dict[str, Any] | None:
        runner.alive_log()
        code, body = get(f"http://127.0.0.1:{port}/ready")
        return body if code == 200 else None

    return wait_until(ready, 30, "the runner to be ready")


def threads(runner: RunnerProcess) -> int:
    status = Path(f"/proc/{runner.pid}/status").read_text()
    return int(re.search(r"^Threads:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]


def cpu_seconds(runner: RunnerProcess) -> float:
    fields = Path(f"/proc/{runner.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@pytest.fixture
def start_runner(dsn: str, tmp_path: Path) -> Iterator[Callable[..., RunnerProcess]]:
    """`start_runner("--health-port", "0")` runs TASKS against the test database; every runner
    is killed at teardown."""
    tasks_file = tmp_path / "health_tasks.py"
    tasks_file.write_text(TASKS)
    runners = Runners(dsn, tmp_path, tasks=tasks_file)
    yield runners.start
    runners.close()


def listening_address(port: int) -> str:
    """The local address of the IPv4 socket listening on ``port`` (from /proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, _, hex_port = local.partition(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            return socket.inet_ntoa(struct.pack("<I", int(address, 16)))
    raise AssertionError(f"nothing listens on IPv4 port {port}")


def jobs_left(db: Any) -> int:
    return int(scalar(db, "select count(*) from graphile_worker._private_jobs"))


def test_cli_health_endpoint_listens_on_loopback_by_default(start_runner):
    """Without --health-host only this machine can reach the endpoint; the option (and its
    environment variable) opens it to others, as containers need."""
    default = start_runner("--health-port", "0")
    port = default.health_port()
    assert listening_address(port) == "127.0.0.1"
    assert f"health endpoint on http://127.0.0.1:{port}/live" in default.log
    everywhere = start_runner("--health-port", "0", env={"GW_RUNNER_HEALTH_HOST": "0.0.0.0"})
    assert listening_address(everywhere.health_port()) == "0.0.0.0"
    assert default.terminate() == 0 and everywhere.terminate() == 0


def test_cli_health_answers_hold_no_worker_id(start_runner):
    """The worker id is all the runner functions check: no answer may reveal it."""
    runner = start_runner("--health-port", "0")
    port = runner.health_port()
    ready = wait_ready(runner, port)
    worker_id = wait_until(lambda: re.search(r"worker (gw-\S+) ", runner.alive_log()), 30,
                           "the worker's start line").group(1)
    assert ready["state"] == "running" and ready["ready"] is True and ready["alive"] is True
    for path in ("/ready", "/live", "/", "/nope"):
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            conn.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1."), answer
        assert worker_id.encode() not in answer and b"worker_id" not in answer, (path, answer)
    assert runner.terminate() == 0


def test_cli_health_idle_connections_are_bounded_and_closed(start_runner, db):
    """60 idle connections (the issue's attack held 59 threads for ever): the runner keeps a
    bounded number of threads, goes on running jobs and answering probes, and closes every
    idle connection (the default: 5 s to send a request, at most 16 connections)."""
    runner = start_runner("--health-port", "0", "-j", "4", "--log-level", "debug")
    port = runner.health_port()
    wait_ready(runner, port)
    db.execute("select graphile_worker.add_job('noop', '{}') from generate_series(1, 10)")
    wait_until(lambda: jobs_left(db) == 0, 30, "the first jobs to complete")
    threads_before = threads(runner)

    idle = []
    for n in range(60):  # half send nothing, half the start of a request (slowloris)
        conn = socket.create_connection(("127.0.0.1", port), timeout=30)
        if n % 2:
            conn.sendall(b"GET /ready HTTP/1.1\r\n")
        idle.append(conn)
    try:
        # the runner accepted them all (in order) once it logged the last one: it closed an
        # idle one to make room for it (or, later, closed it for sending no request)
        last = idle[-1].getsockname()[1]
        wait_until(lambda: re.search(rf"127\.0\.0\.1:{last}\b", runner.alive_log()), 30,
                   "the runner to accept the 60th connection")
        threads_during = threads(runner)
        code, body = get(f"http://127.0.0.1:{port}/ready")  # probes still get through
        assert code == 200 and body["ready"] is True, (code, body)
        db.execute("select graphile_worker.add_job('noop', '{}') from generate_series(1, 20)")
        wait_until(lambda: jobs_left(db) == 0, 30, "jobs to complete with 60 idle connections")
        assert threads_during <= threads_before + 2, (threads_before, threads_during)
        assert threads(runner) <= threads_before + 2

        closed_by_server = 0
        for conn in idle:  # each sees the end of its connection within the wide deadline
            try:
                data = conn.recv(65536)
            except ConnectionResetError:
                data = b""
            except TimeoutError:
                raise AssertionError("an idle connection was still open after 30 s") from None
            assert data == b"", data
            closed_by_server += 1
        assert closed_by_server == 60
    finally:
        for conn in idle:
            conn.close()
    assert runner.terminate() == 0


def _reset(conn: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets a RST instead of a FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def test_cli_health_reset_connections_are_logged_not_printed(start_runner):
    """Clients that reset their connection (before, during and after their request) end up
    as debug records of the gw_runner logger: with --log-format json every line of the
    output is JSON (the issue saw BrokenPipeError tracebacks printed on stderr)."""
    runner = start_runner("--health-port", "0", "--log-format", "json", "--log-level", "debug")
    port = runner.health_port()
    wait_ready(runner, port)
    for _ in range(5):
        _reset(socket.create_connection(("127.0.0.1", port), timeout=30))
        conn = socket.create_connection(("127.0.0.1", port), timeout=30)
        conn.sendall(b"GET /ready HTTP/1.1\r\n")
        time.sleep(0.05)
        _reset(conn)
        conn = socket.create_connection(("127.0.0.1", port), timeout=30)
        conn.sendall(b"GET /ready HTTP/1.1\r\n\r\n")
        _reset(conn)

    def not_json(text: str) -> list[str]:
        bad = []
        for line in text.splitlines():
            try:
                json.loads(line)
            except ValueError:
                bad.append(line)
        return bad

    def went_away() -> list[dict[str, Any]]:
        records = [json.loads(line) for line in runner.log.splitlines() if line.startswith("{")]
        return [r for r in records if r["logger"] == "gw_runner.health"
                and r["level"] == "debug" and "went away" in r["message"]]

    # the 10 resets before a whole request always fail a read: wait for their records
    wait_until(lambda: not_json(runner.alive_log()) or len(went_away()) >= 10, 30,
               "the resets to be logged")
    assert not_json(runner.log) == []
    assert len(went_away()) >= 10
    assert get(f"http://127.0.0.1:{port}/live")[0] == 200
    assert runner.terminate() == 0
    assert not_json(runner.log) == []


def test_cli_health_backs_off_when_file_descriptors_run_out(start_runner, db, tmp_path):
    """A handler uses up the process's file descriptors while clients connect: accepting
    fails (EMFILE) and the endpoint waits before trying again instead of spinning (the issue
    saw 100 % CPU); once descriptors are free again, the waiting clients are answered and
    jobs run."""
    release = tmp_path / "release"
    runner = start_runner("--health-port", "0", "-j", "2")
    port = runner.health_port()
    wait_ready(runner, port)
    db.execute("select graphile_worker.add_job('hog_fds', %s)",
               (json.dumps({"release": str(release)}),))
    clients = []
    try:
        wait_until(lambda: "holding every file descriptor" in runner.alive_log(), 30,
                   "the handler to use up the descriptors")
        for _ in range(3):  # the kernel completes the handshake; accept() fails with EMFILE
            conn = socket.create_connection(("127.0.0.1", port), timeout=30)
            conn.sendall(b"GET /live HTTP/1.1\r\n\r\n")
            clients.append(conn)
        # the endpoint woke up to accept them, and failed: from now on it must not spin
        wait_until(lambda: "cannot accept connections" in runner.alive_log(), 30,
                   "the accept failure to be logged")
        cpu_before, wall_before = cpu_seconds(runner), time.monotonic()
        time.sleep(3)
        cpu = cpu_seconds(runner) - cpu_before
        wall = time.monotonic() - wall_before
        assert cpu < wall / 3, f"{cpu:.2f} s of CPU in {wall:.2f} s: the endpoint spins"
    finally:
        release.touch()
    for conn in clients:
        answer = conn.recv(65536)  # accepted once descriptors are free again
        assert answer.startswith(b"HTTP/1.1 200 "), answer
        conn.close()
    wait_until(lambda: jobs_left(db) == 0, 30, "the handler to finish")
    db.execute("select graphile_worker.add_job('noop', '{}')")
    wait_until(lambda: jobs_left(db) == 0, 30, "a job to run afterwards")
    assert runner.terminate() == 0
