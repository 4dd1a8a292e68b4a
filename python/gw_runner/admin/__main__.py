"""``python -m gw_runner.admin``: the admin command line (see gw_runner.admin)."""

from __future__ import annotations

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
