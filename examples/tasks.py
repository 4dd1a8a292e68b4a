"""Example task file: `python -m gw_runner examples/tasks.py` (or `make run`).

Three tasks show the main features:

- ``send_email``: a typed payload (a dataclass) and the job's logger;
- ``flaky_sync``: fails on its first two attempts and succeeds on the third, to show retries
  with exponential backoff (about 2.7 s, then 7.4 s); a sync handler, so it runs on a thread;
- ``nightly_report``: enqueued with ``run_at`` in the future, it starts on time; it also
  enqueues a follow-up job with ``ctx.add_job``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from gw_runner import JobContext, PermanentFailure, task


@dataclass
class Email:
    to: str
    subject: str
    body: str = ""


@task
async def send_email(payload: Email, ctx: JobContext) -> None:
    if not payload.to or "@" not in payload.to:
        raise PermanentFailure(f"invalid address {payload.to!r}: not retrying")
    await asyncio.sleep(0.2)  # talk to the mail server
    ctx.logger.info("sent %r to %s", payload.subject, payload.to)


@task("flaky_sync")
def flaky(payload: dict[str, Any], ctx: JobContext) -> None:
    attempt, last = ctx.job.attempts, ctx.job.max_attempts
    if attempt < payload.get("succeed_on_attempt", 3):
        raise ConnectionError(f"upstream API unavailable (attempt {attempt} of {last})")
    time.sleep(0.1)  # blocking work is fine in a sync handler
    ctx.logger.info("upstream API answered on attempt %d", attempt)


@task
async def nightly_report(payload: dict[str, Any], ctx: JobContext) -> None:
    late = time.time() - ctx.job.run_at.timestamp()
    ctx.logger.info("building report %r (scheduled, started %.0f ms after its run_at)",
                    payload.get("name"), late * 1000)
    await ctx.add_job("send_email", {"to": "boss@example.com", "subject": "Your report"})
