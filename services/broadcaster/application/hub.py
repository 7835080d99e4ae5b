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
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from domain.values import GridId
from services.broadcaster.application.cache import GridCache
from services.broadcaster.application.ports import FeedEvent, IntegrationFeed

__all__ = [
    "EndReason",
    "Hub",
    "HubClosedError",
    "Published",
    "Subscription",
    "SubscriptionEndedError",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Published(Generic[T]):
    """One event as watchers receive it: the stored event and its encoded form."""

    sequence: int
    event: FeedEvent
    payload: T


class EndReason(enum.Enum):
    """Why a subscription stopped receiving updates."""

    OVERFLOW = "overflow"  # the watcher fell behind: its queue was full
    CLOSED = "closed"  # the hub is shutting down


class HubClosedError(Exception):
    """The hub is shutting down and takes no new watchers."""


class SubscriptionEndedError(Exception):
    """Raised by ``Subscription.get`` once the subscription has ended."""

    def __init__(self, reason: EndReason) -> None:
        super().__init__(f"subscription ended: {reason.value}")
        self.reason = reason


class Subscription(Generic[T]):
    """One watcher's bounded queue of the updates of one grid, and its idle clock.

    The reader waits on a bare future that ``offer`` completes. The heartbeat needs no timer
    per wait: one lazy timer per subscription fires at most once per ``heartbeat_seconds``,
    and only when the reader has been waiting that long does ``get`` return None.
    """

    __slots__ = (
        "_beat_due",
        "_capacity",
        "_ended",
        "_heartbeat",
        "_idle_since",
        "_items",
        "_loop",
        "_timer",
        "_waiter",
        "grid_id",
    )

    def __init__(
        self, grid_id: GridId, capacity: int, heartbeat_seconds: float | None = None
    ) -> None:
        self.grid_id = grid_id
        self._capacity = capacity
        self._items: deque[Published[T]] = deque()
        self._ended: EndReason | None = None
        self._loop = asyncio.get_running_loop()
        self._waiter: asyncio.Future[None] | None = None
        self._heartbeat = heartbeat_seconds
        self._timer: asyncio.TimerHandle | None = None
        self._idle_since = 0.0
        self._beat_due = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def ended(self) -> EndReason | None:
        """Why the subscription ended, or None while it is active."""
        return self._ended

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def offer(self, item: Published[T]) -> bool:
        """Queue ``item``; False (and the subscription ends) if the queue was full."""
        if self._ended is not None:
            return False
        if len(self._items) >= self._capacity:
            self.end(EndReason.OVERFLOW)
            return False
        self._items.append(item)
        self._wake()
        return True

    def end(self, reason: EndReason) -> None:
        """Stop the subscription and drop what it holds; the reader learns it on its next get."""
        if self._ended is None:
            self._ended = reason
            self._items.clear()
            self.release()
            self._wake()

    def release(self) -> None:
        """Stop the idle clock (the reader is gone); idempotent."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def discard_through(self, sequence: int) -> None:
        """Drop queued updates the reader already has (sequence <= ``sequence``)."""
        items = self._items
        while items and items[0].sequence <= sequence:
            items.popleft()

    def pending(self) -> Iterator[Published[T]]:
        """The queued updates, oldest first, without taking them."""
        return iter(tuple(self._items))

    def poll(self) -> Published[T] | None:
        """The oldest update if one is queued and the subscription is active, else None.

        The fast path of a busy reader: no coroutine, no wait (``get`` reports the end).
        """
        if self._items and self._ended is None:
            return self._items.popleft()
        return None

    async def get(self) -> Published[T] | None:
        """The oldest update; None once the reader has waited ``heartbeat_seconds`` for one.

        SubscriptionEndedError once the subscription has ended (queued updates are dropped
        then: an ended watcher resumes from the store).
        """
        while not self._items:
            if self._ended is not None:
                raise SubscriptionEndedError(self._ended)
            if self._beat_due:
                self._beat_due = False
                return None
            self._idle_since = self._loop.time()
            if self._heartbeat is not None and self._timer is None:
                self._timer = self._loop.call_at(self._idle_since + self._heartbeat, self._tick)
            waiter = self._loop.create_future()
            self._waiter = waiter
            await waiter
        if self._ended is not None:
            raise SubscriptionEndedError(self._ended)
        return self._items.popleft()

    def _tick(self) -> None:
        # The idle clock: a heartbeat is due when the reader has waited a whole interval.
        self._timer = None
        heartbeat = self._heartbeat
        if self._ended is not None or heartbeat is None:
            return
        now = self._loop.time()
        if self._waiter is None or self._items:
            self._timer = self._loop.call_at(now + heartbeat, self._tick)  # busy: look later
            return
        due = self._idle_since + heartbeat
        if now < due:
            self._timer = self._loop.call_at(due, self._tick)
            return
        self._beat_due = True  # get re-arms the clock when it waits again
        self._wake()


class Hub(Generic[T]):
    """Fans one integration feed out to the watchers of each grid, and keeps the grid cache."""

    def __init__(
        self,
        encode: Callable[[FeedEvent], T],
        *,
        queue_size: int,
        cache: GridCache | None = None,
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

    # --- the feed side ---------------------------------------------------------------------

    async def pump(self, feed: IntegrationFeed) -> None:
        """Feed the hub from ``feed`` until cancelled."""
        await feed.run(self.publish, self.set_live, self.set_down)

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
        self.cache.apply(event)
        watchers = self._watchers.get(event.grid_id)
        if not watchers:
            return
        item = self.wrap(event)
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
