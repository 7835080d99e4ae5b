"""A stand-in that stops in the middle of a stream read, to cut the read short from outside.

esdbclient's ``reconnect`` (what a task does after NotLeader or an unavailable node) closes the
old channel under every call in flight on it, and esdbclient ends such a read quietly, as if
complete. ``HeldReads`` lets a test reproduce that: the read of a chosen stream stops after its
first event until released, and ``cut_short`` reconnects the client meanwhile.

Use the ``held_reads`` fixture, and start the stand-in after it (gRPC binds its handlers when a
server starts), e.g. by overriding ``eventstore`` in the test module::

    from tests.support.held_reads import HeldReads, held_reads  # noqa: F401

    @pytest.fixture
    async def eventstore(held_reads: HeldReads) -> AsyncIterator[EventStoreServer]:
        async with EventStoreServer(db_path=None, port=0) as server:
            yield server
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest
from esdbclient import AsyncEventStoreDBClient

from standins.eventstore.streams import StreamsService

__all__ = ["HeldReads", "held_reads"]

T = TypeVar("T")


class HeldReads:
    """The next read of a stream starting with the armed prefix stops after its first event."""

    def __init__(self) -> None:
        self._prefix: str | None = None
        self.reached = asyncio.Event()
        self.released = asyncio.Event()

    def arm(self, prefix: str) -> None:
        self._prefix = prefix

    async def pause(self, stream: str) -> None:
        if self._prefix is not None and stream.startswith(self._prefix):
            self._prefix = None  # once
            self.reached.set()
            await self.released.wait()

    async def cut_short(
        self, client: AsyncEventStoreDBClient, call: Callable[[], Awaitable[T]]
    ) -> T:
        """Run ``call`` until the stand-in holds its read, reconnect ``client`` as another task
        would (closing the channel the read is on), then let the stand-in go on."""
        task = asyncio.ensure_future(call())
        await self.reached.wait()
        await client.reconnect()
        self.released.set()
        return await task


@pytest.fixture
async def held_reads(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[HeldReads]:
    """Stream reads of stand-ins started from now on can be held (see ``HeldReads``)."""
    held = HeldReads()
    read = StreamsService.Read

    async def read_held(self: StreamsService, request: Any, context: Any) -> AsyncIterator[Any]:
        stream = request.options.stream.stream_identifier.stream_name.decode()
        first = True
        async for message in read(self, request, context):
            yield message
            if first and message.WhichOneof("content") == "event":
                first = False
                await held.pause(stream)

    monkeypatch.setattr(StreamsService, "Read", read_held)
    yield held
    held.released.set()
