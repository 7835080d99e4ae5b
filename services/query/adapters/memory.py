"""In-memory fakes of the read side's ports, for unit tests and the contract suite."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Iterable, Sequence

from services.common.envelope import Envelope
from services.common.publisher_checkpoint import PublisherCheckpoint
from services.query.application.errors import (
    GenerationChangedError,
    ReadModelRewoundError,
    VersionConflictError,
)
from services.query.application.ports import (
    Checkpoint,
    FeedHead,
    FeedItem,
    GridDocument,
    GridSummaryView,
    GridView,
    HashUpdate,
    RoverView,
)
from services.query.application.projection import grid_summary, grid_view, rover_view
from services.query.dto import encode_view

__all__ = ["InMemoryEventFeed", "InMemoryPublisherProgress", "InMemoryReadModel"]

Rows = dict[str, dict[str, str]]
Dump = tuple[dict[int, Rows], int | None, int, int]


class InMemoryReadModel:
    """The ReadModel port over dictionaries, with the same key layout as Redis.

    Sets and sorted sets are rows whose fields are the members (value "1" / the score "0"),
    which is also how ``generation_rows`` reports them for Redis. ``dump`` and ``restore``
    play Redis restarted from an older dump (a new instance that lost later writes).
    """

    def __init__(self) -> None:
        self._generations: dict[int, Rows] = {}
        self._active: int | None = None
        self._counter = 0
        self._instance = 1
        self._count = 0  # the port's commit_count: part of a dump
        self.commits = 0  # commits this object took, for tests

    def dump(self) -> Dump:
        """A copy of everything, as SAVE writes it."""
        return copy.deepcopy((self._generations, self._active, self._counter, self._count))

    def restore(self, dump: Dump) -> None:
        """Come back as a new instance holding ``dump`` (writes after it are lost)."""
        self._generations, self._active, self._counter, self._count = copy.deepcopy(dump)
        self._instance += 1

    async def instance(self) -> str:
        return f"memory-{id(self)}-{self._instance}"

    async def active_generation(self) -> int:
        if self._active is None:
            self._active = await self.new_generation()
        return self._active

    async def new_generation(self) -> int:
        self._counter += 1
        self._generations[self._counter] = {}
        return self._counter

    async def checkpoint(self, generation: int) -> Checkpoint | None:
        row = self._generations.get(generation, {}).get("checkpoint")
        if not row:
            return None
        return Checkpoint(int(row["position"]), int(row["recorded_at_ms"]), int(row["events"]))

    async def grid_versions(self, generation: int, grid_ids: Sequence[str]) -> dict[str, int]:
        rows = self._generations.get(generation, {})
        return {g: int(rows.get(f"grid:{g}", {}).get("version", "0")) for g in grid_ids}

    async def commit(
        self,
        generation: int,
        updates: Sequence[HashUpdate],
        checkpoint: Checkpoint,
        *,
        must_be_active: bool,
        not_before: int | None = None,
    ) -> int:
        if must_be_active and generation != self._active:
            raise GenerationChangedError(f"generation {generation} is not active")
        if not_before is not None and self._count < not_before:
            raise ReadModelRewoundError(generation, self._count, not_before)
        rows = self._generations.setdefault(generation, {})
        seen: dict[str, int] = {}
        for update in updates:  # check everything first: all or nothing
            current = seen.get(update.grid_id)
            if current is None:
                current = int(rows.get(f"grid:{update.grid_id}", {}).get("version", "0"))
            if update.sequence != current + 1:
                raise VersionConflictError(update.grid_id, current)
            seen[update.grid_id] = update.sequence
        for update in updates:
            _apply(rows, update)
        stored = rows.get("checkpoint")
        if stored is None or int(stored["position"]) < checkpoint.position:
            rows["checkpoint"] = {
                "position": str(checkpoint.position),
                "recorded_at_ms": str(checkpoint.recorded_at_ms),
                "events": str(checkpoint.events),
            }
        self.commits += 1
        self._count += 1
        return self._count

    async def commit_count(self) -> int:
        return self._count

    async def replace_grid(
        self,
        generation: int,
        grid_id: str,
        updates: Sequence[HashUpdate],
        *,
        expected_version: int,
    ) -> int:
        if generation != self._active:
            raise GenerationChangedError(f"generation {generation} is not active")
        rows = self._generations.setdefault(generation, {})
        grid_key = f"grid:{grid_id}"
        current = int(rows.get(grid_key, {}).get("version", "0"))
        if current != expected_version:
            raise VersionConflictError(grid_id, current)
        for key in [k for k in rows if k == grid_key or k.startswith(grid_key + ":")]:
            del rows[key]
        rows.get("grids", {}).pop(grid_id, None)
        for update in updates:
            _apply(rows, update)
        self._count += 1
        return self._count

    async def swap(self, generation: int) -> int | None:
        active = await self.active_generation()
        mine = await self.checkpoint(generation)
        theirs = await self.checkpoint(active)
        if theirs is not None and (mine is None or mine.position < theirs.position):
            return None
        self._active = generation
        return active

    async def drop_generation(self, generation: int) -> None:
        if generation != self._active:
            self._generations.pop(generation, None)

    def _rows(self) -> Rows:
        return self._generations.get(self._active or 0, {})

    async def grid(self, grid_id: str) -> GridView | None:
        rows = self._rows()
        fields = rows.get(f"grid:{grid_id}")
        if not fields or "grid_id" not in fields:
            return None
        rovers = [
            (r, rows[f"grid:{grid_id}:rover:{r}"]) for r in rows.get(f"grid:{grid_id}:rovers", {})
        ]
        return grid_view(fields, rows.get(f"grid:{grid_id}:obstacles", {}), rovers)

    async def grid_document(self, grid_id: str) -> GridDocument | None:
        view = await self.grid(grid_id)
        return GridDocument(view.version, encode_view(view)) if view else None

    async def rover(self, grid_id: str, rover_id: str) -> tuple[RoverView | None, int] | None:
        rows = self._rows()
        fields = rows.get(f"grid:{grid_id}")
        if not fields or "grid_id" not in fields:
            return None
        rover = rows.get(f"grid:{grid_id}:rover:{rover_id}")
        return (rover_view(rover_id, rover) if rover else None), int(fields["version"])

    async def list_grids(self, after: str, limit: int) -> list[GridSummaryView]:
        rows = self._rows()
        ids = sorted(g for g in rows.get("grids", {}) if g > after)[:limit]
        return [grid_summary(rows[f"grid:{g}"]) for g in ids]

    async def generation_rows(self, generation: int) -> dict[str, dict[str, str]]:
        return {k: dict(v) for k, v in self._generations.get(generation, {}).items() if v}


def _apply(rows: Rows, update: HashUpdate) -> None:
    """One update into a generation's rows, as the Redis COMMIT script applies it."""
    grid_key = f"grid:{update.grid_id}"
    rows.setdefault(grid_key, {}).update(update.grid_fields)
    if update.new_grid:
        rows.setdefault("grids", {})[update.grid_id] = "0"
        if update.obstacles:
            rows.setdefault(f"{grid_key}:obstacles", {}).update(
                dict.fromkeys(update.obstacles, "1")
            )
    if update.rover_id:
        rover_key = f"{grid_key}:rover:{update.rover_id}"
        rows.setdefault(rover_key, {}).update(update.rover_fields)
        if update.new_rover:
            members = rows.setdefault(f"{grid_key}:rovers", {})
            if update.rover_id not in members:
                members[update.rover_id] = "0"
                grid = rows[grid_key]
                grid["rover_count"] = str(int(grid.get("rover_count", "0")) + 1)


