"""The hub: one integration feed fanned out to many watchers, each with a bounded queue.

``publish`` is synchronous and never waits for a watcher: it appends to each watcher's queue
of the event's grid and wakes it. A watcher whose queue is full is dropped on the spot (its
queue is emptied, so its memory is freed at once) and told so the next time it reads; it then
resumes from the store. A slow watcher therefore never delays the others, and the memory a
watcher holds is bounded by ``queue_size`` updates.

The payload of an update is opaque (``T``): the hub encodes an event once, with the function
it was given, however many watchers receive it (bootstrap passes the adapters' encoder, which
wraps the stored bytes into a GridUpdate). The hub reads only an event's grid id and sequence;
the cache alone decodes it into domain objects, for the grids it holds.

An event the feed cannot decode, or the cache cannot fold, is parked (``ParkedEvents``, as
the ``broadcaster``) by a task beside the feed, so that the feed never waits for it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Generic, TypeVar

from domain.values import GridId
from services.broadcaster.application.cache import GridCache
from services.broadcaster.application.ports import (
    FeedEvent,
    IntegrationFeed,
    StoreUnavailableError,
)
from services.broadcaster.application.subscription import EndReason, Published, Subscription
from services.common import tracing
from services.common.envelope import integration_stream
from services.common.logs import get_logger
from services.common.parked import (
    BROADCASTER,
    InMemoryParkedEvents,
    ParkedEvent,
    ParkedEvents,
    PoisonEvent,
    parked_fields,
)

__all__ = ["Hub", "HubClosedError"]

T = TypeVar("T")
_log = get_logger(__name__)
_MAX_UNPARKED = 10_000  # poison events waiting to be parked, at most


def _poison(event: FeedEvent, reason: str) -> PoisonEvent:
    """A decoded event the hub cannot use, as a parked record says it."""
    try:
        envelope = event.envelope()
        event_id, event_type = str(envelope.event_id), type(envelope.event).__name__
    except ValueError:
        event_id, event_type = "", ""
    stream = integration_stream(event.grid_id)
    return PoisonEvent(
        stream=stream,
        revision=event.sequence - 1,
        commit_position=0,
        event_id=event_id or f"{stream}@{event.sequence - 1}",
        event_type=event_type,
        grid_id=str(event.grid_id),
        reason=reason,
    )


class HubClosedError(Exception):
    """The hub is shutting down and takes no new watchers."""


class Hub(Generic[T]):
    """Fans one integration feed out to the watchers of each grid, and keeps the grid cache."""

    def __init__(
        self,
        encode: Callable[[FeedEvent], T],
        *,
        queue_size: int,
        cache: GridCache | None = None,
        parked: ParkedEvents | None = None,
        park_retry_seconds: float = 1.0,
    ) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, not {queue_size}")
        self._encode = encode
        self._queue_size = queue_size
        self.cache = cache if cache is not None else GridCache(capacity=0)
        self._watchers: dict[GridId, set[Subscription[T]]] = {}
        self._live = asyncio.Event()  # set once the feed has subscribed (it stays set)
        self._connected = False  # whether the feed is subscribed right now
        self._on_connected: list[Callable[[bool], None]] = []
        self._closed = False
        self.published = 0  # events received from the feed
        self.dropped = 0  # watchers dropped for falling behind
        self.parked = parked if parked is not None else InMemoryParkedEvents()
        self.parked_count = 0  # unresolved parked events of the broadcaster, as last counted
        self._poison: asyncio.Queue[PoisonEvent] = asyncio.Queue(_MAX_UNPARKED)
        self._park_retry = park_retry_seconds

    # --- the feed side ---------------------------------------------------------------------

    async def pump(self, feed: IntegrationFeed) -> None:
        """Feed the hub from ``feed`` until cancelled (parking its poison events meanwhile)."""
        parking = asyncio.create_task(self._park_poison(), name="hub-parking")
        try:
            await feed.run(self.publish, self.set_live, self.set_down, self.poisoned)
        finally:
            parking.cancel()
            await asyncio.gather(parking, return_exceptions=True)

    def poisoned(self, poison: PoisonEvent) -> None:
        """An event of the feed that cannot be decoded or folded: parked (in the background),
        its grid's cached state dropped. Its watchers see the gap at the grid's next event
        and re-read from the store, as on any gap."""
        if poison.grid_id:
            self.cache.forget(GridId(poison.grid_id))
        try:
            self._poison.put_nowait(poison)
        except asyncio.QueueFull:  # bounded memory while the store cannot take them
            _log.error("poison event not parked: too many waiting", **asdict(poison))

    async def _park_poison(self) -> None:
        while True:
            poison = await self._poison.get()
            record = ParkedEvent.of(BROADCASTER, poison, int(time.time() * 1000))
            while True:
                try:
                    if await self.parked.park(record):
                        _log.error("event parked; the feed goes on", **parked_fields(record))
                    break
                except StoreUnavailableError as error:
                    _log.warning("cannot park an event yet; retrying", error=str(error))
                    await asyncio.sleep(self._park_retry)

    async def count_parked(self) -> int:
        """Count the broadcaster's unresolved parked events again (``parked_count``)."""
        self.parked_count = await self.parked.count(BROADCASTER)
        return self.parked_count

    def set_live(self) -> None:
        """The feed is subscribed: watchers may start (their history reads come after it)."""
        self._live.set()
        self._set_connected(True)

    def set_down(self) -> None:
        """The feed lost its subscription and is reconnecting.

        Watchers keep their streams: the feed resumes where it left off, so nothing is missed.
        """
        self._set_connected(False)

    def on_connected(self, listener: Callable[[bool], None]) -> None:
        """Call ``listener(connected)`` whenever the feed connects or disconnects."""
        self._on_connected.append(listener)

    def _set_connected(self, connected: bool) -> None:
        if connected == self._connected:
            return
        self._connected = connected
        for listener in self._on_connected:
            listener(connected)

    def publish(self, event: FeedEvent) -> None:
        """Hand one event to the cache and to every watcher of its grid, without waiting."""
        self.published += 1
        unfolded = self.cache.apply(event)
        if unfolded is not None:
            self.poisoned(_poison(event, unfolded))
        watchers = self._watchers.get(event.grid_id)
        if not watchers:
            return
        tracing.annotate("rover.watchers", len(watchers))  # on the feed's span, if tracing
        try:
            item = self.wrap(event)
        except ValueError as error:  # it cannot be encoded: its watchers see a gap next
            self.poisoned(_poison(event, f"cannot be sent to watchers: {error}"))
            return
        overflowed = [w for w in watchers if not w.offer(item)]
        for watcher in overflowed:
            self.dropped += 1
            self.unsubscribe(watcher)

    def wrap(self, event: FeedEvent) -> Published[T]:
        """An event as watchers receive it (also used for events read from the store)."""
        return Published(event.sequence, event, self._encode(event))

    # --- the watcher side ------------------------------------------------------------------

    async def wait_live(self) -> None:
        """Return once the feed is subscribed; HubClosedError if the hub closes first."""
        if self._closed:
            raise HubClosedError("the broadcaster is shutting down")
        await self._live.wait()
        if self._closed:
            raise HubClosedError("the broadcaster is shutting down")

    def subscribe(
        self, grid_id: GridId, *, heartbeat_seconds: float | None = None
    ) -> Subscription[T]:
        """Start queueing the grid's events for a new watcher (HubClosedError when closed).

        With ``heartbeat_seconds``, ``get`` returns None whenever the watcher has waited that
        long without an update.
        """
        if self._closed:
            raise HubClosedError("the broadcaster is shutting down")
        subscription: Subscription[T] = Subscription(grid_id, self._queue_size, heartbeat_seconds)
        self._watchers.setdefault(grid_id, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription[T]) -> None:
        """Forget a watcher (idempotent); its queue and its idle clock are released with it."""
        subscription.release()
        watchers = self._watchers.get(subscription.grid_id)
        if watchers is None:
            return
        watchers.discard(subscription)
        if not watchers:
            del self._watchers[subscription.grid_id]

    def close(self) -> None:
        """Shut down: end every subscription (CLOSED) and refuse new ones."""
        self._closed = True
        self._live.set()  # wake anyone waiting for the feed, so that they see the closing
        for watchers in list(self._watchers.values()):
            for watcher in list(watchers):
                watcher.end(EndReason.CLOSED)
        self._watchers.clear()

    # --- observation -----------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return self._closed

    @property
    def connected(self) -> bool:
        """Whether the feed is subscribed right now."""
        return self._connected

    @property
    def watcher_count(self) -> int:
        """How many watchers are subscribed."""
        return sum(len(w) for w in self._watchers.values())

    def queue_sizes(self) -> list[int]:
        """The queue length of every subscribed watcher."""
        return [len(w) for ws in self._watchers.values() for w in ws]
