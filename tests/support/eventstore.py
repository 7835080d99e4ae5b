"""A test suite's event store: ``ESDB_URI`` (a real EventStoreDB) or ours in a child process."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator

from esdbclient import AsyncEventStoreDBClient

from standins.eventstore.process import EventStoreProcess

__all__ = ["connected_async_client", "store_uri"]


@contextlib.contextmanager
def store_uri() -> Iterator[str]:
    """``ESDB_URI`` when set; otherwise the URI of our in-memory server, running for the block.

    The server runs in a child process, so that the asyncio esdbclient of each test owns its
    event loop (gRPC's asyncio poller serves one loop per process).
    """
    external = os.environ.get("ESDB_URI")
    if external:
        yield external
        return
    with EventStoreProcess(db_path=None) as process:
        yield process.uri


@contextlib.asynccontextmanager
async def connected_async_client(uri: str) -> AsyncIterator[AsyncEventStoreDBClient]:
    """A connected asyncio client of ``uri``, closed after the block."""
    client = AsyncEventStoreDBClient(uri)
    await client.connect()
    try:
        yield client
    finally:
        await client.close()
