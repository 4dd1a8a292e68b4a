"""``gw-runner`` / ``python -m gw_runner``: run the handlers of a task file.

Exit codes: 0 clean exit, 1 runtime failure, 2 usage error (bad option, bad task file).
Every option can also come from a ``GW_RUNNER_<OPTION>`` environment variable; the command
line wins over the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ._loader import load_task_file
from ._settings import (
    DEFAULT_HEALTH_HOST,
    DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_LOCAL_QUEUE_TTL,
    DEFAULT_METRICS_HOST,
    DEFAULT_METRICS_STATS_INTERVAL,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_PRUNE_INTERVAL,
    DEFAULT_RECOVERY_DELAY,
    DEFAULT_REPORT_DELAY,
    DEFAULT_SHUTDOWN_TIMEOUT,
    DEFAULT_STALE_AFTER,
    DEFAULT_SWEEP_INTERVAL,
    MAX_BATCH_SIZE,
    MIN_PRUNE_INTERVAL,
    WorkerSettings,
)
from ._worker import FINAL_REPORT_GRACE, FORCED_STOP_GRACE, Worker
from .errors import ConfigurationError, TaskFileError

if TYPE_CHECKING:
    from ._health import HealthServer

PROG = "gw-runner"
ENV_PREFIX = "GW_RUNNER_"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("text", "json")

log = logging.getLogger("gw_runner.cli")


class UsageError(Exception):
    """A bad option value or environment variable (exit code 2)."""


# --- value parsers ----------------------------------------------------------------------------


def _positive_int(text: str, *, low: int = 1, high: int = 1000) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"expected an integer, got {text!r}") from None
    if not low <= value <= high:
        raise ValueError(f"must be from {low} to {high}, got {value}")
    return value


def _seconds(text: str, *, minimum: float = 0.0) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value < minimum:
        raise ValueError(f"must be a number of seconds >= {minimum:g}, got {text!r}")
    return value


def _seconds_or_off(text: str, *, minimum: float) -> float:
    """Seconds, at least ``minimum``, or 0 (off)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expected a number of seconds, got {text!r}") from None
    if value != 0 and (not math.isfinite(value) or value < minimum):
        raise ValueError(f"must be 0 (off) or a number of seconds >= {minimum:g}, got {text!r}")
    return value


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true/false (1/0, yes/no, on/off), got {text!r}")


def _port(text: str) -> int:
    return _positive_int(text, low=0, high=65535)


def _host(text: str) -> str:
    host = text.strip()
    if not host:
        raise ValueError("expected an address or host name, got an empty string")
    return host


