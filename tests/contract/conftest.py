"""Fixtures of the port contract suites: a fresh event store per test and a private Redis.

Each suite is parametrized over ``memory`` (the in-memory fake) and the real adapter. The
event store is ours, in memory, in the test's event loop (gRPC's asyncio poller serves one
loop per process), so every test starts from an empty ``$all`` and positions are its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from esdbclient import AsyncEventStoreDBClient

from services.command.adapters.esdb_appends import BatchAppender
from standins.eventstore.server import EventStoreServer
from tests.support.eventstore import connected_async_client
from tests.support.redis_server import redis_server, redis_url  # noqa: F401


@pytest.fixture
async def esdb() -> AsyncIterator[AsyncEventStoreDBClient]:
    """A connected client of a fresh, in-memory event store in this test's loop."""
    async with (
        EventStoreServer(db_path=None, port=0) as server,
        connected_async_client(server.uri) as client,
    ):
        yield client


@pytest.fixture
async def appender(esdb: AsyncEventStoreDBClient) -> AsyncIterator[BatchAppender]:
    """The command side's appender, its kept-open calls cancelled before the store stops.

    An open BatchAppend call would otherwise hold the server's graceful stop for its grace.
    """
    appender = BatchAppender(esdb)
    try:
        yield appender
    finally:
        appender.close()
