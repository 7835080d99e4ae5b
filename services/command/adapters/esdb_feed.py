"""The publisher's source: the domain events of every grid in $all, as EventStoreDB gives
them, with what cannot be published said as poison items."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

from esdbclient import AsyncEventStoreDBClient, RecordedEvent

from domain.errors import DomainError, InvalidIdError
from domain.values import GridId
from services.command.adapters import codec
from services.command.adapters.esdb_errors import translated
from services.command.adapters.esdb_store import (
    Decode,
    decoded_or_poison,
    deleted_poison,
    read_grid_stream,
)
from services.command.application.errors import GridDeletedError, StoreUnavailableError
from services.command.application.off_loop import LARGE_EVENT_BYTES, off_loop
from services.command.application.ports import DomainFeedItem, FeedCheckpoint, StoredEvent
from services.common.cancellation import raise_if_cancelling
from services.common.envelope import grid_stream
from services.common.esdb_parked import poison_of
from services.common.esdb_reads import whole_read
from services.common.parked import PoisonEventError

__all__ = ["EsdbDomainEventFeed"]

_GRID_PREFIX = grid_stream("")


class EsdbDomainEventFeed:
    """DomainEventFeed: a catch-up subscription to $all filtered by stream name ``^grid-``.

    A stored event that cannot be published comes out as a PoisonEvent item (its grid ""
    when its stream's name is not a grid's): the publisher parks it and goes on. ``decode``
    is the codec's, replaceable (tests stand in a codec with a bug, then the fixed one).
    """

    def __init__(
        self,
        client: AsyncEventStoreDBClient,
        *,
        timeout: float = 5.0,
        decode: Decode = codec.decode,
    ) -> None:
        self._client = client
        self._timeout = timeout
        self.decode = decode

    async def subscribe(self, after_position: int | None) -> AsyncIterator[DomainFeedItem]:
        """Domain events after ``after_position`` plus the server's filter checkpoints."""
        with translated("$all"):
            subscription = await self._client.subscribe_to_all(
                commit_position=after_position,
                filter_include=[f"{_GRID_PREFIX}.*"],
                filter_by_stream_name=True,
                include_checkpoints=True,
            )
        try:
            with translated("$all"):
                async for recorded in subscription:
                    if recorded.is_checkpoint:
                        yield FeedCheckpoint(recorded.commit_position or 0)
                        continue
                    yield await off_loop(
                        partial(self._item, recorded),
                        large=len(recorded.data) >= LARGE_EVENT_BYTES,
                    )
            # A subscription to $all never ends by itself: esdbclient ended it quietly because
            # another task's reconnect closed the channel (or we are being cancelled).
            raise_if_cancelling()
            raise StoreUnavailableError("the $all subscription was cut off by a reconnect")
        finally:
            await subscription.stop()

    def _item(self, recorded: RecordedEvent) -> DomainFeedItem:
        stream = recorded.stream_name
        grid_id = stream.removeprefix(_GRID_PREFIX)
        try:
            if not stream.startswith(_GRID_PREFIX):  # a filter regex may match inside a name
                raise InvalidIdError(
                    f"{stream!r} does not start with {_GRID_PREFIX!r}",
                    field="stream",
                    reason="STREAM_NAME",
                    value=stream,
                )
            GridId(grid_id)
        except DomainError as error:
            return poison_of(recorded, f"not a grid's stream: {error}", "")
        return decoded_or_poison(recorded, grid_id, self.decode)

    async def read_grid(self, grid_id: str, after_version: int, limit: int) -> list[StoredEvent]:
        """``read_grid_stream`` with this feed's decoder; a deleted stream is poison here."""
        try:
            return await read_grid_stream(
                self._client,
                grid_id,
                after_version,
                limit,
                deadline=self._timeout,
                decode=self.decode,
            )
        except GridDeletedError:
            raise PoisonEventError(deleted_poison(grid_id, after_version, 0)) from None

    async def head(self) -> int | None:
        """The commit position of the newest event in $all, system events included (None:
        an empty store): every position the feed gives lies at or before it."""

        async def newest() -> int | None:
            events = await self._client.read_all(
                backwards=True, limit=1, filter_exclude=(), timeout=self._timeout
            )
            async with events:
                async for recorded in events:
                    return recorded.commit_position or 0
            return None

        with translated("$all"):
            return await whole_read(self._client, newest)
