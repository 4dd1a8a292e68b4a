"""Threads for sync handlers, and job time limits.

Sync handlers run on daemon threads, at most one per slot at a time. A thread cannot be
killed: when a sync handler runs past its time limit (or a forceful shutdown gives up on
it) its job is failed and its thread is *abandoned*: it runs on until the handler returns
and then ends, and the slot gets a fresh thread for its next job. Abandoned threads are
daemon threads, so the process never waits for them at exit.

Time limits (first that applies):

1. the job's flag ``timeout:SECONDS`` (set by whoever enqueues: ``flags =>
   array['timeout:30']``), for one job that needs more or less time than its task;
2. the task's ``@task(timeout=SECONDS)``;
3. the runner's ``job_timeout`` (``--job-timeout``).
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("gw_runner.worker")

#: The job flag that sets a job's own time limit: ``timeout:SECONDS``.
TIMEOUT_FLAG_PREFIX = "timeout:"


def job_time_limit(
    flags: Any, task_timeout: float | None, default: float | None
) -> tuple[float | None, str]:
    """The time limit of a job and where it comes from (``"flag"``, ``"task"``,
    ``"runner"``, or ``""`` for none). An unreadable ``timeout:`` flag is ignored with a
    warning."""
    if flags:
        for flag in flags:
            if isinstance(flag, str) and flag.startswith(TIMEOUT_FLAG_PREFIX):
                text = flag[len(TIMEOUT_FLAG_PREFIX):]
                try:
                    value = float(text)
                except ValueError:
                    value = math.nan
                if math.isfinite(value) and value > 0:
                    return value, "flag"
                log.warning(
                    "ignoring the job flag %r: expected timeout:SECONDS with a positive "
                    "number of seconds", flag,
                )
    if task_timeout is not None:
        return task_timeout, "task"
    if default is not None:
        return default, "runner"
    return None, ""


class _Thread(threading.Thread):
    def __init__(self, pool: HandlerThreads, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.pool = pool
        self.inbox: queue.SimpleQueue[
            tuple[concurrent.futures.Future[Any], Callable[..., Any], tuple[Any, ...]] | None
        ] = queue.SimpleQueue()
        self.abandoned = False

    def run(self) -> None:
        while True:
            item = self.inbox.get()
            if item is None:
                return
            fut, fn, args = item
            error: BaseException | None = None
            result: Any = None
            if fut.set_running_or_notify_cancel():
                try:
                    result = fn(*args)
                except BaseException as e:
                    error = e
            # back to the idle list *before* the caller learns the outcome, so that the
            # slot's next call finds this thread idle instead of starting another one
            keep = self.pool._release(self)
            if not fut.done():
                if error is not None:
                    fut.set_exception(error)
                else:
                    fut.set_result(result)
            del fut, fn, args, item, result, error  # keep nothing of the job alive while idle
            if not keep:
                return


class Call:
    """A sync handler call running on one of the pool's threads."""

    __slots__ = ("future", "thread")

    def __init__(self, future: concurrent.futures.Future[Any], thread: _Thread) -> None:
        self.future = future
        self.thread = thread


class HandlerThreads:
    """Daemon threads for sync handlers: idle threads are reused, abandoned ones replaced."""

    def __init__(self, prefix: str = "gw-job") -> None:
        self._prefix = prefix
        self._lock = threading.Lock()
        self._idle: list[_Thread] = []
        self._busy: set[_Thread] = set()
        self._abandoned: set[_Thread] = set()
        self._serial = 0
        self._closed = False

    def submit(self, fn: Callable[..., Any], *args: Any) -> Call:
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the handler threads are shut down")
            if self._idle:
                thread = self._idle.pop()
            else:
                self._serial += 1
                thread = _Thread(self, f"{self._prefix}-{self._serial}")
                thread.start()
            self._busy.add(thread)
        thread.inbox.put((fut, fn, args))
        return Call(fut, thread)

    def abandon(self, call: Call) -> int:
        """Give up on a call that is still running: its thread ends when the handler
        returns, and is not reused. Returns how many abandoned threads still run."""
        with self._lock:
            thread = call.thread
            if not call.future.done() and thread in self._busy:
                thread.abandoned = True
                self._busy.discard(thread)
                self._abandoned.add(thread)
            return len(self._abandoned)

    def _release(self, thread: _Thread) -> bool:
        """Called by a thread whose call ended: True to wait for the next call."""
        with self._lock:
            if thread.abandoned:
                self._abandoned.discard(thread)
                log.info("an abandoned sync handler returned; its thread %s ended", thread.name)
                return False
            self._busy.discard(thread)
            if self._closed:
                return False
            self._idle.append(thread)
            return True

    @property
    def abandoned(self) -> int:
        with self._lock:
            return len(self._abandoned)

    @property
    def busy(self) -> bool:
        """True while any handler (abandoned or not) still runs in a thread."""
        with self._lock:
            return bool(self._busy or self._abandoned)

    def close(self) -> None:
        """Let idle threads end; running and abandoned ones end when their handler returns.
        Does not wait."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for thread in idle:
            thread.inbox.put(None)