def _choice(choices: Sequence[str]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        lowered = text.strip().lower()
        if lowered not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {text!r}")
        return lowered

    return parse


def _argparse_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return convert


@dataclass(frozen=True)
class _Option:
    flags: tuple[str, ...]
    dest: str
    env: str
    help: str
    parse: Callable[[str], Any] | None = None  # None: a boolean switch
    metavar: str | None = None
    default: Any = None


_OPTIONS: tuple[_Option, ...] = (
    _Option(
        ("-c", "--connection"), "connection", "CONNECTION",
        "PostgreSQL connection string or URI (default: $DATABASE_URL, then libpq's PG* "
        "variables)",
        str, "CONNINFO",
    ),
    _Option(
        ("-j", "--jobs"), "jobs", "JOBS", "how many jobs run at the same time (default: 1)",
        _positive_int, "N", 1,
    ),
    _Option(
        ("--once",), "once", "ONCE",
        "run until nothing is runnable, then exit 0 (no LISTEN, no cron, no pruning)",
    ),
    _Option(
        ("--poll-interval",), "poll_interval", "POLL_INTERVAL",
        "seconds between polls while idle; NOTIFY and the next job's due time wake the runner "
        f"sooner (default: {DEFAULT_POLL_INTERVAL:g})",
        lambda t: _seconds(t, minimum=0.01), "SECONDS", DEFAULT_POLL_INTERVAL,
    ),
    _Option(
        ("--no-listen",), "no_listen", "NO_LISTEN",
        "do not LISTEN for new jobs, only poll (for PgBouncer in transaction mode)",
    ),
    _Option(
        ("--crontab",), "crontab", "CRONTAB",
        "crontab file of recurring jobs (default: ./crontab if it exists)", str, "FILE",
    ),
    _Option(
        ("--batch-size",), "batch_size", "BATCH_SIZE",
        "most jobs claimed per call (default: adaptive, from max(2 x jobs, 50) up to 500 "
        "while a backlog of fast jobs lasts)",
        lambda t: _positive_int(t, high=MAX_BATCH_SIZE), "N",
    ),
    _Option(
        ("--local-queue-ttl",), "local_queue_ttl", "LOCAL_QUEUE_TTL",
        "claimed jobs not started within this many seconds are returned to the queue "
        f"(default: {DEFAULT_LOCAL_QUEUE_TTL:g})",
        lambda t: _seconds(t, minimum=0.01), "SECONDS", DEFAULT_LOCAL_QUEUE_TTL,
    ),
    _Option(
        ("--report-delay",), "report_delay", "REPORT_DELAY",
        "outcomes are reported in batches at most this many seconds after the first one is "
        f"ready (default: {DEFAULT_REPORT_DELAY:g})",
        _seconds, "SECONDS", DEFAULT_REPORT_DELAY,
    ),
    _Option(
        ("--shutdown-timeout",), "shutdown_timeout", "SHUTDOWN_TIMEOUT",
        "on SIGTERM/SIGINT, running jobs get this many seconds to finish before they are "
        f"failed (default: {DEFAULT_SHUTDOWN_TIMEOUT:g})",
        _seconds, "SECONDS", DEFAULT_SHUTDOWN_TIMEOUT,
    ),
    _Option(
        ("--no-prepared-statements",), "no_prepared_statements", "NO_PREPARED_STATEMENTS",
        "do not prepare statements (PgBouncer in transaction mode before 1.21)",
    ),
    _Option(
        ("--durable-claims",), "durable_claims", "DURABLE_CLAIMS",
        "claim with synchronous_commit on (default: off for the claim connection only; a claim "
        "lost in a server crash just makes the job run again)",
    ),
    _Option(
        ("--health-port",), "health_port", "HEALTH_PORT",
        "serve GET /live and /ready (200 or 503, JSON) on this TCP port, for container "
        "probes (default: off)",
        _port, "PORT",
    ),
    _Option(
        ("--health-host",), "health_host", "HEALTH_HOST",
        "address the health endpoint listens on: 0.0.0.0 (or ::) to let probes from outside "
        "reach it, e.g. in a container (default: 127.0.0.1, loopback only)",
        _host, "HOST", DEFAULT_HEALTH_HOST,
    ),
    _Option(
        ("--health-file",), "health_file", "HEALTH_FILE",
        "touch this file every 5 s while the worker is ready; removed at exit (default: off)",
        str, "PATH",
    ),
    _Option(
        ("--metrics-port",), "metrics_port", "METRICS_PORT", "serve Prometheus metrics at "
        "/metrics on this TCP port, 0 for a free one (needs gw_runner[metrics]; default: off)",
        _port, "PORT",
    ),
    _Option(
        ("--metrics-host",), "metrics_host", "METRICS_HOST", "address the metrics endpoint "
        "listens on (default: 127.0.0.1, loopback only)", _host, "HOST", DEFAULT_METRICS_HOST,
    ),
    _Option(
        ("--metrics-stats-interval",), "metrics_stats_interval", "METRICS_STATS_INTERVAL",
        "read graphile_worker.queue_stats() for the queue gauges at most this often; 0: no "
        f"queue gauges (default: {DEFAULT_METRICS_STATS_INTERVAL:g})",
        _seconds, "SECONDS", DEFAULT_METRICS_STATS_INTERVAL,
    ),
    _Option(("--otel",), "otel", "OTEL", "OpenTelemetry spans per job and per enqueue, to "
            "the global TracerProvider (needs gw_runner[otel]; default: off)"),
    _Option(
        ("--job-timeout",), "job_timeout", "JOB_TIMEOUT",
        "time limit of a job whose task (@task(timeout=...)) and flags (timeout:SECONDS) set "
        "none: an async handler is cancelled, a sync one's thread abandoned, the attempt fails "
        "(default: no limit)",
        lambda t: _seconds(t, minimum=0.001), "SECONDS",
    ),
    _Option(
        ("--no-recovery",), "no_recovery", "NO_RECOVERY",
        "no crash recovery: do not register, send heartbeats or sweep lost runners (their "
        "jobs are then released only after 4 hours)",
    ),
    _Option(
        ("--heartbeat-interval",), "heartbeat_interval", "HEARTBEAT_INTERVAL",
        f"seconds between heartbeats (default: {DEFAULT_HEARTBEAT_INTERVAL:g})",
        lambda t: _seconds(t, minimum=0.01), "SECONDS", DEFAULT_HEARTBEAT_INTERVAL,
    ),
    _Option(
        ("--stale-after",), "stale_after", "STALE_AFTER",
        "stale threshold: a runner without a heartbeat for this many seconds is declared lost "
        "and its jobs are released; at least 3 heartbeat intervals "
        f"(default: {DEFAULT_STALE_AFTER:g})",
        lambda t: _seconds(t, minimum=0.03), "SECONDS", DEFAULT_STALE_AFTER,
    ),
    _Option(
        ("--sweep-interval",), "sweep_interval", "SWEEP_INTERVAL",
        "seconds between sweeps for lost runners, +-25%% jitter "
        f"(default: {DEFAULT_SWEEP_INTERVAL:g})",
        lambda t: _seconds(t, minimum=0.01), "SECONDS", DEFAULT_SWEEP_INTERVAL,
    ),
    _Option(
        ("--recovery-delay",), "recovery_delay", "RECOVERY_DELAY",
        "jobs released from a lost runner become runnable this many seconds later "
        f"(default: {DEFAULT_RECOVERY_DELAY:g})",
        _seconds, "SECONDS", DEFAULT_RECOVERY_DELAY,
    ),
    _Option(
        ("--prune-interval",), "prune_interval", "PRUNE_INTERVAL",
        "seconds between rounds that delete the finished jobs kept past their retention, "
        "+-25%% jitter; 0: this runner does not prune (default: "
        f"{DEFAULT_PRUNE_INTERVAL:g})",
        lambda t: _seconds_or_off(t, minimum=MIN_PRUNE_INTERVAL), "SECONDS",
        DEFAULT_PRUNE_INTERVAL,
    ),
    _Option(
        ("--log-level",), "log_level", "LOG_LEVEL",
        f"log level: {', '.join(LOG_LEVELS)} (default: info)",
        _choice(LOG_LEVELS), "LEVEL", "info",
    ),
    _Option(
        ("--log-format",), "log_format", "LOG_FORMAT",
        "log format: text (human-readable) or json (one object per line) (default: text)",
        _choice(LOG_FORMATS), "FORMAT", "text",
    ),
)


def _env_default(option: _Option, environ: dict[str, str], errors: list[str]) -> Any:
    name = ENV_PREFIX + option.env
    raw = environ.get(name)
    fallback = option.default if option.parse is not None else False
    if raw is None or (raw == "" and option.parse is not None):
        return fallback
    try:
        return option.parse(raw) if option.parse is not None else _bool(raw)
    except ValueError as e:
        errors.append(f"environment variable {name}={raw!r}: {e}")
        return fallback


def build_parser(
    environ: dict[str, str], env_errors: list[str] | None = None
) -> argparse.ArgumentParser:
    """The argument parser; defaults come from ``environ``. Unusable environment values are
    appended to ``env_errors`` (reported after the command line is parsed)."""
    errors = env_errors if env_errors is not None else []
    from . import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Run the task handlers of TASKS_FILE against the graphile_worker queue. Every "
            "option can also be set with the environment variable shown in brackets; the "
            "command line wins."
        ),
        epilog="Exit codes: 0 clean exit, 1 runtime failure, 2 usage error. "
        "See docs/runner.md.",
    )
    parser.add_argument(
        "tasks_file", nargs="?", metavar="TASKS_FILE",
        default=environ.get(ENV_PREFIX + "TASKS_FILE") or None,
        help=f"Python file with the task handlers [env {ENV_PREFIX}TASKS_FILE]",
    )
    for option in _OPTIONS:
        env_name = ENV_PREFIX + option.env
        default = _env_default(option, environ, errors)
        text = f"{option.help} [env {env_name}]"
        if option.parse is None:
            parser.add_argument(
                *option.flags, dest=option.dest, action="store_true", default=default, help=text
            )
        else:
            parser.add_argument(
                *option.flags, dest=option.dest, type=_argparse_type(option.parse),
                default=default, metavar=option.metavar, help=text,
            )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def settings_from_args(args: argparse.Namespace, environ: dict[str, str]) -> WorkerSettings:
    connection = args.connection
    if connection is None:
        connection = environ.get("DATABASE_URL") or ""  # "" = libpq's PG* defaults
    crontab = args.crontab
    if crontab is None and os.path.isfile("crontab"):
        crontab = "crontab"
    elif crontab is not None and not os.path.isfile(crontab):
        raise UsageError(f"crontab file {crontab}: no such file")
    try:
        return WorkerSettings(
            connection=connection,
            concurrency=args.jobs,
            once=args.once,
            poll_interval=args.poll_interval,
            listen=not args.no_listen,
            batch_size=args.batch_size,
            local_queue_ttl=args.local_queue_ttl,
            report_delay=args.report_delay,
            shutdown_timeout=args.shutdown_timeout,
            crontab=crontab,
            prepared_statements=not args.no_prepared_statements,
            durable_claims=args.durable_claims,
            job_timeout=args.job_timeout,
            recovery=not args.no_recovery,
            heartbeat_interval=args.heartbeat_interval,
            stale_after=args.stale_after,
            sweep_interval=args.sweep_interval,
            recovery_delay=args.recovery_delay,
            prune_interval=args.prune_interval,
            metrics_port=args.metrics_port, metrics_host=args.metrics_host,
            metrics_stats_interval=args.metrics_stats_interval, otel=args.otel,
        )
    except ConfigurationError as e:
        raise UsageError(str(e)) from None


