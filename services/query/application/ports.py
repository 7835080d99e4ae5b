"""Ports of the read side (Protocols) and the plain values that cross them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from services.common.correlation import TraceParent
from services.common.envelope import Envelope
from services.common.parked import PoisonEvent
from services.common.publisher_checkpoint import PublisherCheckpoint

__all__ = [
    "Checkpoint",
    "EventFeed",
    "FeedHead",
    "FeedItem",
    "GridDocument",
    "GridSummaryView",
    "GridView",
    "HashUpdate",
    "InboxGroup",
    "InboxProgress",
    "PublisherProgress",
    "ReadModel",
    "RoverView",
]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """How far a projection has read the store: a commit position and that event's time."""

    position: int
    recorded_at_ms: int = 0
    events: int = 0  # integration events consumed so far by this generation


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One delivery of the feed: an event, or a bare position checkpoint (neither set).

    A feed may hand over the event's projection ``update`` (exactly ``project(envelope)``)
    instead of its envelope, when it can make it more cheaply than decoding the event.
    ``trace`` is the span the event's metadata names, read only when tracing is on.
    ``poison`` is set (and ``envelope`` None) for an event the feed could not decode.
    """

    position: int
    envelope: Envelope | None
    recorded_at_ms: int = 0
    update: HashUpdate | None = None
    trace: TraceParent | None = None
    poison: PoisonEvent | None = None


@dataclass(frozen=True, slots=True)
class FeedHead:
    """The newest integration event in the store."""

    position: int
    recorded_at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class HashUpdate:
    """What one event changes in the read model, as hash fields (see projection.py)."""

    grid_id: str
    sequence: int
    grid_fields: Mapping[str, str]
    rover_id: str = ""
    rover_fields: Mapping[str, str] = field(default_factory=dict)
    new_grid: bool = False  # index the grid and store its obstacles
    new_rover: bool = False  # index the rover and count it on its grid
    obstacles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RoverView:
    """A rover as the read model holds it."""

    rover_id: str
    x: int
    y: int
    facing: str  # N, E, S or W


@dataclass(frozen=True, slots=True)
class GridView:
    """A grid with its obstacles and rovers (ordered by rover_id), at ``version``."""

    grid_id: str
    width: int
    height: int
    topology: str  # BOUNDED or TOROIDAL
    obstacles: tuple[tuple[int, int], ...]
    rovers: tuple[RoverView, ...]
    version: int


@dataclass(frozen=True, slots=True)
class GridDocument:
    """A grid's details as the adapters serialised them when projecting, at ``version``.

    ``details`` is opaque to the application: the read model stores the reply of
    GetGridDetails ready to send, so answering a query decodes and encodes nothing.
    """

    version: int
    details: bytes


@dataclass(frozen=True, slots=True)
class GridSummaryView:
    """A grid as ListGrids shows it."""

    grid_id: str
    width: int
    height: int
    topology: str
    rover_count: int
    version: int


class EventFeed(Protocol):
    """The integration events of every grid, in store order, plus per-grid reads for healing."""

    def subscribe(self, after: int | None, max_batch: int) -> AsyncIterator[list[FeedItem]]:
        """Batches of deliveries after commit position ``after`` (None: from the start).

        A batch holds what is ready now (at most ``max_batch``); it never ends by itself.
        """
        ...

    async def read_grid(self, grid_id: str, first: int, last: int) -> list[Envelope]:
        """The events of one grid with sequences ``first..last`` that the store holds.

        PoisonEventError at the first event that cannot be decoded (``before``: the events
        read ahead of it)."""
        ...

    async def head(self) -> FeedHead | None:
        """The newest integration event, or None when there is none."""
        ...

    async def count_after(self, position: int, cap: int) -> tuple[int, int]:
        """How many integration events lie after ``position`` (counting stops at ``cap``),
        and when the first of them was recorded (epoch ms; 0 when there is none)."""
        ...


class ReadModel(Protocol):
    """The projected read model, in generations: queries read the active one.

    A generation is a complete copy of the model with its own checkpoint. The live projector
    writes into the active generation; a rebuild fills a new one and swaps it in atomically.
    """

    async def active_generation(self) -> int:
        """The generation queries read; created (empty) when there is none yet."""
        ...

    async def new_generation(self) -> int:
        """A fresh, empty, inactive generation for a rebuild."""
        ...

    async def checkpoint(self, generation: int) -> Checkpoint | None:
        """Where the projection of ``generation`` stopped; None when it never started."""
        ...

    async def grid_versions(self, generation: int, grid_ids: Sequence[str]) -> dict[str, int]:
        """Projected version of each grid (0 for a grid not projected yet)."""
        ...

    async def commit(
        self,
        generation: int,
        updates: Sequence[HashUpdate],
        checkpoint: Checkpoint,
        *,
        must_be_active: bool,
        not_before: int | None = None,
    ) -> int:
        """Apply ``updates`` in order and move the checkpoint, all or nothing; return the
        model's commit count after this commit (see ``commit_count``).

        Each update must be its grid's next version, else nothing is written and
        VersionConflictError is raised; with ``must_be_active`` a generation that is no longer
        active raises GenerationChangedError. The checkpoint never moves backwards.
        ``not_before`` is a commit count the caller has seen: when the model counts fewer, it
        lost writes, nothing is written and ReadModelRewoundError is raised (checked before
        the versions).
        """
        ...

    async def replace_grid(
        self,
        generation: int,
        grid_id: str,
        updates: Sequence[HashUpdate],
        *,
        expected_version: int,
    ) -> int:
        """Replace all ``generation`` holds of ``grid_id`` with the fold of ``updates`` (the
        grid's events from its first; none: the grid is removed), in one atomic step, and
        return the commit count after it (a replacement counts as a commit).

        Only while the grid is still at ``expected_version`` (0: absent): otherwise nothing is
        written and VersionConflictError is raised with the version found; a generation that
        is not active raises GenerationChangedError. Not fenced by the projector's lease: a
        live projector meeting the new version re-reads it (a conflict) and skips what the
        replacement already holds as duplicates.
        """
        ...

    async def commit_count(self) -> int:
        """How many commits the model has taken, over all generations (each adds one): a
        model that lost writes counts fewer than it did."""
        ...

    async def instance(self) -> str:
        """An id of the running store instance; it changes when the store restarts or fails
        over, the moments it may come back without some of its writes. "" when the store
        cannot tell (a caller then compares checkpoints every time)."""
        ...

    async def swap(self, generation: int) -> int | None:
        """Make ``generation`` active if its checkpoint has reached the active one's.

        Returns the generation it replaced, or None (nothing changed) when it is behind.
        """
        ...

    async def drop_generation(self, generation: int) -> None:
        """Delete every key of an inactive ``generation``."""
        ...

    async def grid(self, grid_id: str) -> GridView | None:
        """A grid of the active generation, read atomically."""
        ...

    async def grid_document(self, grid_id: str) -> GridDocument | None:
        """A grid of the active generation as its serialised details, read atomically."""
        ...

    async def rover(self, grid_id: str, rover_id: str) -> tuple[RoverView | None, int] | None:
        """A rover and its grid's version; None for an unknown grid."""
        ...

    async def list_grids(self, after: str, limit: int) -> list[GridSummaryView]:
        """Up to ``limit`` grids with ids greater than ``after``, ordered by id."""
        ...

    async def generation_rows(self, generation: int) -> dict[str, dict[str, str]]:
        """Every key of ``generation`` (relative to its prefix) with its fields, for audits."""
        ...


class PublisherProgress(Protocol):
    """Where the command service's publisher stands (for admin status; read-only)."""

    async def checkpoint(self) -> PublisherCheckpoint | None:
        """Its last checkpoint record; None when it never wrote one. CheckpointUnreadableError
        when the stream's last event is not a checkpoint."""
        ...

    async def newest(self) -> int | None:
        """The commit position of the newest domain event (None: there is none)."""
        ...

    async def count_after(self, position: int | None, cap: int) -> tuple[int, int]:
        """How many domain events lie after ``position`` (None: all; counting stops at
        ``cap``), and when the first of them was recorded (epoch ms; 0 when none)."""
        ...


@dataclass(frozen=True, slots=True)
class InboxGroup:
    """Where the command inbox's consumer group stands, as the store reports it."""

    name: str  # the group's name
    position: int | None  # commit position of its last checkpoint (None: none yet)
    behind: int  # inbox events after that position (counting stops at the cap)
    first_ms: int  # when the first of them was recorded (epoch ms; 0 when none)
    parked: int  # commands the group parked (poison, or retried too often)


class InboxProgress(Protocol):
    """The command inbox's persistent subscription group (for admin status; read-only)."""

    async def group(self, cap: int) -> InboxGroup | None:
        """The group's state; None when it does not exist (the inbox never ran)."""
        ...
