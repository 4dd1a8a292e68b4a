"""A live web dashboard for the job queue (docs/operations.md, "The dashboard").

Serve it with ``python -m gw_runner.dashboard --port 8080`` or mount the ASGI app that
:func:`create_app` returns in a FastAPI or Starlette application. Needs the ``dashboard`` extra
(``pip install 'gw_runner[dashboard]'``: starlette, jinja2, uvicorn, psycopg-pool).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._app import DashboardApp, create_app

__all__ = ["DashboardApp", "create_app"]

EXTRA_HINT = "install the dashboard extra: pip install 'gw_runner[dashboard]'"


def __getattr__(name: str) -> Any:
    # Imported on first use, so that `python -m gw_runner.dashboard` can say what is missing.
    if name in __all__:
        try:
            from . import _app
        except ImportError as exc:
            raise ImportError(f"gw_runner.dashboard needs {exc.name}: {EXTRA_HINT}") from exc
        return getattr(_app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
