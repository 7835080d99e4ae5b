"""Loading grids: a bounded warm cache, snapshots with fallback to replay, per-grid locks.

Why the cache can never serve a stale decision: a cached grid is only a starting point. Every
change decided on it is appended with the cached version as the expected version, so the store
itself refuses the append if anything was written since (ConcurrencyError); the executor then
evicts the entry and reloads. Answers that record nothing (errors) are re-checked against a
freshly loaded grid before they are returned (see ``executor``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, replace

from domain.errors import EventHistoryInvalidError, SnapshotUnusableError
from domain.grid import Grid
from domain.snapshot import GridSnapshot
from services.command.application.ports import (
    EventMetadata,
    EventStore,
    RequestRecord,
    SnapshotStore,
    StoredEvent,
    StoredSnapshot,
)
from services.common.logs import get_logger

__all__ = ["GridRepository", "LoadedGrid", "RequestWindow"]

_log = get_logger(__name__)


class RequestWindow:
    """The most recent request ids applied to one grid, oldest first, at most ``limit``."""

    __slots__ = ("_limit", "_records")

    def __init__(self, limit: int, records: Iterable[RequestRecord] = ()) -> None:
        self._limit = limit
        self._records: OrderedDict[str, RequestRecord] = OrderedDict()
        for record in records:
            self._add(record)

    def get(self, request_id: str) -> RequestRecord | None:
        """The record of ``request_id``, if it is still in the window."""
        return self._records.get(request_id)

    def observe(self, version: int, metadata: EventMetadata) -> None:
        """Account for one stored event; consecutive events of one request form one record."""
        request_id = metadata.request_id
        if not request_id:
            return
        record = self._records.get(request_id)
        if (
            record is not None
            and record.last_version == version - 1
            and record.fingerprint == metadata.fingerprint
        ):
            self._records[request_id] = replace(record, last_version=version)
            return
        self._add(
            RequestRecord(request_id, metadata.command, metadata.fingerprint, version, version)
        )

    def records(self) -> tuple[RequestRecord, ...]:
        """Every record in the window, oldest first (what a snapshot keeps)."""
        return tuple(self._records.values())

    @property
    def full(self) -> bool:
        """Whether older requests may have left the window (then the request log has them)."""
        return len(self._records) >= self._limit

    @property
    def oldest(self) -> RequestRecord | None:
        """The oldest record the window holds."""
        return next(iter(self._records.values()), None)

    def _add(self, record: RequestRecord) -> None:
        self._records[record.request_id] = record
        self._records.move_to_end(record.request_id)
        while len(self._records) > self._limit:
            self._records.popitem(last=False)


@dataclass(slots=True)
class LoadedGrid:
    """A grid aggregate at a stored version, with its request window.

    ``other_writer_at`` is when (monotonic seconds) another writer (another instance) was last
    seen moving this grid: a conflict, or events found that this process did not append.
    """

    grid: Grid
    requests: RequestWindow
    other_writer_at: float = float("-inf")


class GridRepository:
    """Loads grids (cache, else snapshot + tail, else full replay) and keeps them warm.

    Callers hold ``locked(grid_id)`` while they use a loaded grid: the aggregate is mutable and
    one command at a time decides on it in this process.
    """

    def __init__(
        self,
        events: EventStore,
        snapshots: SnapshotStore,
        *,
        cache_size: int = 10_000,
        cache_footprint: int = 200_000,
        request_window: int = 1_000,
        snapshot_interval: int = 100,
        contention_seconds: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._events = events
        self._contention = contention_seconds
        self._monotonic = monotonic
        self._snapshots = snapshots
        self._cache_size = cache_size
        self._cache_footprint = cache_footprint
        self._held = 0  # the cached grids' footprints together, as each was when cached
        self._footprints: dict[str, int] = {}
        self._window = request_window
        self._interval = snapshot_interval
        self._cache: OrderedDict[str, LoadedGrid] = OrderedDict()
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}
        self._background: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def locked(self, grid_id: str) -> AsyncIterator[None]:
        """Serialise the commands of one grid within this process."""
        entry = self._locks.get(grid_id)
        if entry is None:
            entry = self._locks[grid_id] = (asyncio.Lock(), [0])
        lock, users = entry
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._locks[grid_id]

    @property
    def request_window(self) -> int:
        """How many recent request ids each grid remembers."""
        return self._window

    def cached(self, grid_id: str) -> LoadedGrid | None:
        """The warm entry, if any (marked most recently used)."""
        loaded = self._cache.get(grid_id)
        if loaded is not None:
            self._cache.move_to_end(grid_id)
        return loaded

    def evict(self, grid_id: str) -> None:
        """Forget a grid: after a conflict, an unknown append outcome or a doubted answer."""
        if self._cache.pop(grid_id, None) is not None:
            self._held -= self._footprints.pop(grid_id)

    def remember(self, grid_id: str, loaded: LoadedGrid) -> None:
        """Keep a grid warm, dropping the least recently used beyond the cache's bounds: its
        number of grids, and their footprints (obstacles and rovers) together, so that large
        grids neither fill memory nor lengthen the garbage collector's passes (the grid just
        used stays, however large)."""
        if self._cache_size <= 0:
            return
        self.evict(grid_id)
        self._cache[grid_id] = loaded
        self._footprints[grid_id] = footprint = loaded.grid.footprint
        self._held += footprint
        while len(self._cache) > 1 and (
            len(self._cache) > self._cache_size or self._held > self._cache_footprint
        ):
            dropped, _ = self._cache.popitem(last=False)
            self._held -= self._footprints.pop(dropped)

    async def load(self, grid_id: str) -> LoadedGrid | None:
        """Rebuild from the store: latest usable snapshot plus the events after it."""
        stored = await self._usable_snapshot(grid_id)
        if stored is not None:
            tail = await self._events.load(grid_id, after_version=stored.snapshot.version)
            try:
                grid = Grid.from_snapshot(stored.snapshot, (e.event for e in tail))
            except EventHistoryInvalidError as error:
                _log.warning("snapshot disagrees with events", grid_id=grid_id, error=str(error))
            else:
                loaded = LoadedGrid(grid, RequestWindow(self._window, stored.requests))
                self._observe(loaded, tail)
                self.remember(grid_id, loaded)
                return loaded
        history = await self._events.load(grid_id)
        if not history:
            return None
        grid = Grid.from_events(e.event for e in history)
        loaded = LoadedGrid(grid, RequestWindow(self._window))
        self._observe(loaded, history)
        self.remember(grid_id, loaded)
        return loaded

    def contended(self, loaded: LoadedGrid) -> bool:
        """Whether another writer moved this grid within the last ``contention_seconds``."""
        return self._monotonic() - loaded.other_writer_at < self._contention

    def other_writer_seen(self, loaded: LoadedGrid) -> None:
        """Note that someone else wrote this grid just now (a conflict, foreign events)."""
        loaded.other_writer_at = self._monotonic()

    async def catch_up(self, grid_id: str, loaded: LoadedGrid, base: GridSnapshot) -> LoadedGrid:
        """``loaded`` brought up to date from ``base`` (its state before a failed decision).

        One read of the stream's tail after ``base`` instead of a snapshot load and a replay:
        what a writer that lost a race to another instance needs to decide again.
        """
        tail = await self._events.load(grid_id, after_version=base.version)
        if not tail and base.version == loaded.grid.version and not loaded.grid.changes:
            return loaded
        if tail:
            self.other_writer_seen(loaded)
        try:
            grid = Grid.from_snapshot(base, (e.event for e in tail))
        except EventHistoryInvalidError as error:
            _log.warning("tail disagrees with cached grid", grid_id=grid_id, error=str(error))
            self.evict(grid_id)
            reloaded = await self.load(grid_id)
            if reloaded is None:  # pragma: no cover - a grid's stream is never deleted
                raise
            return reloaded
        caught_up = LoadedGrid(grid, loaded.requests, loaded.other_writer_at)
        self._observe(caught_up, tail)
        self.remember(grid_id, caught_up)
        return caught_up

    async def _usable_snapshot(self, grid_id: str) -> StoredSnapshot | None:
        try:
            return await self._snapshots.load(grid_id)
        except SnapshotUnusableError as error:
            # Events are the source of truth: an old-schema or damaged snapshot costs a replay.
            _log.warning("snapshot unusable; replaying", grid_id=grid_id, error=str(error))
            return None

    @staticmethod
    def _observe(loaded: LoadedGrid, events: Iterable[StoredEvent]) -> None:
        for stored in events:
            loaded.requests.observe(stored.version, stored.metadata)

    async def events_between(self, grid_id: str, first: int, last: int) -> list[StoredEvent]:
        """The stored events of versions ``first..last`` (to rebuild an earlier result)."""
        return await self._events.load(grid_id, after_version=first - 1, limit=last - first + 1)

    def stored(self, grid_id: str, loaded: LoadedGrid, before: int) -> None:
        """After an append took the grid from ``before`` to its version: cache, maybe snapshot."""
        self.remember(grid_id, loaded)
        after = loaded.grid.version
        if self._interval > 0 and after // self._interval > before // self._interval:
            snapshot = StoredSnapshot(loaded.grid.snapshot(), loaded.requests.records())
            task = asyncio.create_task(self._save_snapshot(grid_id, snapshot))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _save_snapshot(self, grid_id: str, snapshot: StoredSnapshot) -> None:
        try:
            await self._snapshots.save(grid_id, snapshot)
        except Exception as error:  # a missed snapshot only costs a longer load later
            _log.warning("snapshot not saved", grid_id=grid_id, error=repr(error))

    async def drain(self) -> None:
        """Wait for snapshot writes in flight (on shutdown, and in tests)."""
        while self._background:
            await asyncio.gather(*tuple(self._background), return_exceptions=True)
