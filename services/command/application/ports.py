"""Ports of the command service: what the use cases need from the outside world.

Adapters implement these Protocols; the application never names a technology. Versions count
a grid's events (GridCreated is version 1); the store's stream revision is ``version - 1``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.events import GridEvent
from domain.snapshot import GridSnapshot
from services.common.correlation import TraceParent
from services.common.envelope import Envelope
from services.common.lease import Lease
from services.common.parked import PoisonEvent

__all__ = [
    "CheckpointStore",
    "Clock",
    "DomainEventFeed",
    "DomainFeedItem",
    "EventMetadata",
    "EventStore",
    "FeedCheckpoint",
    "IdGenerator",
    "IntegrationLog",
    "PendingEvent",
    "RequestRecord",
    "SnapshotStore",
    "StoredEvent",
    "StoredSnapshot",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class EventMetadata:
    """Why and when an event was recorded: stored beside the event, read back on load."""

    occurred_at: datetime  # timezone-aware UTC, from the Clock port
    command: str  # the command's name, e.g. "MoveRoverBackward"
    request_id: str = ""  # empty: the client asked for no deduplication
    fingerprint: str = ""  # digest of the command's arguments, to spot a reused request_id
    # services/common/correlation.py: the request's id (or one generated for a request without
    # one), the command's id (the same: the command starts the conversation), and the span
    # that appended the event, when traced. "" / None for events stored before they existed.
    correlation_id: str = ""
    causation_id: str = ""
    trace: TraceParent | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingEvent:
    """A domain event about to be appended, with its id and metadata."""

    event_id: uuid.UUID
    event: GridEvent
    metadata: EventMetadata


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredEvent:
    """A domain event as read back: its place in the grid's history and in the whole store."""

    event_id: uuid.UUID
    grid_id: str
    version: int  # 1 for GridCreated
    event: GridEvent
    metadata: EventMetadata
    position: int = 0  # store-wide commit position (0 where the reader does not know it)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One applied request of a grid: enough to recognise a retry and rebuild its result."""

    request_id: str
    command: str
    fingerprint: str
    first_version: int
    last_version: int


@dataclass(frozen=True, slots=True)
class StoredSnapshot:
    """A grid snapshot plus the recent request ids it covers (the deduplication window)."""

    snapshot: GridSnapshot
    requests: tuple[RequestRecord, ...] = ()


class EventStore(Protocol):
    """The grids' event streams: load from a version, append with an expected version."""

    async def load(
        self, grid_id: str, after_version: int = 0, limit: int | None = None
    ) -> list[StoredEvent]:
        """Events with version > ``after_version``, oldest first; [] for an unknown grid."""
        ...

    async def append(
        self, grid_id: str, expected_version: int, events: Sequence[PendingEvent]
    ) -> int:
        """Store all of ``events`` or none; returns the new version.

        ``expected_version`` 0 means the stream must not exist. Raises ConcurrencyError when
        the stream is at another version and StoreUnavailableError when the store is down.
        """
        ...


class SnapshotStore(Protocol):
    """The latest snapshot of each grid, kept outside the grid's own stream."""

    async def load(self, grid_id: str) -> StoredSnapshot | None:
        """The latest snapshot; None if there is none. SnapshotUnusableError if unreadable."""
        ...

    async def save(self, grid_id: str, snapshot: StoredSnapshot) -> None:
        """Record a snapshot (older ones may be discarded)."""
        ...


class Clock(Protocol):
    """The current time: injected so that tests and replays are deterministic."""

    def now(self) -> datetime:
        """Timezone-aware UTC now."""
        ...


class IdGenerator(Protocol):
    """Fresh ids for events and for grids or rovers created without one."""

    def event_id(self) -> uuid.UUID:
        """A new, unique event id."""
        ...

    def entity_id(self) -> str:
        """A new id for a grid or a rover (fits 1..64 of [A-Za-z0-9_-])."""
        ...


# --- publication ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedCheckpoint:
    """The feed has considered everything up to ``position`` (no domain event there)."""

    position: int


DomainFeedItem = StoredEvent | FeedCheckpoint | PoisonEvent
"""A poison item is a stored event of ``grid-*`` that cannot be published: undecodable, a
tombstone, or in a stream whose name is not a grid's (its ``grid_id`` is then "")."""


class DomainEventFeed(Protocol):
    """Every grid's domain events in store order, as a never-ending catch-up subscription."""

    def subscribe(self, after_position: int | None) -> AsyncIterator[DomainFeedItem]:
        """Events after ``after_position`` (None: from the beginning), then live ones."""
        ...

    async def read_grid(self, grid_id: str, after_version: int, limit: int) -> list[StoredEvent]:
        """Up to ``limit`` of one grid's events after ``after_version``, decoded as
        ``subscribe`` decodes them; PoisonEventError (with the events before it) at the first
        event that cannot be, or when the grid's stream is deleted."""
        ...

    async def head(self) -> int | None:
        """The commit position of the store's newest event (None: the store is empty); no
        checkpoint can lie beyond it."""
        ...


class IntegrationLog(Protocol):
    """The integration streams: one per grid, sequence ``n`` at revision ``n - 1``."""

    async def append(self, grid_id: str, envelopes: Sequence[Envelope]) -> None:
        """Append consecutive envelopes expecting the stream to end just before the first.

        Re-appending envelopes already there (same ids, same places) succeeds; any other
        mismatch raises ConcurrencyError.
        """
        ...

    async def last_sequence(self, grid_id: str) -> int:
        """The sequence of the grid's last integration event; 0 if it has none."""
        ...

    async def event_ids(self, grid_id: str, after_sequence: int, limit: int) -> list[uuid.UUID]:
        """Ids of up to ``limit`` integration events after ``after_sequence``, in order."""
        ...


class CheckpointStore(Lease, Protocol):
    """Where the publisher remembers how far through the store it has published, and the
    lease that lets one instance's publisher run at a time (services/common/lease.py)."""

    async def load(self) -> int | None:
        """The last saved position; None before the first save."""
        ...

    async def save(self, position: int) -> None:
        """Remember ``position``; LeaseLostError unless this instance holds the lease."""
        ...
