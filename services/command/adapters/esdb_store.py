"""EventStoreDB adapters of the EventStore and SnapshotStore ports (esdbclient, asyncio)."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Sequence
from typing import Literal

from esdbclient import AsyncEventStoreDBClient, NewEvent, RecordedEvent, StreamState
from esdbclient.exceptions import NotFound

from domain.errors import SnapshotCorruptError
from services.command.adapters import codec
from services.command.adapters.esdb_appends import Appender, StockAppender
from services.command.adapters.esdb_errors import translated
from services.command.adapters.esdb_metadata import decode_metadata, encode_metadata
from services.command.application.ports import (
    PendingEvent,
    RequestRecord,
    StoredEvent,
    StoredSnapshot,
)
from services.common.envelope import grid_stream, snapshot_stream
from services.common.esdb_reads import whole_read

__all__ = ["EsdbEventStore", "EsdbSnapshotStore", "stored_event"]

_JSON: Literal["application/json"] = "application/json"
_REQUESTS_SCHEMA = 1  # shape of the request window kept in a snapshot's metadata
_SNAPSHOTS_KEPT = 3  # $maxCount of a snapshot stream: only the latest is ever read


def stored_event(recorded: RecordedEvent, grid_id: str) -> StoredEvent:
    """A recorded ESDB event of ``grid-{id}`` as a StoredEvent (revision n is version n + 1)."""
    return StoredEvent(
        event_id=recorded.id,
        grid_id=grid_id,
        version=recorded.stream_position + 1,
        event=codec.decode(recorded.type, recorded.data),
        metadata=decode_metadata(recorded.metadata),
        position=recorded.commit_position or 0,
    )


class EsdbEventStore:
    """EventStore on ``grid-{id}`` streams: codec wire names, JSON data and metadata."""

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

    async def load(
        self, grid_id: str, after_version: int = 0, limit: int | None = None
    ) -> list[StoredEvent]:
        """Read ``grid-{id}`` from revision ``after_version`` (again, if another task's
        reconnect cut the read short: a truncated history could even read as no grid)."""
        stream = grid_stream(grid_id)

        async def read() -> Sequence[RecordedEvent]:
            try:
                return await self._client.get_stream(
                    stream,
                    stream_position=after_version or None,
                    limit=sys.maxsize if limit is None else limit,
                    timeout=self._timeout,
                )
            except NotFound:
                return ()

        with translated(stream):
            recorded = await whole_read(self._client, read)
        return [stored_event(r, grid_id) for r in recorded]

    async def append(
        self, grid_id: str, expected_version: int, events: Sequence[PendingEvent]
    ) -> int:
        """One atomic append expecting revision ``expected_version - 1`` (or no stream)."""
        stream = grid_stream(grid_id)
        current: int | StreamState = (
            StreamState.NO_STREAM if expected_version == 0 else expected_version - 1
        )
        new_events = []
        for pending in events:
            encoded = codec.encode(pending.event)
            new_events.append(
                NewEvent(
                    type=encoded.type,
                    data=encoded.data,
                    metadata=encode_metadata(pending.metadata),
                    content_type=_JSON,
                    id=pending.event_id,
                )
            )
        with translated(stream, expected_version):
            await self._appender.append(stream, current, new_events, deadline=self._timeout)
        return expected_version + len(new_events)


class EsdbSnapshotStore:
    """SnapshotStore on ``gridsnapshot-{id}`` (outside the ``grid`` category), latest wins.

    Data is the codec's snapshot JSON (schema version inside); the metadata holds the grid's
    request window, so that idempotency survives a restart.
    """

    def __init__(self, client: AsyncEventStoreDBClient, *, timeout: float = 5.0) -> None:
        self._client = client
        self._timeout = timeout
        self._capped: set[str] = set()

    async def load(self, grid_id: str) -> StoredSnapshot | None:
        """The latest snapshot, or None; SnapshotUnusableError if it cannot be read."""
        stream = snapshot_stream(grid_id)
        with translated(stream):
            try:
                found = await self._client.get_stream(
                    stream, backwards=True, limit=1, timeout=self._timeout
                )
            except NotFound:
                return None
        if not found:
            return None
        recorded = found[0]
        snapshot = codec.decode_snapshot(recorded.data)
        return StoredSnapshot(snapshot, _requests(recorded.metadata))

    async def save(self, grid_id: str, snapshot: StoredSnapshot) -> None:
        """Append the snapshot; cap the stream's length the first time this process saves."""
        stream = snapshot_stream(grid_id)
        requests = [
            [r.request_id, r.command, r.fingerprint, r.first_version, r.last_version]
            for r in snapshot.requests
        ]
        metadata = {"requests_schema": _REQUESTS_SCHEMA, "requests": requests}
        event = NewEvent(
            type=codec.SNAPSHOT_TYPE,
            data=codec.encode_snapshot(snapshot.snapshot),
            metadata=json.dumps(metadata, separators=(",", ":")).encode(),
            content_type=_JSON,
            id=uuid.uuid4(),
        )
        with translated(stream):
            if grid_id not in self._capped:
                await self._client.set_stream_metadata(
                    stream, metadata={"$maxCount": _SNAPSHOTS_KEPT}, timeout=self._timeout
                )
                self._capped.add(grid_id)
            await self._client.append_to_stream(
                stream, current_version=StreamState.ANY, events=[event], timeout=self._timeout
            )


def _requests(data: bytes) -> tuple[RequestRecord, ...]:
    try:
        body = json.loads(data) if data else {}
        if body.get("requests_schema", _REQUESTS_SCHEMA) != _REQUESTS_SCHEMA:
            raise ValueError(f"request window schema {body.get('requests_schema')!r}")
        return tuple(
            RequestRecord(str(rid), str(command), str(digest), int(first), int(last))
            for rid, command, digest, first, last in body.get("requests", [])
        )
    except (ValueError, TypeError, AttributeError) as error:
        raise SnapshotCorruptError(f"snapshot request window unreadable: {error}") from error
