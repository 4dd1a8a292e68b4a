"""Health: Worker.health(), the HTTP endpoint (library and CLI --health-port), the heartbeat
file (CLI --health-file), and the endpoint under attack (issue 19): its default address, what
its answers hold, idle and reset connections, running out of file descriptors."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gw_runner import HealthServer, Worker, task
from tests.api.support import run
from tests.helpers import scalar, wait_until

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
    env = {k: v for k, v in os.environ.items() if not k.startswith("GW_RUNNER_")}
    env["PYTHONUNBUFFERED"] = "1"
    log_path = tmp_path / "runner.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gw_runner", str(ROOT / "examples" / "tasks.py"), "-c", dsn,
             "--health-port", "0", "--health-host", "127.0.0.1", "--health-file", str(beat)],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )
    try:
        deadline = time.monotonic() + 30
        port = None
        while port is None:
            m = re.search(r"health endpoint on http://127\.0\.0\.1:(\d+)/live",
                          log_path.read_text())
            if m:
                port = int(m.group(1))
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        while True:  # ready once connected and listening
            code, body = get(f"http://127.0.0.1:{port}/ready")
            if code == 200:
                break
            assert time.monotonic() < deadline, (code, body)
            time.sleep(0.1)
        assert body["state"] == "running" and body["connected"] and body["listening"]
        assert get(f"http://127.0.0.1:{port}/live")[0] == 200
        while not beat.exists():  # touched within 5 s of being ready
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log_path.read_text()
        assert not beat.exists()  # removed at exit
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


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


class _Runner:
    """A `python -m gw_runner` subprocess serving the health endpoint; its stdout and stderr
    go to one file."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str]) -> None:
        self.log_path = log_path
        with open(log_path, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gw_runner", *args], stdout=out,
                stderr=subprocess.STDOUT, env=env,
            )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive_log(self) -> str:
        assert self.proc.poll() is None, f"the runner exited ({self.proc.returncode}):\n{self.log}"
        return self.log

    def health_port(self) -> int:
        found = wait_until(
            lambda: re.search(r"health endpoint on http://[^:]+:(\d+)/live", self.alive_log()),
            30, "the health endpoint",
        )
        return int(found.group(1))

    def wait_ready(self, port: int) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            self.alive_log()
            code, body = get(f"http://127.0.0.1:{port}/ready")
            return body if code == 200 else None

        return wait_until(ready, 30, "the runner to be ready")

    def threads(self) -> int:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"^Threads:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the runner did not stop:\n{self.log}") from None


@pytest.fixture
def start_runner(dsn: str, tmp_path: Path) -> Iterator[Callable[..., _Runner]]:
    """`start_runner("--health-port", "0")` runs TASKS against the test database; every runner
    is killed at teardown."""
    tasks_file = tmp_path / "health_tasks.py"
    tasks_file.write_text(TASKS)
    started: list[_Runner] = []

    def start(*args: str, env: dict[str, str] | None = None) -> _Runner:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("GW_RUNNER_")}
        full_env.pop("DATABASE_URL", None)
        full_env["PYTHONUNBUFFERED"] = "1"
        full_env.update(env or {})
        runner = _Runner([str(tasks_file), "-c", dsn, *args],
                         tmp_path / f"runner-{len(started)}.log", full_env)
        started.append(runner)
        return runner

    yield start
    for runner in started:
        if runner.proc.poll() is None:
            runner.proc.kill()
            runner.proc.wait(10)


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
    assert default.stop() == 0 and everywhere.stop() == 0


def test_cli_health_answers_hold_no_worker_id(start_runner):
    """The worker id is all the runner functions check: no answer may reveal it."""
    runner = start_runner("--health-port", "0")
    port = runner.health_port()
    ready = runner.wait_ready(port)
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
    assert runner.stop() == 0


def test_cli_health_idle_connections_are_bounded_and_closed(start_runner, db):
    """60 idle connections (the issue's attack held 59 threads for ever): the runner keeps a
    bounded number of threads, goes on running jobs and answering probes, and closes every
    idle connection (the default: 5 s to send a request, at most 16 connections)."""
    runner = start_runner("--health-port", "0", "-j", "4")
    port = runner.health_port()
    runner.wait_ready(port)
    db.execute("select graphile_worker.add_job('noop', '{}') from generate_series(1, 10)")
    wait_until(lambda: jobs_left(db) == 0, 30, "the first jobs to complete")
    threads_before = runner.threads()

    idle = []
    for n in range(60):  # half send nothing, half the start of a request (slowloris)
        conn = socket.create_connection(("127.0.0.1", port), timeout=30)
        if n % 2:
            conn.sendall(b"GET /ready HTTP/1.1\r\n")
        idle.append(conn)
    try:
        time.sleep(0.5)  # let the runner accept them all
        threads_during = runner.threads()
        code, body = get(f"http://127.0.0.1:{port}/ready")  # probes still get through
        assert code == 200 and body["ready"] is True, (code, body)
        db.execute("select graphile_worker.add_job('noop', '{}') from generate_series(1, 20)")
        wait_until(lambda: jobs_left(db) == 0, 30, "jobs to complete with 60 idle connections")
        assert threads_during <= threads_before + 2, (threads_before, threads_during)
        assert runner.threads() <= threads_before + 2

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
    assert runner.stop() == 0


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
    runner.wait_ready(port)
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
    assert runner.stop() == 0
    assert not_json(runner.log) == []


def test_cli_health_backs_off_when_file_descriptors_run_out(start_runner, db, tmp_path):
    """A handler uses up the process's file descriptors while clients connect: accepting
    fails (EMFILE) and the endpoint waits before trying again instead of spinning (the issue
    saw 100 % CPU); once descriptors are free again, the waiting clients are answered and
    jobs run."""
    release = tmp_path / "release"
    runner = start_runner("--health-port", "0", "-j", "2")
    port = runner.health_port()
    runner.wait_ready(port)
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
        time.sleep(0.5)  # the endpoint wakes up to accept them, and fails
        cpu_before, wall_before = runner.cpu_seconds(), time.monotonic()
        time.sleep(3)
        cpu = runner.cpu_seconds() - cpu_before
        wall = time.monotonic() - wall_before
        assert cpu < wall / 3, f"{cpu:.2f} s of CPU in {wall:.2f} s: the endpoint spins"
        wait_until(lambda: "cannot accept connections" in runner.alive_log(), 30,
                   "the accept failure to be logged")
    finally:
        release.touch()
    for conn in clients:
        answer = conn.recv(65536)  # accepted once descriptors are free again
        assert answer.startswith(b"HTTP/1.1 200 "), answer
        conn.close()
    wait_until(lambda: jobs_left(db) == 0, 30, "the handler to finish")
    db.execute("select graphile_worker.add_job('noop', '{}')")
    wait_until(lambda: jobs_left(db) == 0, 30, "a job to run afterwards")
    assert runner.stop() == 0
