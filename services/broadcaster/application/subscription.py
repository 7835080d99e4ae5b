"""One watcher's subscription: a bounded queue of the updates of one grid, and its idle clock.

The hub (hub.py) fills subscriptions; a watcher (watch.py) drains its own with ``poll`` and
``get``. An overflowing subscription ends at once and drops what it holds, so a slow watcher's
memory is bounded by the queue size and it never delays the others.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from domain.values import GridId
from services.broadcaster.application.ports import FeedEvent

__all__ = ["EndReason", "Published", "Subscription", "SubscriptionEndedError"]

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
        self._beat_due = False  # an update is on its way: a heartbeat that fell due is moot
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
            try:
                await waiter
            finally:
                if self._waiter is waiter:  # cancelled: the reader no longer waits
                    self._waiter = None
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
