"""A plain asyncio program that runs a worker next to its own work.

    DATABASE_URL=postgresql:///mydb python examples/asyncio_worker.py            # until Ctrl-C
    DATABASE_URL=postgresql:///mydb python examples/asyncio_worker.py --until-done

The program owns its signals: SIGINT/SIGTERM set an event, and the program stops the worker
(``await worker.stop(grace=...)``); the library installs no signal handlers. Handlers here
are payload classes that carry their task identifier (the alternative to ``@task``
functions): enqueue with ``spec_of(Resize(...))``, handle with ``Resize.handle``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from dataclasses import dataclass

import psycopg

from gw_runner import JobContext, JobSucceeded, Worker, WorkerHooks, add_jobs_async, spec_of, task


@task("images/resize")
@dataclass
class Resize:
    """Payload class: the fields are the JSON payload, ``handle`` runs the job."""

    image: str
    width: int

    async def handle(self, ctx: JobContext) -> None:
        await asyncio.sleep(0.05)  # resize...
        ctx.logger.info("resized %s to %d px", self.image, self.width)


class Progress(WorkerHooks):
    def __init__(self, expected: int) -> None:
        self.done = 0
        self.expected = expected
        self.all_done = asyncio.Event()

    def on_job_succeeded(self, event: JobSucceeded) -> None:
        self.done += 1
        if self.done >= self.expected:
            self.all_done.set()


async def main(until_done: bool) -> int:
    url = os.environ.get("DATABASE_URL", "")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await add_jobs_async(conn, [
            spec_of(Resize(image=f"photo-{i}.jpg", width=w), queue_name=f"photo-{i}")
            for i in range(5) for w in (64, 256)
        ])
    progress = Progress(expected=10)
    async with Worker([Resize], connection=url, concurrency=4, hooks=[progress]) as worker:
        waits = [asyncio.ensure_future(stop.wait())]
        if until_done:
            waits.append(asyncio.ensure_future(progress.all_done.wait()))
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for w in waits:
            w.cancel()
        await worker.stop(grace=5)
    print(f"{progress.done} jobs done; worker status {worker.status}")
    return worker.status or 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--until-done", action="store_true", help="stop once the 10 jobs ran")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    raise SystemExit(asyncio.run(main(args.until_done)))
