"""``python -m gw_runner.dashboard`` / ``gw-dashboard``: serve the dashboard with uvicorn.

Exit codes: 0 clean exit (Ctrl-C, SIGTERM), 1 runtime failure (database unreachable, port in
use), 2 usage error (bad option, missing extra).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
from collections.abc import Sequence

PROG = "gw-dashboard"
log = logging.getLogger("gw_runner.dashboard")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Serve the graphile_worker web dashboard: overview, jobs, job detail, tasks "
        "and queues, workers, cron, storage; live through server-sent events. Read-only unless "
        "--actions is given.",
        epilog="Environment: DATABASE_URL, GW_DASHBOARD_READ_DATABASE_URL, "
        "GW_DASHBOARD_BASIC_AUTH (USER:PASSWORD), GW_DASHBOARD_TOKEN, GW_DASHBOARD_SECRET; "
        "options win over them. Prefer the environment for secrets (the command line shows "
        "in `ps`). Exit codes: 0 clean exit, 1 runtime failure, 2 usage error.",
    )
    add = parser.add_argument
    add("-c", "--database-url", metavar="URL",
        help="the primary's connection string (default: $DATABASE_URL, then libpq's PG* "
        "variables); actions and LISTEN always use it")
    add("--read-database-url", metavar="URL",
        help="send the pages' reads to this server instead (a read-only standby)")
    add("--host", default="127.0.0.1",
        help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 for every "
        "interface, then set --basic-auth or --token)")
    add("--port", type=int, default=8080, help="port to bind (default 8080; 0 picks a free one)")
    add("--actions", action="store_true",
        help="switch the actions on (retry, cancel, delete, reschedule, pause, resume, limits, "
        "retention, run cron items); the database role needs the admin level")
    add("--basic-auth", metavar="USER:PASSWORD",
        help="require HTTP basic auth with these credentials")
    add("--token", metavar="TOKEN", help="accept `Authorization: Bearer TOKEN`")
    add("--refresh", type=float, default=2.0,
        help="seconds between the live pages' re-reads when nothing notifies (default 2)")
    add("--root-path", default="",
        help="the path prefix of a proxy in front that serves the dashboard under a sub-path "
             "(e.g. /ops) and strips it: links carry the prefix, this server answers at /")
    add("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        import uvicorn

        from . import create_app
        from ._security import parse_basic_auth
    except ImportError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    env = os.environ
    dsn = args.database_url if args.database_url is not None else env.get("DATABASE_URL", "")
    read_dsn = args.read_database_url or env.get("GW_DASHBOARD_READ_DATABASE_URL") or None
    basic_text = args.basic_auth or env.get("GW_DASHBOARD_BASIC_AUTH") or None
    token = args.token or env.get("GW_DASHBOARD_TOKEN") or None
    secret = env.get("GW_DASHBOARD_SECRET")
    try:
        basic = parse_basic_auth(basic_text) if basic_text else None
        if not 0 <= args.port <= 65535:
            raise ValueError(f"--port must be from 0 to 65535, not {args.port}")
        app = create_app(dsn, read_dsn=read_dsn, actions=args.actions, basic_auth=basic,
                         token=token, refresh=args.refresh,
                         secret=secret.encode() if secret else None)
    except ValueError as exc:
        option = "--basic-auth" if "basic auth" in str(exc) else ""
        print(f"{PROG}: {option + ': ' if option else ''}{exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s "
                        "%(name)s: %(message)s")
    for which, conninfo in (("database", dsn), ("read database", read_dsn)):
        if conninfo is None:
            continue
        problem = _check(conninfo)
        if problem:
            print(f"{PROG}: cannot use the {which}: {problem}", file=sys.stderr)
            return 1
    try:
        sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
        sock.listen(128)  # connections wait in the backlog until the server accepts them
    except OSError as exc:
        print(f"{PROG}: cannot listen on {args.host}:{args.port}: {exc.strerror}",
              file=sys.stderr)
        return 1
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    config = uvicorn.Config(app, log_level=args.log_level, root_path=args.root_path,
                            timeout_graceful_shutdown=2, access_log=args.log_level == "debug")
    server = uvicorn.Server(config)
    mode = "actions on" if args.actions else "read-only"
    # --root-path: the proxy in front strips the prefix; this server answers at / and writes
    # its links under the prefix
    behind = (f"; links under {args.root_path.rstrip('/')}/ for the proxy in front"
              if args.root_path.strip("/") else "")
    print(f"{PROG}: dashboard on http://{shown}:{port}/ ({mode}{behind})", flush=True)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    return 0


def _check(conninfo: str) -> str | None:
    """None when the server answers graphile_worker.version(), else what is wrong."""
    import psycopg

    from ._queries import VERSION

    async def probe() -> None:
        async with await psycopg.AsyncConnection.connect(conninfo, connect_timeout=10) as conn:
            await conn.execute(VERSION)

    try:
        asyncio.run(probe())
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None
