"""Calls in flight when another task reconnects the shared client (after NotLeader, a node gone).

esdbclient's ``reconnect`` closes the old channel under every call still on it. A grid's
history read then ends quietly, as if complete, and a BatchAppend's reply is read as a
``CancelledError`` in a task nobody cancelled. The command service's adapters read again and
append again (the same event ids: never twice) instead.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from esdbclient import AsyncEventStoreDBClient, NewEvent, StreamState

from protos.rover.v1 import command_pb2, common_pb2
from services.command.adapters.esdb_appends import StockAppender
from services.command.adapters.esdb_store import EsdbEventStore
from services.command.adapters.pooled_appends import PooledAppender
from standins.eventstore.server import EventStoreServer
from tests.integration.command.conftest import ServiceFactory, new_id
from tests.support.held_reads import HeldReads, held_reads  # noqa: F401
from tests.support.stubs import command_stub


@pytest.fixture
async def eventstore(held_reads: HeldReads) -> AsyncIterator[EventStoreServer]:  # noqa: F811
    """The stand-in, started after the hooks are in place (gRPC binds handlers at start)."""
    async with EventStoreServer(db_path=None, port=0) as server:
        yield server


@pytest.fixture
async def client(eventstore: EventStoreServer) -> AsyncIterator[AsyncEventStoreDBClient]:
    client = AsyncEventStoreDBClient(eventstore.uri)
    await client.connect()
    yield client
    await client.close()


async def test_a_history_read_cut_short_is_read_again(
    start_service: ServiceFactory,
    client: AsyncEventStoreDBClient,
    held_reads: HeldReads,  # noqa: F811
) -> None:
    service = await start_service()
    grid_id = new_id()
    async with grpc.aio.insecure_channel(service.address) as channel:
        stub = command_stub(channel)
        await stub.CreateGrid(command_pb2.CreateGridRequest(grid_id=grid_id, width=5, height=5))
        for rover in ("a", "b", "c"):
            position = common_pb2.Position(x=ord(rover) - ord("a"), y=0)
            request = command_pb2.CreateRoverRequest(
                grid_id=grid_id,
                rover_id=rover,
                position=position,
                facing=common_pb2.DIRECTION_NORTH,
            )
            await stub.CreateRover(request)
    events = EsdbEventStore(client)
    held_reads.arm(f"grid-{grid_id}")
    loaded = await held_reads.cut_short(client, lambda: events.load(grid_id))
    assert [e.version for e in loaded] == [1, 2, 3, 4]  # not [1]: the history, not a part


class _ClosedUnder:
    """Test hook: the next append's call ends as when another task's reconnect closed its
    channel (what a probe of esdbclient 1.1.7 and grpcio 1.71 shows: ``CancelledError`` in a
    task that nobody cancelled), after the store committed it or before it could."""

    def __init__(self, client: AsyncEventStoreDBClient, *, committed: bool) -> None:
        self.append_to_stream = client.append_to_stream
        self.committed = committed
        self.calls = 0

    async def stock(self, *args: Any, **kwargs: Any) -> int:
        self.calls += 1
        if self.calls == 1:
            if self.committed:
                await self.append_to_stream(*args, **kwargs)
            raise asyncio.CancelledError
        position: int = await self.append_to_stream(*args, **kwargs)
        return position


@pytest.mark.parametrize("committed", [False, True])
async def test_a_stock_append_whose_channel_closed_is_sent_again(
    client: AsyncEventStoreDBClient, monkeypatch: pytest.MonkeyPatch, committed: bool
) -> None:
    stream = f"race-{uuid.uuid4().hex}"
    event = NewEvent(type="Tested", data=b"{}", id=uuid.uuid4())
    closed = _ClosedUnder(client, committed=committed)
    monkeypatch.setattr(client, "append_to_stream", closed.stock)
    await StockAppender(client).append(stream, StreamState.NO_STREAM, [event], deadline=5)
    assert closed.calls == 2
    assert [e.id for e in await client.get_stream(stream)] == [event.id]  # once


async def test_a_cancelled_append_is_not_sent_again(
    client: AsyncEventStoreDBClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = asyncio.Event()

    async def hangs(*args: Any, **kwargs: Any) -> int:
        started.set()
        await asyncio.Future()
        raise AssertionError("unreachable")

    monkeypatch.setattr(client, "append_to_stream", hangs)
    event = NewEvent(type="Tested", data=b"{}", id=uuid.uuid4())
    append = asyncio.ensure_future(
        StockAppender(client).append("race-x", StreamState.NO_STREAM, [event], deadline=5)
    )
    await started.wait()
    append.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(5):  # a bound: a retry would wait forever
            await append
    started.clear()
    await asyncio.sleep(0)
    assert not started.is_set()  # no second attempt


async def test_a_pooled_append_whose_channel_closed_falls_back(
    client: AsyncEventStoreDBClient,
) -> None:
    appender = PooledAppender(client)
    stream = f"race-{uuid.uuid4().hex}"
    first = NewEvent(type="Tested", data=b"{}", id=uuid.uuid4())
    await appender.append(stream, StreamState.NO_STREAM, [first], deadline=5)
    [(connection, kept)] = appender._idle

    class _Closed:  # the kept call, closed under its read by another task's reconnect
        write = kept.write

        async def read(self) -> Any:
            kept.cancel()
            raise asyncio.CancelledError

        def cancel(self) -> bool:
            return bool(kept.cancel())

        def done(self) -> bool:
            return bool(kept.done())

    appender._idle = [(connection, _Closed())]
    second = NewEvent(type="Tested", data=b"{}", id=uuid.uuid4())
    try:
        await appender.append(stream, 0, [second], deadline=5)  # the stock path, once more
    finally:
        appender.close()
    assert [e.id for e in await client.get_stream(stream)] == [first.id, second.id]
