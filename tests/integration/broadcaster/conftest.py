"""Fixtures: the event store in a child process (one per session) and in-process broadcasters.

The store runs in a child process so that its gRPC server and the test's grpc.aio clients and
broadcaster do not share one event loop (and the two cores of a small box share the load).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from esdbclient import AsyncEventStoreDBClient

from services.broadcaster.bootstrap import Broadcaster, bootstrap
from services.broadcaster.settings import BroadcasterSettings
from services.eventstore.process import EventStoreProcess
from tests.integration.broadcaster.helpers import Appender

StartBroadcaster = Callable[..., Awaitable[Broadcaster]]


@pytest.fixture(scope="session")
def esdb_uri() -> Iterator[str]:
    """Our event store, in memory, in a child process shared by the session."""
    with EventStoreProcess(db_path=None) as process:
        yield process.uri


@pytest.fixture
async def appender(esdb_uri: str) -> AsyncIterator[Appender]:
    """Appends integration events exactly as the command service's publisher does."""
    client = AsyncEventStoreDBClient(esdb_uri)
    await client.connect()
    try:
        yield Appender(client)
    finally:
        await client.close()


@pytest.fixture
async def start_broadcaster(esdb_uri: str) -> AsyncIterator[StartBroadcaster]:
    """Start broadcasters on 127.0.0.1:0 (settings overridable); all stopped after the test."""
    started: list[Broadcaster] = []

    async def start(**overrides: object) -> Broadcaster:
        values: dict[str, object] = {
            "broadcaster_address": "127.0.0.1:0",
            "eventstore_uri": esdb_uri,
            "shutdown_grace_seconds": 1.0,
        }
        values.update(overrides)
        broadcaster = bootstrap(BroadcasterSettings(**values))  # type: ignore[arg-type]
        await broadcaster.start()
        started.append(broadcaster)
        return broadcaster

    yield start
    for broadcaster in started:
        await broadcaster.stop(grace=0.5)
