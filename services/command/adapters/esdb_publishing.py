"""EventStoreDB adapters of the publication ports: $all feed, integration streams, checkpoint."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Literal

from esdbclient import AsyncEventStoreDBClient, NewEvent, StreamState
from esdbclient.exceptions import NotFound

from services.command.adapters.esdb_appends import Appender, StockAppender
from services.command.adapters.esdb_errors import translated
from services.command.adapters.esdb_store import stored_event
from services.command.application.ports import DomainFeedItem, FeedCheckpoint
from services.common.envelope import Envelope, integration_stream
from services.common.integration import (
    INTEGRATION_CONTENT_TYPE,
    integration_event_type,
    to_proto,
)

__all__ = ["EsdbCheckpointStore", "EsdbDomainEventFeed", "EsdbIntegrationLog"]

_GRID_PREFIX = "grid-"
_OCTETS: Literal["application/octet-stream"] = "application/octet-stream"
assert _OCTETS == INTEGRATION_CONTENT_TYPE  # the shared contract, typed for esdbclient


class EsdbDomainEventFeed:
    """DomainEventFeed: a catch-up subscription to $all filtered by stream name ``^grid-``."""

    def __init__(self, client: AsyncEventStoreDBClient) -> None:
        self._client = client

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
                    position = recorded.commit_position or 0
                    if recorded.is_checkpoint:
                        yield FeedCheckpoint(position)
                        continue
                    grid_id = recorded.stream_name.removeprefix(_GRID_PREFIX)
                    yield stored_event(recorded, grid_id)
        finally:
            await subscription.stop()


class EsdbIntegrationLog:
    """IntegrationLog on ``integration-{id}``: binary rover.v1.IntegrationEvent, octet-stream."""

    def __init__(
        self,
        client: AsyncEventStoreDBClient,
        *,
        timeout: float = 5.0,
        appender: Appender | None = None,
    ) -> None:
        self._client = client
        self._timeout = timeout
        self._appender = appender or StockAppender(client)

    async def append(self, grid_id: str, envelopes: Sequence[Envelope]) -> None:
        """Append at revision ``sequence - 1`` of the first envelope; re-sends are no-ops."""
        stream = integration_stream(grid_id)
        first = envelopes[0].sequence
        current: int | StreamState = StreamState.NO_STREAM if first == 1 else first - 2
        events = [
            NewEvent(
                type=integration_event_type(e.event),
                data=to_proto(e).SerializeToString(),
                metadata=json.dumps({"occurred_at": e.occurred_at.isoformat()}).encode(),
                content_type=_OCTETS,
                id=e.event_id,
            )
            for e in envelopes
        ]
        with translated(stream, first - 1):
            await self._appender.append(stream, current, events, deadline=self._timeout)

    async def last_sequence(self, grid_id: str) -> int:
        """Revision of the last event + 1; 0 for no stream."""
        stream = integration_stream(grid_id)
        with translated(stream):
            try:
                found = await self._client.get_stream(
                    stream, backwards=True, limit=1, timeout=self._timeout
                )
            except NotFound:
                return 0
        return found[0].stream_position + 1 if found else 0

    async def event_ids(self, grid_id: str, after_sequence: int, limit: int) -> list[uuid.UUID]:
        """Ids of the events at revisions ``after_sequence`` onwards."""
        stream = integration_stream(grid_id)
        with translated(stream):
            try:
                found = await self._client.get_stream(
                    stream,
                    stream_position=after_sequence or None,
                    limit=limit,
                    timeout=self._timeout,
                )
            except NotFound:
                return []
        return [r.id for r in found]


class EsdbCheckpointStore:
    """CheckpointStore on one small stream (``$maxCount`` 1): the latest commit position."""

    def __init__(
        self, client: AsyncEventStoreDBClient, stream: str, *, timeout: float = 5.0
    ) -> None:
        self._client = client
        self._stream = stream
        self._timeout = timeout
        self._capped = False

    async def load(self) -> int | None:
        """The last saved commit position, None if never saved."""
        with translated(self._stream):
            try:
                found = await self._client.get_stream(
                    self._stream, backwards=True, limit=1, timeout=self._timeout
                )
            except NotFound:
                return None
        if not found:
            return None
        return int(json.loads(found[0].data)["commit_position"])

    async def save(self, position: int) -> None:
        """Append the position (older ones are truncated by ``$maxCount``)."""
        data = json.dumps({"commit_position": position}).encode()
        with translated(self._stream):
            if not self._capped:
                await self._client.set_stream_metadata(
                    self._stream, metadata={"$maxCount": 1}, timeout=self._timeout
                )
                self._capped = True
            await self._client.append_to_stream(
                self._stream,
                current_version=StreamState.ANY,
                events=[NewEvent(type="PublisherCheckpoint", data=data)],
                timeout=self._timeout,
            )
