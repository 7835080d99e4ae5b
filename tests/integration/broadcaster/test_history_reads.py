"""A grid's history read that another task's reconnect cut short is read again.

esdbclient's ``reconnect`` closes the old channel under every call in flight, and a read on it
ends quietly, as if complete: a watcher would get part of the history (then a gap) and a
grid's version could read as "no such grid".
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from esdbclient import AsyncEventStoreDBClient

from domain.values import GridId
from services.broadcaster.adapters.esdb import EsdbGridHistory
from standins.eventstore.server import EventStoreServer
from tests.integration.broadcaster.helpers import Appender, new_grid_id
from tests.support.held_reads import HeldReads, held_reads  # noqa: F401
from tests.unit.broadcaster.scripts import GridScript


@pytest.fixture
async def client(held_reads: HeldReads) -> AsyncIterator[AsyncEventStoreDBClient]:  # noqa: F811
    """A client of a stand-in started after the hook (gRPC binds handlers at start)."""
    async with EventStoreServer(db_path=None, port=0) as server:
        client = AsyncEventStoreDBClient(server.uri)
        await client.connect()
        yield client
        await client.close()


async def _grid(client: AsyncEventStoreDBClient, commands: int) -> GridScript:
    script = GridScript(new_grid_id("held"))
    appender = Appender(client)
    try:
        await appender.command(script, commands)
    finally:
        appender.close()
    return script


async def test_a_history_page_cut_short_is_read_again(
    client: AsyncEventStoreDBClient,
    held_reads: HeldReads,  # noqa: F811
) -> None:
    script = await _grid(client, 5)
    history = EsdbGridHistory(client)

    async def events() -> list[int]:
        return [e.sequence async for e in history.events(GridId(script.grid_id), after=0)]

    held_reads.arm(f"integration-{script.grid_id}")
    read = await held_reads.cut_short(client, events)
    assert read == [e.sequence for e in script.history]  # all of it, not the first event
