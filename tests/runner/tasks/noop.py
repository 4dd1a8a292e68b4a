"""A no-op task: the runner's own overhead is all there is, so claims are the bottleneck."""

from __future__ import annotations

from typing import Any

from gw_runner import task


@task
async def noop(payload: Any) -> None:
    return None
