"""In-memory adapters for unit tests: the same contracts as the EventStoreDB ones, no I/O."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.command.adapters import codec
from services.command.application.errors import ConcurrencyError, StoreUnavailableError
from services.command.application.ports import (
    DomainFeedItem,
    PendingEvent,
    StoredEvent,
    StoredSnapshot,
)
from services.command.application.request_log import LoggedRequest, joined
from services.common.envelope import Envelope
from services.common.lease import LeaseLostError
from services.common.memory_lease import InMemoryLease, LeaseCell

__all__ = [
    "CheckpointCell",
    "CountingIds",
    "InMemoryCheckpointStore",
    "InMemoryEventStore",
    "InMemoryIntegrationLog",
    "InMemoryRequestLog",
    "InMemorySnapshotStore",
    "SteppingClock",
]


class InMemoryEventStore:
    """EventStore and DomainEventFeed over Python lists; ``available = False`` simulates an outage.

    Positions are 1, 2, 3 ... across all grids, as a store-wide log would number them.
    """

    def __init__(self) -> None:
        self._streams: dict[str, list[StoredEvent]] = {}
        self._all: list[StoredEvent] = []
        self._changed = asyncio.Event()
        self.available = True
        self.appends = 0  # number of successful append calls (tests count store round trips)

    def _check(self) -> None:
        if not self.available:
            raise StoreUnavailableError("in-memory store marked unavailable")

    async def load(
        self, grid_id: str, after_version: int = 0, limit: int | None = None
    ) -> list[StoredEvent]:
        """Events with version > ``after_version``, oldest first."""
        self._check()
        stream = self._streams.get(grid_id, [])
        end = None if limit is None else after_version + limit
        return stream[after_version:end]

    async def append(
        self, grid_id: str, expected_version: int, events: Sequence[PendingEvent]
    ) -> int:
        """All or nothing, at ``expected_version`` only."""
        self._check()
        stream = self._streams.setdefault(grid_id, [])
        if len(stream) != expected_version:
            if not stream:
                del self._streams[grid_id]
            raise ConcurrencyError(f"grid-{grid_id}", expected_version)
        for pending in events:
            stored = StoredEvent(
                event_id=pending.event_id,
                grid_id=grid_id,
                version=len(stream) + 1,
                event=pending.event,
                metadata=pending.metadata,
                position=len(self._all) + 1,
            )
            stream.append(stored)
            self._all.append(stored)
        self.appends += 1
        self._changed.set()
        return len(stream)

    def all_events(self) -> list[StoredEvent]:
        """Every stored event in store order (for assertions)."""
        return list(self._all)

    async def read_grid(self, grid_id: str, after_version: int, limit: int) -> list[StoredEvent]:
        """The DomainEventFeed's read of one grid (the fake holds no poison)."""
        return await self.load(grid_id, after_version, limit)

    async def head(self) -> int | None:
        """The position of the newest event (None: none yet)."""
        self._check()
        return len(self._all) or None

    async def subscribe(self, after_position: int | None) -> AsyncIterator[DomainFeedItem]:
        """The DomainEventFeed: everything after ``after_position``, then live events."""
        index = after_position or 0
        while True:
            self._check()
            while index < len(self._all):
                index += 1
                yield self._all[index - 1]
            self._changed.clear()
            await self._changed.wait()


class InMemorySnapshotStore:
    """SnapshotStore keeping the encoded bytes, so that unreadable snapshots can be planted."""

    def __init__(self) -> None:
        self._snapshots: dict[str, tuple[bytes, StoredSnapshot]] = {}
        self.saves = 0

    async def load(self, grid_id: str) -> StoredSnapshot | None:
        """Decode the latest snapshot (SnapshotUnusableError when it cannot be read)."""
        found = self._snapshots.get(grid_id)
        if found is None:
            return None
        data, stored = found
        return StoredSnapshot(codec.decode_snapshot(data), stored.requests)

    async def save(self, grid_id: str, snapshot: StoredSnapshot) -> None:
        """Keep only the latest."""
        self._snapshots[grid_id] = (codec.encode_snapshot(snapshot.snapshot), snapshot)
        self.saves += 1

    def plant(self, grid_id: str, data: bytes, stored: StoredSnapshot) -> None:
        """Store raw snapshot bytes (tests of the fallback to replay)."""
        self._snapshots[grid_id] = (data, stored)