# --- logging ----------------------------------------------------------------------------------

_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}

# Characters that could forge or hide a record when a log is read in a terminal or by line:
# the C0 controls (newline, carriage return, ESC...), DEL, the C1 controls (CSI \x9b...), the
# Unicode line and paragraph separators and the bidirectional overrides. Messages and
# tracebacks often quote job data (an exception that quotes the payload), so the text format
# shows these as escapes: "\n", "\x1b", "\u2028". Not reversible: meant for reading.
_UNSAFE = [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029, *range(0x202A, 0x202F),
           *range(0x2066, 0x206A)]
_NAMED = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
_ESCAPES = {c: _NAMED.get(c) or (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}")
            for c in _UNSAFE}
_ESCAPES_KEEP_NEWLINE = {c: e for c, e in _ESCAPES.items() if c != 0x0A}
# json.dumps escapes the C0 controls already; these are valid raw in JSON strings
_JSON_ESCAPES = {c: f"\\u{c:04x}" for c in _UNSAFE if c >= 0x7F}
_TRACEBACK_INDENT = "    "


def escape_controls(text: str) -> str:
    """``text`` on one line: control characters (newlines included), line separators and
    bidirectional overrides become visible escapes (``\\n``, ``\\x1b``, ``\\u2028``)."""
    return text.translate(_ESCAPES)


