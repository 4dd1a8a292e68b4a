"""``python -m gw_runner TASKS_FILE``: see ``gw_runner._cli``."""

from ._cli import main

raise SystemExit(main())
