"""Run the event store: ``python -m standins.eventstore --db PATH --port 2113``.

Flags override ``ROVER_EVENTSTORE_*`` variables. Exits non-zero with a clear message for bad
flags (2), an unusable database path or a port in use (1). SIGTERM/SIGINT stop it gracefully.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence

import structlog
from pydantic import ValidationError

from services.common.settings_text import SettingsError, load_settings, settings_help
from standins.eventstore.access import User, builtin_users
from standins.eventstore.server import EventStoreServer, ServerStartError
from standins.eventstore.settings import EventStoreSettings

__all__ = ["main"]


def _problems(error: ValidationError, name: Callable[[str], str]) -> str:
    """One line per invalid setting, named by ``name`` (an environment variable or a flag)."""
    lines = []
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"]) or "settings"
        lines.append(f"  {name(field)}={problem.get('input')!r}: {problem['msg']}")
    return "\n".join(lines)


def parse_settings(argv: Sequence[str]) -> EventStoreSettings:
    """Settings from the environment, overridden by command-line flags."""
    argv = list(argv)
    try:
        base = load_settings(EventStoreSettings)
    except SettingsError as error:
        if "-h" not in argv and "--help" not in argv:
            lines = "\n".join(f"  {line}" for line in str(error).splitlines())
            sys.stderr.write(f"eventstore: invalid environment setting:\n{lines}\n")
            raise SystemExit(2) from None
        base = EventStoreSettings.model_construct()  # --help still works
    parser = argparse.ArgumentParser(
        prog="python -m standins.eventstore",
        description="EventStoreDB-compatible single-node server stored in SQLite.",
        epilog=settings_help(EventStoreSettings) + "\n(flags override them)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--db", default=base.db, help="SQLite database file")
    parser.add_argument(
        "--memory",
        action="store_true",
        default=base.memory,
        help="keep everything in memory (nothing survives a restart)",
    )
    parser.add_argument("--host", default=base.host, help="listen address (127.0.0.1)")
    parser.add_argument("--port", type=int, default=base.port, help="listen port (2113; 0=any)")
    parser.add_argument(
        "--advertise-host",
        default=base.advertise_host,
        help="address announced by gossip (localhost)",
    )
    parser.add_argument(
        "--advertise-port",
        type=int,
        default=base.advertise_port,
        help="port announced by gossip (the listen port)",
    )
    parser.add_argument(
        "--metrics-address",
        default=base.metrics_address,
        help="host:port of /metrics (127.0.0.1:9104; port 0: any; empty: none)",
    )
    parser.add_argument("--tls-cert", default=base.tls_cert, help="PEM certificate (enables TLS)")
    parser.add_argument("--tls-key", default=base.tls_key, help="PEM private key")
    parser.add_argument(
        "--auth",
        action="store_true",
        default=base.auth,
        help="enforce users and stream ACLs (needs --tls-cert/--tls-key)",
    )
    parser.add_argument(
        "--no-fsync",
        dest="durable",
        action="store_false",
        default=base.durable,
        help="do not fsync before acknowledging (faster, not crash-safe)",
    )
    parser.add_argument("--log-format", choices=["console", "json"], default=base.log_format)
    parser.add_argument(
        "--log-level", choices=["debug", "info", "warning", "error"], default=base.log_level
    )
    args = parser.parse_args(argv)
    if args.memory and args.db:
        parser.error("--memory and --db are mutually exclusive")
    if not args.memory and not args.db:
        parser.error("one of --db PATH or --memory is required")
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    try:
        return EventStoreSettings.model_validate({**base.model_dump(), **vars(args)})
    except ValidationError as error:
        parser.error("invalid setting:\n" + _problems(error, lambda f: "--" + f.replace("_", "-")))


def configure_logging(log_format: str, level: str) -> None:
    """structlog to stderr, as JSON lines or key=value console lines."""
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def _users(settings: EventStoreSettings) -> dict[str, User] | None:
    """The users the store enforces (None: auth off)."""
    if not settings.auth:
        return None
    return builtin_users(
        User(name, spec.password, tuple(spec.groups)) for name, spec in settings.users.items()
    )


async def _serve(settings: EventStoreSettings) -> int:
    log = structlog.get_logger("eventstore")
    server = EventStoreServer(
        db_path=None if settings.memory else settings.db,
        host=settings.host,
        port=settings.port,
        advertise_host=settings.advertise_host,
        advertise_port=settings.advertise_port,
        tls_cert=settings.tls_cert,
        tls_key=settings.tls_key,
        durable=settings.durable,
        max_append_size=settings.max_append_size,
        metrics_address=settings.metrics_address,
        users=_users(settings),
    )
    try:
        await server.start()
    except ServerStartError as error:
        log.error("start_failed", error=str(error))
        sys.stderr.write(f"eventstore: {error}\n")
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("stopping", grace=settings.shutdown_grace)
    await server.stop(settings.shutdown_grace)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    settings = parse_settings(sys.argv[1:] if argv is None else argv)
    configure_logging(settings.log_format, settings.log_level)
    return asyncio.run(_serve(settings))


if __name__ == "__main__":
    sys.exit(main())
