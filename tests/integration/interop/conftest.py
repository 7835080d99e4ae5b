"""Fixtures for the downstream-consumer tests: our event store in a child process.

The server runs in a child (``EventStoreProcess``) so the asyncio esdbclient of each test owns
its event loop (gRPC's asyncio poller serves one loop per process). ``ESDB_URI`` points the
tests at a real EventStoreDB instead.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from esdbclient import AsyncEventStoreDBClient

from tests.support.eventstore import connected_async_client, store_uri


@pytest.fixture(scope="session")
def esdb_uri() -> Iterator[str]:
    """``ESDB_URI``, or the URI of our in-memory server started for the session."""
    with store_uri() as uri:
        yield uri


@pytest.fixture
async def async_client(esdb_uri: str) -> AsyncIterator[AsyncEventStoreDBClient]:
    """A connected asyncio client, closed after the test."""
    async with connected_async_client(esdb_uri) as connected:
        yield connected


@pytest.fixture
def unique() -> str:
    """A suffix no other test (or run) uses, for group names and grid ids."""
    return uuid.uuid4().hex[:12]
