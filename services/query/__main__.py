"""``python -m services.query [serve|rebuild|status]``: run, rebuild or inspect the read side.

- ``serve`` (default): RoverQueryService plus the projector as a background task.
- ``rebuild``: replay every integration event into a new generation with a progress bar,
  then swap it in atomically; a running service keeps answering from the old one meanwhile.
- ``status``: print the projection lag (events and ms behind the store) as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Sequence

import grpc
from esdbclient.exceptions import EventStoreDBClientException
from redis.exceptions import RedisClusterException, RedisError

from services.common.entrypoint import parse_command_line, start_tracing
from services.common.logs import configure_logging
from services.common.progress import ProgressBar
from services.query.application.errors import ReadModelUnavailableError
from services.query.application.lag import measure_lag
from services.query.application.rebuild import RebuildProgress
from services.query.application.rebuild_once import RebuildRunningError
from services.query.bootstrap import build
from services.query.settings import QuerySettings

__all__ = ["main"]


async def _serve(settings: QuerySettings) -> None:
    await build(settings).run_until_signal()


def _progress_bar() -> Callable[[RebuildProgress | None], None]:
    bar = ProgressBar()

    def show(progress: RebuildProgress | None) -> None:
        if progress is not None:
            bar.show(progress.events, progress.position, progress.target)

    return show


async def _rebuild(settings: QuerySettings) -> None:
    """The admin RPC's rebuild, from here: the same lease, so never beside another one."""
    app = build(settings)
    await app.open()
    rebuilds = app.parts.rebuilds
    assert rebuilds is not None  # build always wires it
    try:
        result = await (await rebuilds.start(_progress_bar()))
    finally:
        await app.stop()
    sys.stderr.write("\n")
    summary = {
        "generation": result.generation,
        "replaced": result.replaced,
        "events": result.events,
        "seconds": round(result.seconds, 3),
    }
    sys.stdout.write(json.dumps(summary) + "\n")


async def _status(settings: QuerySettings) -> None:
    app = build(settings)
    await app.open()
    try:
        parts = app.parts
        lag = await measure_lag(parts.feed, parts.read_model, cap=settings.query_lag_count_cap)
    finally:
        await app.stop()
    sys.stdout.write(json.dumps(lag.as_fields()) + "\n")


# A dependency that is down: status and rebuild say so in one line instead of a traceback.
_STORE_OUTAGES = (EventStoreDBClientException, grpc.RpcError)
_READ_MODEL_OUTAGES = (RedisError, RedisClusterException, ReadModelUnavailableError)
_OUTAGES = (*_STORE_OUTAGES, *_READ_MODEL_OUTAGES, OSError)


def _unreachable(settings: QuerySettings, error: BaseException) -> str:
    if isinstance(error, _READ_MODEL_OUTAGES):
        where = f"the read model at {settings.redis_url}"
    else:
        where = f"the event store at {settings.eventstore_uri}"
    return f"cannot reach {where} ({type(error).__name__}: {error})"


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "command", nargs="?", default="serve", choices=["serve", "rebuild", "status"]
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (``--help`` and bad settings exit early)."""
    args, settings = parse_command_line(
        "python -m services.query", __doc__ or "", QuerySettings, argv, add_arguments=_arguments
    )
    # One-shot commands print their own result; their info records would only be noise.
    level = settings.log_level
    if args.command != "serve" and level in ("DEBUG", "INFO"):
        level = "DEBUG" if level == "DEBUG" else "WARNING"
    configure_logging(level=level, fmt=settings.log_format, service="query")
    runner = {"serve": _serve, "rebuild": _rebuild, "status": _status}[args.command]
    if args.command == "serve":
        start_tracing("python -m services.query", "query")
        asyncio.run(runner(settings))
        return 0
    try:
        asyncio.run(runner(settings))
    except _OUTAGES as error:
        sys.stderr.write(f"query {args.command}: {_unreachable(settings, error)}\n")
        return 1
    except RebuildRunningError as error:
        sys.stderr.write(f"query {args.command}: {error}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
