"""Fixtures of the EventStoreDB conformance suite (driven only through esdbclient).

The suite runs against a real EventStoreDB when ``ESDB_URI`` is set; otherwise it starts ours
ONCE per session as a child process (in memory) and shares it: gRPC's asyncio poller serves
one event loop per process, so a server in a child keeps the sync and the asyncio clients of
the tests independent of it.

Fixtures:
- ``esdb_uri``: the connection string (session).
- ``real_esdb``: True when ``ESDB_URI`` points at a real server (tests of our process skip).
- ``client`` / ``async_client``: a connected sync / asyncio client, closed after the test.
- ``stream_name``: a fresh, unique stream name for the test.
- ``eventstore_process``: a factory of private child servers (``db_path`` optional, stopped
  after the test) for restart and crash tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from esdbclient import AsyncEventStoreDBClient, EventStoreDBClient

from standins.eventstore.process import EventStoreProcess
from tests.support.eventstore import connected_async_client, store_uri

ProcessFactory = Callable[..., EventStoreProcess]


@pytest.fixture(scope="session")
def real_esdb() -> bool:
    """Whether the suite runs against an external EventStoreDB."""
    return bool(os.environ.get("ESDB_URI"))


@pytest.fixture(scope="session")
def esdb_uri() -> Iterator[str]:
    """``ESDB_URI``, or the URI of our in-memory server started for the session."""
    with store_uri() as uri:
        yield uri


@pytest.fixture
def client(esdb_uri: str) -> Iterator[EventStoreDBClient]:
    """A sync client, closed after the test."""
    connected = EventStoreDBClient(esdb_uri)
    try:
        yield connected
    finally:
        connected.close()


@pytest.fixture
async def async_client(esdb_uri: str) -> AsyncIterator[AsyncEventStoreDBClient]:
    """A connected asyncio client, closed after the test."""
    async with connected_async_client(esdb_uri) as connected:
        yield connected


@pytest.fixture
def stream_name(request: pytest.FixtureRequest) -> str:
    """A stream name no other test (or run) uses."""
    return f"{request.node.name.split('[')[0]}-{uuid.uuid4().hex}"


@pytest.fixture
def eventstore_process(tmp_path: Path, real_esdb: bool) -> Iterator[ProcessFactory]:
    """Start private child servers: ``eventstore_process(db_path=None | str)``."""
    if real_esdb:
        pytest.skip("needs our own server process")
    started: list[EventStoreProcess] = []

    def start(db_path: str | None = None, *extra_args: str) -> EventStoreProcess:
        process = EventStoreProcess(db_path, extra_args=tuple(extra_args)).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.close()
