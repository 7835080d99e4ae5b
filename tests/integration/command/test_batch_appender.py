"""BatchAppender: pooled BatchAppend calls keep esdbclient's append semantics and errors."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from esdbclient import AsyncEventStoreDBClient, NewEvent, StreamState
from esdbclient.exceptions import NotFound, WrongCurrentVersion

from services.command.adapters.esdb_appends import BatchAppender
from standins.eventstore.server import EventStoreServer


def _event() -> NewEvent:
    return NewEvent(type="Tested", data=b"{}", id=uuid.uuid4())


@pytest.fixture
async def client(eventstore: EventStoreServer) -> AsyncEventStoreDBClient:
    client = AsyncEventStoreDBClient(eventstore.uri)
    await client.connect()
    return client


async def test_appends_reuse_one_call_and_keep_expected_versions(
    client: AsyncEventStoreDBClient,
) -> None:
    appender = BatchAppender(client)
    stream = f"appender-{uuid.uuid4().hex}"
    try:
        await appender.append(stream, StreamState.NO_STREAM, [_event(), _event()], deadline=5)
        idle = list(appender._idle)
        await appender.append(stream, 1, [_event()], deadline=5)
        assert appender._idle == idle  # the same open call served the second append
        with pytest.raises(WrongCurrentVersion):
            await appender.append(stream, 1, [_event()], deadline=5)
        # a refusal is an answer: the call stays usable for the next append
        await appender.append(stream, 2, [_event()], deadline=5)
        assert len(await client.get_stream(stream)) == 4
    finally:
        appender.close()
        await client.close()


async def test_concurrent_appends_each_get_their_own_answer(
    client: AsyncEventStoreDBClient,
) -> None:
    appender = BatchAppender(client)
    streams = [f"appender-{uuid.uuid4().hex}" for _ in range(8)]
    try:
        for version in (StreamState.NO_STREAM, 0, 1):
            await asyncio.gather(
                *(appender.append(s, version, [_event()], deadline=5) for s in streams)
            )
        for stream in streams:
            assert [e.stream_position for e in await client.get_stream(stream)] == [0, 1, 2]
    finally:
        appender.close()
        await client.close()


async def test_a_cancelled_append_drops_its_call(client: AsyncEventStoreDBClient) -> None:
    appender = BatchAppender(client)
    stream = f"appender-{uuid.uuid4().hex}"
    try:
        task = asyncio.create_task(
            appender.append(stream, StreamState.NO_STREAM, [_event()], deadline=5)
        )
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert appender._idle == []  # a late reply can never be read by another append
        found = await client.get_stream(stream) if await _exists(client, stream) else ()
        await appender.append(
            stream, StreamState.NO_STREAM if not found else len(found) - 1, [_event()], deadline=5
        )
    finally:
        appender.close()
        await client.close()


async def _exists(client: AsyncEventStoreDBClient, stream: str) -> bool:
    try:
        await client.get_stream(stream, limit=1)
    except NotFound:
        return False
    return True


class _BrokenCall:
    """A kept-open call whose connection died: every write fails like a dropped stream."""

    def __init__(self) -> None:
        self.cancelled = False

    async def write(self, request: object) -> None:
        raise grpc.aio.AioRpcError(
            grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "dropped"
        )

    def done(self) -> bool:
        return False

    def cancel(self) -> bool:
        self.cancelled = True
        return True


async def test_a_broken_call_falls_back_to_esdbclient_append(
    client: AsyncEventStoreDBClient,
) -> None:
    appender = BatchAppender(client)
    stream = f"appender-{uuid.uuid4().hex}"
    broken = _BrokenCall()
    appender._idle.append((client._connection, broken))
    try:
        await appender.append(stream, StreamState.NO_STREAM, [_event()], deadline=5)
        assert broken.cancelled
        assert appender._idle == []  # the pool of a possibly dead connection is dropped
        assert len(await client.get_stream(stream)) == 1  # esdbclient's own append stored it
    finally:
        appender.close()
        await client.close()
