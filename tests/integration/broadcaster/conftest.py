"""Fixtures: the event store in a child process (one per session), in-process broadcasters
and the command service.

The store runs in a child process so that the two cores of a small box share the load; the
broadcaster, the command service and the clients share the test's event loop (gRPC's asyncio
poller serves one loop per process).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import grpc
import pytest

from services.broadcaster.bootstrap import BroadcasterApp, build
from services.broadcaster.settings import BroadcasterSettings
from services.command.bootstrap import build as build_command
from services.command.settings import CommandSettings
from standins.eventstore.process import EventStoreProcess
from tests.integration.broadcaster.commands import CommandStub, command_stub
from tests.integration.broadcaster.helpers import Appender
from tests.support.eventstore import connected_async_client

StartBroadcaster = Callable[..., Awaitable[BroadcasterApp]]


@pytest.fixture(scope="session")
def esdb_uri() -> Iterator[str]:
    """Our event store, in memory, in a child process shared by the session."""
    with EventStoreProcess(db_path=None) as process:
        yield process.uri


@pytest.fixture
async def appender(esdb_uri: str) -> AsyncIterator[Appender]:
    """Appends integration events with the command service's publisher adapter."""
    async with connected_async_client(esdb_uri) as client:
        appender = Appender(client)
        try:
            yield appender
        finally:
            appender.close()  # its pooled calls, before the client closes


@pytest.fixture
async def start_broadcaster(esdb_uri: str) -> AsyncIterator[StartBroadcaster]:
    """Start broadcasters on 127.0.0.1:0 (settings and fast_updates overridable); all stopped."""
    started: list[BroadcasterApp] = []

    async def start(**overrides: object) -> BroadcasterApp:
        values: dict[str, object] = {
            "broadcaster_address": "127.0.0.1:0",
            "eventstore_uri": esdb_uri,
            "shutdown_grace_seconds": 1.0,
        }
        switches = {k: overrides.pop(k) for k in ("fast_updates",) if k in overrides}
        values.update(overrides)
        broadcaster = build(BroadcasterSettings(**values), **switches)  # type: ignore[arg-type]
        await broadcaster.start()
        started.append(broadcaster)
        await broadcaster.parts.hub.wait_live()
        return broadcaster

    yield start
    for broadcaster in started:
        await broadcaster.stop(grace=0.5)


@pytest.fixture
async def commands(esdb_uri: str) -> AsyncIterator[CommandStub]:
    """A stub of a real command service (in the test's loop) against the session's store."""
    settings = CommandSettings(
        command_address="127.0.0.1:0", eventstore_uri=esdb_uri, shutdown_grace_seconds=1.0
    )
    service = build_command(settings)
    await service.start()
    try:
        async with grpc.aio.insecure_channel(service.address) as channel:
            yield command_stub(channel)
    finally:
        await service.stop()
