"""Health: Worker.health(), the HTTP endpoint (library and CLI --health-port), the heartbeat
file (CLI --health-file)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from gw_runner import HealthServer, Worker, task
from tests.api.support import run

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
