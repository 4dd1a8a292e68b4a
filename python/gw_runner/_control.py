"""Flow control in the runner: what it does when an admin pauses, resumes, limits or cancels.

The extension (0.1.8) enforces pauses and limits inside ``get_jobs`` and ends cancelled jobs
when they are reported; it also notifies ``graphile_worker:control``, which the LISTEN
connection (``_wakeups.Listener``) routes here, so the runner acts at once:

- ``pause_tasks`` / ``pause_queues``: the jobs of those tasks or queues waiting in the local
  queue (claimed, not started) are taken out and given back (``return_jobs``, reason
  ``paused``), so other runners do not wait for them to expire; running ones finish;
- ``resume_tasks`` / ``resume_queues`` / ``limits``: claim now (due times are read again);
- ``cancel``: of the ids this worker holds, those in the local queue are given back (reason
  ``cancelled``: the database ends them as cancelled) and those running are cancelled
  (``Slots.cancel_job``: ``ctx.cancelled``, the abort signal, and an async handler's
  cancellation); the runner reports them as usual and the database ends them as cancelled.

A notification missed while the LISTEN connection was down is not replayed: a paused task's
jobs already in the local queue then run, a resumed task waits for the next claim, and a
cancelled running job is not interrupted (it is not retried either: its report ends it as
cancelled).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from ._claiming import Claimer
from ._running import Slots

log = logging.getLogger("gw_runner.worker")

#: The channel of ``_sql.LISTEN_CONTROL``.
CHANNEL = "graphile_worker:control"


class ControlHandler:
    """Acts on the notifications of ``graphile_worker:control`` (see the module docstring).
    ``on_notify`` never raises: a malformed payload is logged and ignored."""

    def __init__(
        self, *, worker_id: str, claimer: Claimer, slots: Slots, stopping: Callable[[], bool]
    ) -> None:
        self.worker_id = worker_id
        self._claimer = claimer
        self._slots = slots
        self._stopping = stopping
        self._extra = {"worker_id": worker_id}
        #: give-backs under way (awaited at shutdown by :meth:`settle`)
        self._returns: set[asyncio.Task[None]] = set()

    def on_notify(self, payload: str) -> None:
        """A notification of ``graphile_worker:control``."""
        try:
            self._handle(payload)
        except Exception:
            log.exception("flow control: could not act on %r", payload[:500], extra=self._extra)

    async def settle(self) -> None:
        """Wait for the give-backs under way (at shutdown, before the worker deregisters)."""
        while self._returns:
            await asyncio.gather(*self._returns, return_exceptions=True)

    def _handle(self, payload: str) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("control: %s", payload[:500], extra=self._extra)
        try:
            message = json.loads(payload)
        except ValueError:
            message = None
        op = message.get("op") if isinstance(message, dict) else None
        if op in ("pause_tasks", "pause_queues"):
            names = _strings(message.get("names"))
            if names and not self._stopping():  # stopping: every unstarted job goes back
                self._pause(op, names)
        elif op in ("resume_tasks", "resume_queues", "limits"):
            self._claimer.due_stale = True
            self._claimer.wake()
        elif op == "cancel":
            ids = message.get("ids")
            if isinstance(ids, list):
                self._cancel({i for i in ids if isinstance(i, int) and not isinstance(i, bool)})
        else:
            log.debug("control: ignored (unknown operation) %s", payload[:500],
                      extra=self._extra)

    def _pause(self, op: str, names: set[str]) -> None:
        if op == "pause_tasks":
            ids = self._claimer.withdraw(lambda run: run.job.task_identifier in names)
        else:
            ids = self._claimer.withdraw(lambda run: run.job.queue_name in names)
        what = "task" if op == "pause_tasks" else "queue"
        if ids:
            log.info("%s(s) %s paused: giving back %d claimed job(s) not started yet", what,
                     ", ".join(sorted(names)), len(ids), extra=self._extra)
            self._give_back(ids, "paused")
        else:
            log.info("%s(s) %s paused", what, ", ".join(sorted(names)), extra=self._extra)

    def _cancel(self, ids: set[int]) -> None:
        ours = ids & self._claimer.held
        if not ours:
            return
        queued = self._claimer.withdraw(lambda run: run.job.id in ours)
        if queued:
            self._give_back(queued, "cancelled")
        for job_id in sorted(ours.difference(queued)):
            if self._slots.cancel_job(job_id):
                log.info("job %d cancelled while running: the handler is asked to stop "
                         "(ctx.cancelled)", job_id, extra={**self._extra, "job_id": job_id})

    def _give_back(self, ids: list[int], reason: str) -> None:
        task = asyncio.ensure_future(self._claimer.return_jobs(ids, reason=reason))
        self._returns.add(task)
        task.add_done_callback(self._returned)

    def _returned(self, task: asyncio.Task[None]) -> None:
        self._returns.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("flow control: giving back jobs failed", extra=self._extra,
                      exc_info=(type(exc), exc, exc.__traceback__) if exc else None)


def _strings(value: Any) -> set[str]:
    return {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()
