"""WatchGrid: one watcher's stream, a gapless handover from the store to the live feed.

The order of operations is what makes the stream exact. The watcher subscribes to the hub
FIRST, then reads the store (the snapshot, or the history after ``from_version``), then
drains its queue, skipping any sequence it has already sent. Every event stored after the
subscription reaches the queue, and every event stored before it is in the read, so nothing
is missed; the skip removes the overlap, so nothing is sent twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Generic, TypeAlias, TypeVar

from domain.errors import EventHistoryInvalidError
from domain.fast_fold import GridFold
from domain.snapshot import GridSnapshot
from domain.values import GridId
from services.broadcaster.application.hub import Hub, HubClosedError
from services.broadcaster.application.ports import GridHistory, StoreUnavailableError
from services.broadcaster.application.subscription import (
    EndReason,
    Published,
    Subscription,
    SubscriptionEndedError,
)

__all__ = ["FellBehind", "FromVersionInvalidError", "Heartbeat", "Snapshot", "Update", "WatchGrid"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The grid's state at ``snapshot.version``: the first update when no from_version."""

    snapshot: GridSnapshot

    @property
    def sequence(self) -> int:
        """The version the snapshot reflects."""
        return self.snapshot.version


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Nothing happened for a while; ``sequence`` is the last one delivered."""

    sequence: int


@dataclass(frozen=True, slots=True)
class FellBehind:
    """The last update of a watcher that fell behind: resume from ``sequence``."""

    sequence: int
    reason: str


Update: TypeAlias = Snapshot | Published[T] | Heartbeat | FellBehind


class FromVersionInvalidError(ValueError):
    """``from_version`` is negative or beyond the grid's current version."""

    def __init__(self, from_version: int, version: int | None) -> None:
        if version is None:
            message = f"from_version must be 0 or more, not {from_version}"
        else:
            message = f"from_version {from_version} is beyond the grid's version {version}"
        super().__init__(message)
        self.from_version = from_version
        self.version = version


class WatchGrid(Generic[T]):
    """The use case behind RoverLiveService.WatchGrid."""

    def __init__(
        self, hub: Hub[T], history: GridHistory, *, heartbeat_seconds: float | None
    ) -> None:
        self._hub = hub
        self._history = history
        self._heartbeat = heartbeat_seconds
        # Plain counters for the metrics endpoint (read at scrape time by the bootstrap's).
        self.watching = 0  # streams subscribed to the hub now
        self.updates_sent = 0  # snapshots and events handed to streams
        self.heartbeats = 0
        # Streams ended here: the feed skipped a sequence, or the broadcaster shut down (the
        # hub counts those it dropped for a full queue: Hub.dropped).
        self.cut_off = {"gap": 0, "shutdown": 0}

    async def watch(
        self, grid_id: GridId, from_version: int | None
    ) -> AsyncGenerator[Update[T], None]:
        """The grid's updates until the caller stops iterating.

        Raises GridNotFoundError, FromVersionInvalidError, StoreUnavailableError (not live
        within a heartbeat) before the first update and
        HubClosedError (at any point) when the broadcaster shuts down. A watcher that falls
        behind gets FellBehind as its last update.
        """
        if from_version is not None and from_version < 0:
            raise FromVersionInvalidError(from_version, None)
        try:
            # A watcher hears something within a heartbeat: an instance that is not following
            # the store (starting, or cut off from it) says so, and the client tries again,
            # perhaps on another instance, instead of waiting on a silent stream.
            async with asyncio.timeout(self._heartbeat):
                await self._hub.wait_live()
        except TimeoutError:
            raise StoreUnavailableError(
                "this broadcaster is not following the event store yet; retry"
            ) from None
        subscription = self._hub.subscribe(grid_id, heartbeat_seconds=self._heartbeat)
        self.watching += 1
        try:
            if from_version is None:
                snapshot = await self._snapshot(grid_id, subscription)
                last = snapshot.version
                self.updates_sent += 1
                yield Snapshot(snapshot)
            else:
                version = await self._history.last_sequence(grid_id)
                if from_version > version:
                    raise FromVersionInvalidError(from_version, version)
                last = from_version
                async for event in self._history.events(grid_id, after=from_version):
                    if event.sequence <= last:
                        continue
                    if event.sequence != last + 1:
                        raise EventHistoryInvalidError(
                            f"grid {grid_id!r}: sequence {event.sequence} after {last}"
                        )
                    self.updates_sent += 1
                    yield self._hub.wrap(event)
                    last = event.sequence
                    # The live queue overlaps the history read: free what is already sent.
                    subscription.discard_through(last)
                    if subscription.ended is not None:
                        break  # the live part reports it; no point reading further
            # The live part, inlined (not a nested generator): it runs once per delivery.
            while True:
                item = subscription.poll()
                if item is None:
                    try:
                        item = await subscription.get()
                    except SubscriptionEndedError as ended:
                        if ended.reason is EndReason.CLOSED:
                            self.cut_off["shutdown"] += 1
                            raise HubClosedError("the broadcaster is shutting down") from None
                        yield FellBehind(last, "the watcher fell behind: its queue overflowed")
                        return
                    if item is None:
                        self.heartbeats += 1
                        yield Heartbeat(last)
                        continue
                sequence = item.sequence
                if sequence <= last:
                    continue  # already sent from the store read
                if sequence != last + 1:
                    # The feed skipped something (it never should): let the client re-read.
                    self.cut_off["gap"] += 1
                    yield FellBehind(last, f"sequence {sequence} arrived after {last}")
                    return
                self.updates_sent += 1
                yield item
                last = sequence
        finally:
            self.watching -= 1
            self._hub.unsubscribe(subscription)

    async def _snapshot(self, grid_id: GridId, subscription: Subscription[T]) -> GridSnapshot:
        cached = self._hub.cache.snapshot(grid_id)
        if cached is not None:
            return cached  # exact as of now, and the subscription holds what comes next
        fold: GridFold | None = None
        version = 0
        async for stored in self._history.events(grid_id, after=0):
            if stored.sequence != version + 1:
                raise EventHistoryInvalidError(
                    f"grid {grid_id!r}: sequence {stored.sequence} after {version}"
                )
            event = stored.envelope().event
            if fold is None:
                fold = GridFold.start(event)
            else:
                fold.apply(event)
            version = stored.sequence
        if fold is None:
            raise EventHistoryInvalidError(f"grid {grid_id!r} has an empty history")
        snapshot = GridSnapshot(fold.freeze(), version)
        if subscription.ended is None:
            tail = [p.event for p in subscription.pending()]
            self._hub.cache.install(grid_id, fold, version, tail)
        return snapshot