class InMemoryIntegrationLog:
    """IntegrationLog with EventStoreDB's idempotency: the same ids at the same place succeed."""

    def __init__(self) -> None:
        self.streams: dict[str, list[Envelope]] = {}

    async def append(self, grid_id: str, envelopes: Sequence[Envelope]) -> None:
        """Append where the first envelope's sequence says, or accept an exact re-send."""
        stream = self.streams.setdefault(grid_id, [])
        start = envelopes[0].sequence - 1
        if len(stream) == start:
            stream.extend(envelopes)
            return
        stored = [e.event_id for e in stream[start : start + len(envelopes)]]
        if stored != [e.event_id for e in envelopes]:
            raise ConcurrencyError(f"integration-{grid_id}", start)

    async def last_sequence(self, grid_id: str) -> int:
        """The number of integration events of the grid."""
        return len(self.streams.get(grid_id, []))

    async def event_ids(self, grid_id: str, after_sequence: int, limit: int) -> list[uuid.UUID]:
        """Ids after ``after_sequence``."""
        stream = self.streams.get(grid_id, [])
        return [e.event_id for e in stream[after_sequence : after_sequence + limit]]


class InMemoryRequestLog:
    """RequestLog in a dictionary, vouching by an InMemoryIntegrationLog's published streams."""

    def __init__(self, integration: InMemoryIntegrationLog) -> None:
        self._integration = integration
        self.records: dict[tuple[str, str], dict[int, LoggedRequest]] = {}

    async def record(self, grid_id: str, requests: Sequence[LoggedRequest]) -> None:
        """Keep each record once (by grid, request id and first version)."""
        for logged in requests:
            parts = self.records.setdefault((grid_id, logged.record.request_id), {})
            parts[logged.record.first_version] = logged

    async def find(self, grid_id: str, request_id: str) -> LoggedRequest | None:
        """The request's records joined; None when it has none."""
        return joined(list(self.records.get((grid_id, request_id), {}).values()))

    async def published(self, grid_id: str) -> int:
        """The grid's published sequence."""
        return await self._integration.last_sequence(grid_id)


@dataclass
class CheckpointCell(LeaseCell):
    """What the checkpoint stream holds, shared by the stores of several "instances"."""

    position: int | None = None


class InMemoryCheckpointStore:
    """CheckpointStore and Lease in a variable (a ``cell`` shared between instances)."""

    def __init__(
        self,
        cell: CheckpointCell | None = None,
        *,
        holder: str | None = None,
        ttl: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cell = cell or CheckpointCell()
        self.saves = 0
        self._lease = InMemoryLease(self.cell, holder=holder, ttl=ttl, monotonic=monotonic)

    @property
    def position(self) -> int | None:
        """The last saved position."""
        return self.cell.position

    @property
    def holder(self) -> str:
        return self._lease.holder

    def current_holder(self) -> str:
        return self._lease.current_holder()

    async def load(self) -> int | None:
        """The last saved position."""
        return self.cell.position

    async def save(self, position: int) -> None:
        """Remember ``position``; LeaseLostError unless this store holds the lease."""
        if not self._lease.write():
            raise LeaseLostError("the checkpoint is held by another instance")
        self.cell.position = position
        self.saves += 1

    async def acquire(self) -> bool:
        return await self._lease.acquire()

    async def renew(self) -> bool:
        return await self._lease.renew()

    async def release(self) -> None:
        await self._lease.release()


class SteppingClock:
    """The Clock port for deterministic tests: 2025-01-01 UTC, one second later per reading."""

    def __init__(self, start: datetime = datetime(2025, 1, 1, tzinfo=UTC)) -> None:
        self._start = start
        self._ticks = itertools.count()

    def now(self) -> datetime:
        """The next second."""
        return self._start + timedelta(seconds=next(self._ticks))


class CountingIds:
    """The IdGenerator port for deterministic tests: event ids 1, 2, ...; generated-1, ..."""

    def __init__(self) -> None:
        self._events = itertools.count(1)
        self._entities = itertools.count(1)

    def event_id(self) -> uuid.UUID:
        """UUID(int=1), UUID(int=2), ..."""
        return uuid.UUID(int=next(self._events))

    def entity_id(self) -> str:
        """generated-1, generated-2, ..."""
        return f"generated-{next(self._entities)}"