def indent_block(text: str) -> str:
    """A traceback kept readable but unable to pass for a record: control characters other
    than the newline escaped, every line indented."""
    lines = text.rstrip("\n").translate(_ESCAPES_KEEP_NEWLINE).split("\n")
    return "\n".join(_TRACEBACK_INDENT + line for line in lines)


class TextFormatter(logging.Formatter):
    """``2026-01-01 12:00:01.234 INFO    gw_runner.worker: message`` with
    ``[job 12 send_email]`` for job records.

    A record is one line, then its traceback (if any) indented: every line that starts at
    column 0 starts a record, whatever a message or a traceback holds (see
    :func:`escape_controls` and :func:`indent_block`)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        t = datetime.fromtimestamp(record.created)
        return t.strftime("%Y-%m-%d %H:%M:%S") + f".{int(record.msecs):03d}"

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        if record.name == "gw_runner.job" and hasattr(record, "job_id"):
            head, _, tail = text.partition(": ")
            text = f"{head}: [job {record.job_id} {getattr(record, 'task', '?')}] {tail}"
        return text

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        record.asctime = self.formatTime(record)
        text = escape_controls(self.formatMessage(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)  # cached raw, as usual
        if record.exc_text:
            text += "\n" + indent_block(record.exc_text)
        if record.stack_info:
            text += "\n" + indent_block(self.formatStack(record.stack_info))
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, the ``extra`` fields (job_id,
    task, worker_id...) and exc (the traceback) when there is one. Control characters are
    escaped (``\\n``, ``\\u001b``, ``\\u009b``): the line is valid JSON that also prints
    safely in a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False).translate(_JSON_ESCAPES)


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    logging.getLogger("gw_runner").setLevel(level.upper())
    # handlers' own loggers (any name) follow the chosen level too
    root.setLevel(level.upper())
    logging.getLogger("psycopg").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("asyncio").setLevel(max(logging.WARNING, root.level))


# --- main ---------------------------------------------------------------------------------------


def _usage_error(parser: argparse.ArgumentParser, message: str) -> int:
    parser.print_usage(sys.stderr)
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI entry point; returns the exit code."""
    environ = dict(os.environ)
    env_errors: list[str] = []
    parser = build_parser(environ, env_errors)
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:  # --help, --version, or argparse's own usage errors
            return e.code if isinstance(e.code, int) else 2
        if env_errors:
            raise UsageError(env_errors[0])
        if not args.tasks_file:
            return _usage_error(parser, f"the TASKS_FILE argument (or {ENV_PREFIX}TASKS_FILE) "
                                "is required")
        settings = settings_from_args(args, environ)
    except UsageError as e:
        return _usage_error(parser, str(e))
    configure_logging(args.log_level, args.log_format)
    try:
        tasks = load_task_file(args.tasks_file)
    except TaskFileError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    try:
        worker = Worker(tasks, settings)
    except ConfigurationError as e:
        return _usage_error(parser, str(e))
    health: HealthServer | None = None
    if args.health_port is not None:
        from ._health import HealthServer  # only when asked for: http.server is slow to import

        health = HealthServer(worker, host=args.health_host, port=args.health_port)
        try:
            health.start()
        except OSError as e:
            print(f"{PROG}: error: cannot serve the health endpoint on "
                  f"{args.health_host}:{args.health_port}: {e}", file=sys.stderr)
            return 1
    try:
        code = asyncio.run(_run(worker, args.health_file))
    except KeyboardInterrupt:
        code = 1
    except Exception:
        log.critical("the runner failed", exc_info=True)
        code = 1
    finally:
        if health is not None:
            health.stop()
    if worker.threads_busy:
        # sync handlers abandoned at shutdown still run; do not wait for their threads
        log.warning("exiting while abandoned sync handlers still run in their threads")
        _exit_now(code)
    return code


