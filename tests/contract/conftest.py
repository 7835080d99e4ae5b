"""Fixtures of the port contract suites: a fresh event store per test and a private Redis.

Each suite is parametrized over ``memory`` (the in-memory fake) and the real adapter. The
event store is ours, in memory, in the test's event loop (gRPC's asyncio poller serves one
loop per process), so every test starts from an empty ``$all`` and positions are its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from esdbclient import AsyncEventStoreDBClient

from services.command.adapters.esdb_appends import Appender, StockAppender
from services.command.adapters.pooled_appends import PooledAppender
from standins.eventstore.server import EventStoreServer
from tests.support.eventstore import connected_async_client
from tests.support.redis_server import redis_server, redis_url  # noqa: F401

Connect = Callable[[], Awaitable[AsyncEventStoreDBClient]]


@pytest.fixture
async def eventstore() -> AsyncIterator[EventStoreServer]:
    """A fresh, in-memory event store in this test's loop."""
    async with EventStoreServer(db_path=None, port=0) as server:
        yield server


@pytest.fixture
async def connect(eventstore: EventStoreServer) -> AsyncIterator[Connect]:
    """Opens more clients of ``eventstore`` (a restarted service's connection); closed after."""
    async with contextlib.AsyncExitStack() as stack:

        async def new_client() -> AsyncEventStoreDBClient:
            return await stack.enter_async_context(connected_async_client(eventstore.uri))

        yield new_client


@pytest.fixture
async def esdb(connect: Connect) -> AsyncEventStoreDBClient:
    """A connected client of ``eventstore``."""
    return await connect()


@contextlib.contextmanager
def closing_appender(client: AsyncEventStoreDBClient, kind: str = "pooled") -> Iterator[Appender]:
    """One of the command side's appenders on ``client``, closed after.

    ``pooled`` (the production default) keeps BatchAppend calls open, which would otherwise
    hold the server's graceful stop for its grace; ``stock`` is esdbclient's public append.
    """
    appender: Appender
    if kind == "pooled":
        pooled = PooledAppender(client)
        assert pooled.start(), "the pooled appender found the esdbclient internals it needs"
        appender = pooled
    else:
        appender = StockAppender(client)
    try:
        yield appender
    finally:
        appender.close()


@pytest.fixture
def appender(esdb: AsyncEventStoreDBClient) -> Iterator[Appender]:
    """The command side's default appender on ``esdb`` (pass it to the writers under test);
    tests/integration/command/test_pooled_appends.py holds the stock one equal to it."""
    with closing_appender(esdb) as appender:
        yield appender
