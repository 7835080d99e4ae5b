"""Run the command service: ``python -m services.command`` (settings from ROVER_* variables)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from services.command.bootstrap import build
from services.command.settings import CommandSettings
from services.common.entrypoint import parse_command_line, start_tracing
from services.common.logs import configure_logging, get_logger

__all__ = ["main"]


async def _serve(settings: CommandSettings) -> None:
    configure_logging(level=settings.log_level, fmt=settings.log_format, service="command")
    log = get_logger("services.command")
    log.info("command service starting", eventstore=settings.eventstore_uri)
    await build(settings).run_until_signal()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (``--help`` and bad settings exit early)."""
    _, settings = parse_command_line(
        "python -m services.command",
        "Run the command service (RoverCommandService) until SIGTERM or SIGINT.",
        CommandSettings,
        argv,
    )
    start_tracing("python -m services.command", "command")
    asyncio.run(_serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
