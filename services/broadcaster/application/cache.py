"""A bounded cache of folded grids, kept current by the feed, for WatchGrid's first snapshot.

An entry is only ever exact: it holds the fold of sequences 1..version, and ``apply`` either
extends it by the next sequence, ignores an event it already holds, or drops the entry when
something does not fit (a gap, or an event the fold refuses); the next watcher reloads it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from domain.errors import EventHistoryInvalidError
from domain.fast_fold import GridFold
from domain.snapshot import GridSnapshot
from domain.values import GridId
from services.broadcaster.application.ports import FeedEvent

__all__ = ["GridCache"]


class _Entry:
    __slots__ = ("fold", "version")

    def __init__(self, fold: GridFold, version: int) -> None:
        self.fold = fold
        self.version = version


class GridCache:
    """The folded state of up to ``capacity`` recently watched grids (LRU; 0 disables it)."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[GridId, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def snapshot(self, grid_id: GridId) -> GridSnapshot | None:
        """The cached grid's state and version, or None when it is not cached."""
        entry = self._entries.get(grid_id)
        if entry is None:
            return None
        self._entries.move_to_end(grid_id)
        return GridSnapshot(entry.fold.freeze(), entry.version)

    def apply(self, event: FeedEvent) -> str | None:
        """Fold one event from the feed into its grid's entry, if that grid is cached.

        Only then is the event decoded into its domain form. Returns why the event could not
        be folded (its entry is dropped then), or None.
        """
        entry = self._entries.get(event.grid_id)
        if entry is None or event.sequence <= entry.version:
            return None
        if event.sequence != entry.version + 1:
            del self._entries[event.grid_id]
            return None
        try:
            entry.fold.apply(event.envelope().event)
        except (EventHistoryInvalidError, ValueError) as error:
            del self._entries[event.grid_id]
            return f"the grid's state cannot fold it: {error}"
        entry.version = event.sequence
        return None

    def forget(self, grid_id: GridId) -> None:
        """Drop the grid's entry (a poison event of the grid: the next reader reloads it)."""
        self._entries.pop(grid_id, None)

    def install(
        self, grid_id: GridId, fold: GridFold, version: int, tail: Iterable[FeedEvent] = ()
    ) -> None:
        """Cache a fold of sequences 1..version read from the store, plus ``tail``.

        ``tail``: the events of this grid the feed delivered since the store was read (the
        reader's own queued updates), so that the entry is as current as the feed.
        """
        if self._capacity <= 0:
            return
        current = self._entries.get(grid_id)
        entry = _Entry(fold, version)
        for event in tail:
            if event.sequence <= entry.version:
                continue
            if event.sequence != entry.version + 1:
                return  # cannot be made exact: leave it to the next reader
            try:
                fold.apply(event.envelope().event)
            except (EventHistoryInvalidError, ValueError):
                return
            entry.version = event.sequence
        if current is not None and current.version >= entry.version:
            return
        self._entries[grid_id] = entry
        self._entries.move_to_end(grid_id)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)
