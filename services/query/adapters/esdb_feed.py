"""EsdbEventFeed: the EventFeed port on EventStoreDB through esdbclient's asyncio client."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import TypeVar

import grpc
from esdbclient import AsyncEventStoreDBClient, RecordedEvent
from esdbclient.events import Checkpoint as EsdbCheckpoint
from esdbclient.exceptions import (
    GrpcError,
    NodeIsNotLeader,
    NotFound,
    ServiceUnavailable,
)

from protos.rover.v1.events_pb2 import IntegrationEvent
from services.common import tracing
from services.common.cancellation import raise_if_cancelling
from services.common.envelope import Envelope, integration_stream
from services.common.esdb_client import STORE_UNREACHABLE
from services.common.esdb_parked import poison_of
from services.common.esdb_positions import count_after, newest, recorded_ms
from services.common.esdb_reads import whole_read
from services.common.esdb_signing import verify_recorded
from services.common.integration import IntegrationDecodeError, from_proto
from services.common.integration_signing import IntegrationKeys, SignatureError
from services.common.logs import get_logger
from services.common.parked import PoisonEventError
from services.common.settings import follows_leader
from services.common.store_errors import StoreUnavailableError
from services.query.adapters.fast_projection import fast_update
from services.query.application.ports import FeedHead, FeedItem

__all__ = ["INTEGRATION_FILTER", "EsdbEventFeed"]

_log = get_logger(__name__)

# esdbclient anchors the pattern itself: this matches stream names starting "integration-".
INTEGRATION_FILTER = (r"integration-.*",)
_END = object()
T = TypeVar("T")
Decode = Callable[[IntegrationEvent], Envelope]
_UNAVAILABLE = STORE_UNREACHABLE  # a subscription or read cut off: an outage


def _unavailable(error: BaseException | None, what: str = "$all") -> StoreUnavailableError:
    """The port's error for a subscription or read the store dropped or refused (a leader
    change, an election), or a subscription that ended quietly (esdbclient ends it so when the
    client's channel is closed). Raises ``CancelledError`` instead when this task is being
    cancelled."""
    raise_if_cancelling()
    reason = "the subscription ended" if error is None else repr(error)
    unavailable = StoreUnavailableError(f"event store unavailable ({what}): {reason}")
    unavailable.__cause__ = error
    return unavailable


async def _reconnecting(client: AsyncEventStoreDBClient, read: Callable[[], Awaitable[T]]) -> T:
    """Run a whole read (the call and its iteration) as esdbclient's decorated methods run theirs.

    ``read_all`` and ``read_stream`` return once the call is sent, so a NotLeader or an
    unavailable node surfaces while iterating, outside the client's own reconnect. Here the
    whole read is retried once: after reconnecting (to the leader the node named, when the URI
    lets the client follow one) for NotLeader, a node that went away or a closed channel, and
    after a short pause for another gRPC error. If the retry is refused too, or no leader can
    be found (an election), the store is unavailable: StoreUnavailableError.
    """
    reconnect, leader = False, None
    try:
        return await read()
    except NodeIsNotLeader as error:
        if not follows_leader(client.connection_spec.uri):
            raise
        _log.info("event store node is not the leader; reconnecting", error=repr(error))
        reconnect, leader = True, error.leader_grpc_target
    except ServiceUnavailable as error:
        _log.info("event store node unavailable; reconnecting", error=repr(error))
        reconnect = True
    except grpc.aio.UsageError as error:
        if "Channel is closed" not in str(error):
            raise
        reconnect = True
    except GrpcError:
        await asyncio.sleep(0.1)  # esdbclient's own pause before its one retry
    try:
        if reconnect:
            await client.reconnect(leader)
        return await read()
    except _UNAVAILABLE as error:
        raise _unavailable(error, "a read") from error


def _parsed(recorded: RecordedEvent, keys: IntegrationKeys) -> IntegrationEvent:
    """The stored event's message, or PoisonEventError when it is none or was not signed by
    our publisher (services/common/integration_signing.py)."""
    try:
        verify_recorded(keys, recorded)
    except SignatureError as error:
        raise PoisonEventError(poison_of(recorded, str(error))) from None
    try:
        return IntegrationEvent.FromString(recorded.data)
    except Exception as error:  # protobuf raises DecodeError, a bare Exception subclass
        reason = f"not a rover.v1.IntegrationEvent: {error}"
        raise PoisonEventError(poison_of(recorded, reason)) from error


def _decoded(
    recorded: RecordedEvent,
    decode: Decode,
    keys: IntegrationKeys,
    message: IntegrationEvent | None = None,
) -> Envelope:
    """The stored event's envelope (``message``: its message, if parsed and verified
    already), or PoisonEventError saying why it has none."""
    try:
        return decode(message if message is not None else _parsed(recorded, keys))
    except IntegrationDecodeError as error:
        raise PoisonEventError(poison_of(recorded, str(error))) from error


def _item(
    recorded: RecordedEvent,
    keys: IntegrationKeys,
    fast: bool = True,
    decode: Decode = from_proto,
) -> FeedItem:
    position = recorded.commit_position or 0
    if isinstance(recorded, EsdbCheckpoint):
        return FeedItem(position, None)
    trace = tracing.parent_in(recorded.metadata)  # None at once when tracing is off
    recorded_at_ms = recorded_ms(recorded.recorded_at)
    try:
        message = _parsed(recorded, keys)
        if fast and (update := fast_update(message)) is not None:
            return FeedItem(position, None, recorded_at_ms, update, trace)
        envelope = _decoded(recorded, decode, keys, message)
    except PoisonEventError as error:  # the projector parks it
        return FeedItem(position, None, recorded_at_ms, trace=trace, poison=error.poison)
    return FeedItem(position, envelope, recorded_at_ms, trace=trace)


class EsdbEventFeed:
    """Catch-up subscription to ``$all`` filtered to ``integration-*`` streams.

    A reader task decodes ahead into a bounded queue while the projector writes the previous
    batch to Redis, so reading and writing overlap; each batch is whatever is ready.

    While catching up (the first event of a batch was recorded more than ``catchup_after_ms``
    ago) a short batch waits ``linger_seconds`` once for more events, so the store's stream
    is committed in batches of dozens rather than ones and twos; a live event (recorded
    just now) is handed on at once.

    With ``fast_projection`` a rover event's update is read straight off its message
    (adapters/fast_projection.py); without, every event is decoded and ``project``ed.

    An event that cannot be decoded, or whose signature does not verify with ``keys``
    (services/common/integration_signing.py; none: signing off), is delivered as a
    ``FeedItem`` with its ``poison`` set (the projector parks it), and ``read_grid`` raises
    PoisonEventError at it. ``decode`` (protobuf message to envelope) is the codec's
    ``from_proto``; tests give a faulty one.
    """

    def __init__(
        self,
        client: AsyncEventStoreDBClient,
        *,
        buffer: int = 4_000,
        linger_seconds: float = 0.005,
        catchup_after_ms: int = 1_000,
        fast_projection: bool = True,
        decode: Decode = from_proto,
        keys: IntegrationKeys | None = None,
    ) -> None:
        self._client = client
        self._decode = decode
        self._keys = keys or IntegrationKeys()
        self.fast_projection = fast_projection
        """Whether rover events are projected straight off their messages."""
        self._buffer = buffer
        self._linger = linger_seconds
        self._catchup_after_ms = catchup_after_ms

    def _catching_up(self, item: FeedItem | BaseException | object) -> bool:
        if self._linger <= 0 or not isinstance(item, FeedItem) or not item.recorded_at_ms:
            return False
        return time.time() * 1000 - item.recorded_at_ms > self._catchup_after_ms

    async def subscribe(self, after: int | None, max_batch: int) -> AsyncIterator[list[FeedItem]]:
        queue: asyncio.Queue[FeedItem | BaseException | object] = asyncio.Queue(self._buffer)
        try:
            subscription = await self._client.subscribe_to_all(
                commit_position=after,
                filter_include=INTEGRATION_FILTER,
                filter_by_stream_name=True,
                include_checkpoints=True,
            )
        except _UNAVAILABLE as error:
            raise _unavailable(error) from error

        async def read() -> None:
            try:
                async for recorded in subscription:
                    await queue.put(_item(recorded, self._keys, self.fast_projection, self._decode))
                raise_if_cancelling()  # esdbclient ends the iteration quietly when cancelled
                await queue.put(_END)
            except asyncio.CancelledError:
                raise
            except _UNAVAILABLE as error:  # the caller subscribes again, after a pause
                await queue.put(_unavailable(error))
            except Exception as error:  # handed to the consumer, which raises it
                await queue.put(error)

        reader = asyncio.create_task(read(), name="esdb-feed-reader")
        try:
            while True:
                first = await queue.get()
                if queue.qsize() < max_batch and self._catching_up(first):
                    await asyncio.sleep(self._linger)
                batch: list[FeedItem] = []
                pending: BaseException | object | None = None
                item: FeedItem | BaseException | object = first
                while True:
                    if isinstance(item, FeedItem):
                        batch.append(item)
                    else:
                        pending = item
                        break
                    if len(batch) >= max_batch or queue.empty():
                        break
                    item = queue.get_nowait()
                if batch:
                    yield batch
                if isinstance(pending, BaseException):
                    raise pending
                if pending is _END:  # after another task's reconnect closed the channel
                    raise _unavailable(None)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            with contextlib.suppress(Exception):
                await subscription.stop()

    async def read_grid(self, grid_id: str, first: int, last: int) -> list[Envelope]:
        async def read() -> list[Envelope]:
            found: list[Envelope] = []
            events = await self._client.read_stream(
                integration_stream(grid_id), stream_position=first - 1, limit=last - first + 1
            )
            async with events:
                async for recorded in events:
                    try:
                        found.append(_decoded(recorded, self._decode, self._keys))
                    except PoisonEventError as error:  # what came before it is kept
                        raise PoisonEventError(error.poison, found) from error
            return found

        try:  # a read cut short (cancelled, or by another task's reconnect) is no gap healed
            found = await whole_read(self._client, partial(_reconnecting, self._client, read))
        except NotFound:
            return []
        return found

    async def head(self) -> FeedHead | None:
        async def read() -> FeedHead | None:
            found = await newest(self._client, INTEGRATION_FILTER)
            return FeedHead(*found) if found is not None else None

        head = await _reconnecting(self._client, read)
        raise_if_cancelling()
        return head

    async def count_after(self, position: int, cap: int) -> tuple[int, int]:
        def read() -> Awaitable[tuple[int, int]]:
            return count_after(self._client, INTEGRATION_FILTER, position, cap)

        counted = await _reconnecting(self._client, read)
        raise_if_cancelling()
        return counted