async def _run(worker: Worker, health_file: str | None = None) -> int:
    """Run the worker with the library API; the CLI, not the library, owns the signals:
    the first SIGTERM/SIGINT asks for a graceful shutdown, the second for a forceful one."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    handler = _SignalHandler(worker)
    for sig in signals:
        loop.add_signal_handler(sig, handler, sig)
    beat = None
    if health_file:
        from ._health import heartbeat_file

        beat = asyncio.create_task(heartbeat_file(worker, health_file))
    try:
        status = await worker.run()
    finally:
        if beat is not None:
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)
        for sig in signals:
            loop.remove_signal_handler(sig)
    if worker.abandoned_handlers:
        # asyncio.run would wait for ever at its exit for handlers that ignore cancellation
        log.warning("exiting while %d abandoned async handler(s) still run",
                    worker.abandoned_handlers, extra={"worker_id": worker.worker_id})
        _exit_now(status)
    return status


class _SignalHandler:
    """SIGTERM/SIGINT: the first asks for a graceful shutdown, bounded by the shutdown
    timeout plus ``FINAL_REPORT_GRACE``; the second for a forceful one, bounded by
    ``FORCED_STOP_GRACE``. Past its bound (plus a margin) the process exits with status 1,
    whatever still runs: a timer thread sees to it even when the event loop is stuck."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.count = 0

    def __call__(self, sig: signal.Signals) -> None:
        self.count += 1
        worker = self.worker
        extra = {"worker_id": worker.worker_id}
        if self.count == 1:
            log.info("received %s", sig.name, extra=extra)
            worker.request_shutdown()
            _exit_after(worker.shutdown_grace + FINAL_REPORT_GRACE + _EXIT_MARGIN)
        else:
            log.warning("received %s again: stopping now", sig.name, extra=extra)
            worker.request_shutdown(force=True)
            _exit_after(FORCED_STOP_GRACE + _EXIT_MARGIN)


#: Seconds past a shutdown's bound after which the process exits whatever still runs.
_EXIT_MARGIN = 2.0


def _exit_after(seconds: float) -> None:
    def expire() -> None:
        log.error("the runner did not stop within %g s; exiting now (status 1)", seconds)
        _exit_now(1)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.name = "gw-exit-timer"
    timer.start()


def _exit_now(status: int) -> None:
    """Exit at once (no waiting for threads or tasks), after flushing the logs."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