class InMemoryEventFeed:
    """The EventFeed port over a list of stored events, with scripted deliveries for tests.

    ``append`` stores events (positions 1, 2, ...). By default ``subscribe`` delivers the
    stored events after the position; ``deliver`` instead scripts exactly what the
    subscription hands out (duplicates, out of order, gaps), while ``read_grid`` always
    answers from what is stored.
    """

    def __init__(self) -> None:
        self.stored: list[FeedItem] = []
        self._scripted: list[FeedItem] | None = None
        self._subscribers: list[asyncio.Event] = []
        self.grid_reads: list[tuple[str, int, int]] = []

    def append(self, envelopes: Iterable[Envelope]) -> list[FeedItem]:
        items = []
        for envelope in envelopes:
            item = FeedItem(len(self.stored) + 1, envelope, 1_000 * (len(self.stored) + 1))
            self.stored.append(item)
            items.append(item)
        self._wake()
        return items

    def _wake(self) -> None:
        for wake in self._subscribers:
            wake.set()

    def deliver(self, items: Iterable[FeedItem]) -> None:
        """Script the subscription: these items, in this order, then nothing."""
        self._scripted = list(items)
        self._wake()

    async def subscribe(self, after: int | None, max_batch: int) -> AsyncIterator[list[FeedItem]]:
        sent = 0
        wake = asyncio.Event()
        self._subscribers.append(wake)
        try:
            while True:
                if self._scripted is not None:
                    pending = self._scripted[sent:]
                else:
                    pending = [i for i in self.stored if after is None or i.position > after]
                if pending:
                    batch = pending[:max_batch]
                    sent += len(batch)
                    after = batch[-1].position
                    yield batch
                    continue
                wake.clear()
                await wake.wait()
        finally:
            self._subscribers.remove(wake)

    async def read_grid(self, grid_id: str, first: int, last: int) -> list[Envelope]:
        self.grid_reads.append((grid_id, first, last))
        return [
            i.envelope
            for i in self.stored
            if i.envelope is not None
            and i.envelope.grid_id == grid_id
            and first <= i.envelope.sequence <= last
        ]

    async def head(self) -> FeedHead | None:
        if not self.stored:
            return None
        return FeedHead(self.stored[-1].position, self.stored[-1].recorded_at_ms)

    async def count_after(self, position: int, cap: int) -> tuple[int, int]:
        after = [i for i in self.stored if i.position > position]
        return min(len(after), cap), (after[0].recorded_at_ms if after else 0)


class InMemoryPublisherProgress:
    """The PublisherProgress port with a checkpoint and a count set by the caller (a query
    service built without an event store has no publisher to observe)."""

    def __init__(
        self,
        checkpoint: PublisherCheckpoint | None = None,
        behind: int = 0,
        head: int | None = None,
    ) -> None:
        self.last = checkpoint
        self.behind = behind
        self.head = head

    async def checkpoint(self) -> PublisherCheckpoint | None:
        return self.last

    async def newest(self) -> int | None:
        return self.head

    async def count_after(self, position: int | None, cap: int) -> tuple[int, int]:
        return min(self.behind, cap), 0
