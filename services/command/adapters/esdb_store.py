"""EventStoreDB adapters of the EventStore and SnapshotStore ports (esdbclient, asyncio)."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable, Sequence
from typing import Literal

from esdbclient import AsyncEventStoreDBClient, NewEvent, RecordedEvent, StreamState
from esdbclient.exceptions import NotFound, StreamIsDeleted

from domain.errors import SnapshotCorruptError
from domain.events import GridEvent
from services.command.adapters import codec
from services.command.adapters.esdb_appends import Appender, StockAppender
from services.command.adapters.esdb_errors import translated
from services.command.adapters.esdb_metadata import decode_metadata, encode_metadata
from services.command.application.errors import GridDeletedError
from services.command.application.off_loop import is_large, off_loop
from services.command.application.ports import (
    PendingEvent,
    RequestRecord,
    StoredEvent,
    StoredSnapshot,
)
from services.common.envelope import grid_stream, snapshot_stream
from services.common.esdb_parked import poison_of
from services.common.esdb_reads import whole_read
from services.common.parked import PoisonEvent, PoisonEventError

__all__ = [
    "Decode",
    "EsdbEventStore",
    "EsdbSnapshotStore",
    "decoded_or_poison",
    "deleted_poison",
    "read_grid_stream",
]

Decode = Callable[[str, bytes], GridEvent]
"""A stored domain event's (type, data) to its event; CodecError when it cannot be."""
TOMBSTONE_TYPE = "$streamDeleted"  # the record a hard delete leaves in $all
# What decoding a stored event (its data, then its metadata) may raise on bytes we did not write.
_UNDECODABLE = (
    codec.UnknownEventTypeError,
    codec.MalformedEventError,
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
)

_JSON: Literal["application/json"] = "application/json"
_REQUESTS_SCHEMA = 1  # shape of the request window kept in a snapshot's metadata
_SNAPSHOTS_KEPT = 3  # $maxCount of a snapshot stream: only the latest is ever read


def stored_event(
    recorded: RecordedEvent, grid_id: str, decode: Decode = codec.decode
) -> StoredEvent:
    """A recorded ESDB event of ``grid-{id}`` as a StoredEvent (revision n is version n + 1)."""
    return StoredEvent(
        event_id=recorded.id,
        grid_id=grid_id,
        version=recorded.stream_position + 1,
        event=decode(recorded.type, recorded.data),
        metadata=decode_metadata(recorded.metadata),
        position=recorded.commit_position or 0,
    )


def deleted_poison(grid_id: str, revision: int, commit_position: int) -> PoisonEvent:
    """A deleted grid stream as one poison event, the same wherever it is met (the tombstone
    in $all, a read refused): parked once."""
    stream = grid_stream(grid_id)
    return PoisonEvent(
        stream=stream,
        revision=revision,
        commit_position=commit_position,
        event_id=f"{stream}/deleted",
        event_type=TOMBSTONE_TYPE,
        grid_id=grid_id,
        reason=f"the stream of grid {grid_id!r} was deleted (tombstoned)",
    )


def decoded_or_poison(
    recorded: RecordedEvent, grid_id: str, decode: Decode = codec.decode
) -> StoredEvent | PoisonEvent:
    """The StoredEvent, or why it cannot be one: a tombstone, or bytes that do not decode."""
    if recorded.type == TOMBSTONE_TYPE:
        return deleted_poison(grid_id, recorded.stream_position, recorded.commit_position or 0)
    try:
        return stored_event(recorded, grid_id, decode)
    except _UNDECODABLE as error:
        return poison_of(recorded, f"cannot be decoded: {error}", grid_id)


def decode_history(
    recorded: Sequence[RecordedEvent], grid_id: str, decode: Decode = codec.decode
) -> list[StoredEvent]:
    """A grid's recorded events decoded; PoisonEventError (with those before) at a bad one."""
    found: list[StoredEvent] = []
    for event in recorded:
        item = decoded_or_poison(event, grid_id, decode)
        if isinstance(item, PoisonEvent):
            raise PoisonEventError(item, found)
        found.append(item)
    return found


async def read_grid_stream(
    client: AsyncEventStoreDBClient,
    grid_id: str,
    after_version: int,
    limit: int | None,
    *,
    deadline: float,
    decode: Decode = codec.decode,
) -> list[StoredEvent]:
    """Read ``grid-{id}`` from revision ``after_version`` (again, if another task's reconnect
    cut the read short: a truncated history could even read as no grid). GridDeletedError
    for a deleted stream, PoisonEventError at an event that does not decode."""
    stream = grid_stream(grid_id)

    async def read() -> Sequence[RecordedEvent]:
        try:
            return await client.get_stream(
                stream,
                stream_position=after_version or None,
                limit=sys.maxsize if limit is None else limit,
                timeout=deadline,
            )
        except NotFound:
            return ()
        except StreamIsDeleted:
            raise GridDeletedError(grid_id) from None

    with translated(stream):
        recorded = await whole_read(client, read)
    return decode_history(recorded, grid_id, decode)


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
        """``read_grid_stream``: GridDeletedError or PoisonEventError when the grid's
        history cannot be read (its commands are then refused as FAILED_PRECONDITION)."""
        return await read_grid_stream(
            self._client, grid_id, after_version, limit, deadline=self._timeout
        )

    async def append(
        self, grid_id: str, expected_version: int, events: Sequence[PendingEvent]
    ) -> int:
        """One atomic append expecting revision ``expected_version - 1`` (or no stream)."""
        stream = grid_stream(grid_id)
        current: int | StreamState = (
            StreamState.NO_STREAM if expected_version == 0 else expected_version - 1
        )

        def stored() -> list[NewEvent]:
            found = []
            for pending in events:
                encoded = codec.encode(pending.event)
                found.append(
                    NewEvent(
                        type=encoded.type,
                        data=encoded.data,
                        metadata=encode_metadata(pending.metadata),
                        content_type=_JSON,
                        id=pending.event_id,
                    )
                )
            return found

        new_events = await off_loop(stored, large=is_large(p.event for p in events))
        with translated(stream, expected_version):
            try:
                await self._appender.append(stream, current, new_events, deadline=self._timeout)
            except StreamIsDeleted:
                raise GridDeletedError(grid_id) from None
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
