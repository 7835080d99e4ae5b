"""In-memory fakes of the broadcaster's ports, for unit tests and benchmarks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from domain.errors import GridNotFoundError
from domain.values import GridId
from services.broadcaster.adapters.wire import StoredIntegrationEvent
from services.broadcaster.application.ports import FeedEvent
from services.common.envelope import Envelope
from services.common.parked import PoisonEvent

__all__ = ["InMemoryIntegrationLog"]


class InMemoryIntegrationLog:
    """An integration event log that is both a GridHistory and an IntegrationFeed.

    ``append`` stores at once (history reads see it immediately) while feeds receive it
    through a queue, later, like a real subscription that lags the store a little. Tests use
    that lag to exercise the history-to-live handover.
    """

    def __init__(self) -> None:
        self._grids: dict[GridId, list[StoredIntegrationEvent]] = {}
        self._feeds: list[
            asyncio.Queue[StoredIntegrationEvent | None]
        ] = []  # None: see interrupt()

    def append(self, envelope: Envelope) -> None:
        """Store the grid's next event (its sequence must be the next one) and publish it.

        It is stored as the command side stores it: a serialized IntegrationEvent.
        """
        events = self._grids.setdefault(envelope.grid_id, [])
        if envelope.sequence != len(events) + 1:
            raise ValueError(
                f"grid {envelope.grid_id!r} is at {len(events)}; cannot append {envelope.sequence}"
            )
        stored = StoredIntegrationEvent.of(envelope)
        events.append(stored)
        for queue in self._feeds:
            queue.put_nowait(stored)

    def interrupt(self) -> None:
        """Drop the running feeds' subscriptions once: each calls ``on_down`` then ``on_live``.

        Like a real feed that reconnects and resumes where it left off, no event is lost:
        the events appended before and after the drop are delivered in order.
        """
        for queue in self._feeds:
            queue.put_nowait(None)

    @property
    def feed_backlog(self) -> int:
        """Events appended but not yet delivered to the running feeds."""
        return sum(q.qsize() for q in self._feeds)

    async def events(self, grid_id: GridId, *, after: int) -> AsyncIterator[FeedEvent]:
        """The grid's events with sequence > ``after``; GridNotFoundError for a new grid."""
        stored = self._grids.get(grid_id)
        if stored is None:
            raise GridNotFoundError(grid_id)
        # A copy of the list as it is now, like a read that ends at the stream's end.
        for event in stored[after:]:
            await asyncio.sleep(0)  # a real read yields to the loop between pages
            yield event

    async def last_sequence(self, grid_id: GridId) -> int:
        """The grid's current version; GridNotFoundError for a new grid."""
        stored = self._grids.get(grid_id)
        if stored is None:
            raise GridNotFoundError(grid_id)
        return len(stored)

    async def run(
        self,
        on_event: Callable[[FeedEvent], None],
        on_live: Callable[[], None],
        on_down: Callable[[], None],
        on_poison: Callable[[PoisonEvent], None],
    ) -> None:
        """Deliver every event appended from now on, until cancelled (down only when
        ``interrupt``ed); every event appended here decodes, so none goes to ``on_poison``."""
        queue: asyncio.Queue[StoredIntegrationEvent | None] = asyncio.Queue()
        self._feeds.append(queue)
        try:
            on_live()
            while True:
                event = await queue.get()
                if event is None:  # interrupt(): dropped, and back at once
                    on_down()
                    on_live()
                    continue
                on_event(event)
        finally:
            self._feeds.remove(queue)
