"""The admin command line of graphile_worker: ``gw-admin`` or ``python -m gw_runner.admin``
(docs/operations.md). ``gw-admin NOUN VERB ...``, e.g. ``gw-admin jobs list --state failed``,
``gw-admin jobs retry 42``, ``gw-admin tasks pause send_email``, ``gw-admin stats``.
"""

from __future__ import annotations

from ._cli import main

__all__ = ["main"]
