"""Run the web front-end: ``python -m services.web`` (settings from ``ROVER_*``)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from services.common.entrypoint import parse_command_line
from services.common.logs import configure_logging
from services.web.bootstrap import build
from services.web.settings import WebSettings

__all__ = ["main"]


async def _serve(settings: WebSettings) -> None:
    await build(settings).run_until_signal()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (``--help`` and bad settings exit early)."""
    _, settings = parse_command_line(
        "python -m services.web",
        "Serve the live map (page, JSON API, live stream) until SIGTERM or SIGINT.",
        WebSettings,
        argv,
    )
    configure_logging(level=settings.log_level, fmt=settings.log_format, service="web")
    asyncio.run(_serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
