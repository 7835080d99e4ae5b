"""Ports of the broadcaster (what the application needs from the outside) and their errors.

``StoreUnavailableError`` is the one in ``services.common.store_errors``, re-exported here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Protocol

from domain.values import GridId
from services.common.envelope import Envelope
from services.common.parked import PoisonEvent
from services.common.store_errors import StoreUnavailableError

__all__ = [
    "FeedEvent",
    "GridHistory",
    "IntegrationFeed",
    "StoreUnavailableError",
    "UntrustedEventError",
]


class UntrustedEventError(Exception):
    """A grid's history holds an integration event our publisher did not write (a forgery);
    it is parked and not delivered, so the grid cannot be watched past it."""

    def __init__(self, grid_id: str, sequence: int, reason: str) -> None:
        super().__init__(
            f"grid {grid_id!r} has an untrusted integration event at sequence {sequence} "
            f"({reason}); it is parked until an operator resolves it"
        )
        self.grid_id = grid_id
        self.sequence = sequence


class FeedEvent(Protocol):
    """One stored integration event as the hub carries it: opaque, but for the fields it reads.

    The adapters keep the stored bytes (the encoder wraps them as they are); the domain
    envelope is decoded only on demand, where state is folded (the grid cache, a snapshot).
    """

    @property
    def grid_id(self) -> GridId:
        """The grid the event belongs to."""
        ...

    @property
    def sequence(self) -> int:
        """The grid's version after the event."""
        ...

    def envelope(self) -> Envelope:
        """The event as a domain envelope (ValueError if the stored event is malformed)."""
        ...


class IntegrationFeed(Protocol):
    """Every integration event of every grid, from "now" on, in store order.

    ``run`` subscribes, calls ``on_live`` once the subscription is in place (every event
    stored from then on will reach ``on_event``), then calls ``on_event`` for each event until
    cancelled. It reconnects by itself after a dropped connection, resuming where it left off,
    so the events of one grid always arrive in sequence order (a duplicate is possible after a
    reconnect; a gap never is). It calls ``on_down`` when the subscription is lost (or cannot
    be made) and ``on_live`` again once it is back. An event it cannot decode goes to
    ``on_poison`` instead of ``on_event`` (the hub parks it), and the feed goes on.
    """

    async def run(
        self,
        on_event: Callable[[FeedEvent], None],
        on_live: Callable[[], None],
        on_down: Callable[[], None],
        on_poison: Callable[[PoisonEvent], None],
    ) -> None: ...


class GridHistory(Protocol):
    """The stored integration events of one grid (the store, not the feed, is the truth)."""

    def events(self, grid_id: GridId, *, after: int) -> AsyncIterator[FeedEvent]:
        """The grid's events with sequence > ``after``, in order; GridNotFoundError if none."""
        ...

    async def last_sequence(self, grid_id: GridId) -> int:
        """The grid's current version; GridNotFoundError for a grid that does not exist."""
        ...
