"""Run the broadcaster: ``python -m services.broadcaster`` (settings from ``ROVER_*``)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from services.broadcaster.bootstrap import build
from services.broadcaster.settings import BroadcasterSettings
from services.common.entrypoint import parse_command_line, start_tracing
from services.common.logs import configure_logging

__all__ = ["main"]


async def _serve(settings: BroadcasterSettings) -> None:
    await build(settings).run_until_signal()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (``--help`` and bad settings exit early)."""
    _, settings = parse_command_line(
        "python -m services.broadcaster",
        "Run the broadcaster (RoverLiveService.WatchGrid) until SIGTERM or SIGINT.",
        BroadcasterSettings,
        argv,
    )
    configure_logging(level=settings.log_level, fmt=settings.log_format, service="broadcaster")
    start_tracing("python -m services.broadcaster", "broadcaster")
    asyncio.run(_serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
