"""Task handlers of the dashboard's browser tests."""

from __future__ import annotations

import os
from typing import Any

from gw_runner import task


@task
def flaky(payload: Any) -> Any:
    """Fails with payload["error"] while the file payload["fail_while"] exists."""
    if os.path.exists(payload["fail_while"]):
        raise RuntimeError(payload["error"])
    return {"done": payload.get("n"), "note": payload["error"]}


@task
def plain(payload: Any) -> Any:
    return {"echo": payload}
