"""Fixtures shared by the integration tiers: the embedded event store in the test's loop."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from esdbclient import AsyncEventStoreDBClient

from standins.eventstore.server import EventStoreServer


@pytest.fixture
async def eventstore() -> AsyncIterator[EventStoreServer]:
    """Our EventStoreDB-compatible server, in memory, in this test's event loop.

    gRPC's asyncio poller serves one loop per process, so servers and clients of a test share
    its loop; tests that must kill the store use ``EventStoreProcess`` instead.
    """
    async with EventStoreServer(db_path=None, port=0) as server:
        yield server


@pytest.fixture
async def esdb(eventstore: EventStoreServer) -> AsyncIterator[AsyncEventStoreDBClient]:
    """A connected asyncio esdbclient on ``eventstore``, closed after the test."""
    client = AsyncEventStoreDBClient(eventstore.uri)
    await client.connect()
    yield client
    await client.close()
