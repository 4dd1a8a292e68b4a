"""Task file of the side-by-side benchmark (../shared/bench): a no-op task `noop`.

    python -m gw_runner bench/tasks.py -c $DSN -j 10

For the latency workload the driver sets BENCH_RECORD=<file>; each call then appends
"<payload t> <start time>" (epoch seconds) to it at the very start of the handler.
"""

from __future__ import annotations

import os
import time
from typing import Any

from gw_runner import JobContext, task

_RECORD = os.environ.get("BENCH_RECORD") or None


@task
async def noop(payload: Any, ctx: JobContext) -> None:
    if _RECORD is not None and type(payload) is dict:
        t = payload.get("t")
        if t is not None:
            started = time.time()
            with open(_RECORD, "a") as f:
                f.write(f"{float(t):.6f} {started:.6f}\n")
