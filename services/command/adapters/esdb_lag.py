"""How far the publisher is behind the store: grid-* events of $all after its position.

Measured on an interval by the instance holding the publisher's lease (a standby measures
nothing: ``latest`` is None and its lag gauges are absent). Two short reads of $all filtered
to ``grid-*``: the newest event backwards (limit 1), and only when it is past the position,
the events after it forwards, counted up to a cap.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from esdbclient import AsyncEventStoreDBClient

from services.command.adapters.esdb_errors import translated
from services.command.application.publisher import Publisher
from services.common.esdb_positions import count_after, newest
from services.common.esdb_reads import whole_read

__all__ = ["EsdbPublisherLag"]

_GRID_FILTER = (r"grid-.*",)


@dataclass(frozen=True, slots=True)
class PublisherLag:
    """Domain events stored but not yet published, and how long the oldest has waited."""

    events: int
    seconds: float
    capped: bool  # at least ``events`` behind (counting stopped at the cap)


class EsdbPublisherLag:
    """Measures the publisher's lag every ``interval`` seconds while this instance publishes."""

    def __init__(
        self,
        client: AsyncEventStoreDBClient,
        publisher: Publisher,
        *,
        interval: float = 2.0,
        cap: int = 1_000,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._publisher = publisher
        self._interval = interval
        self._cap = cap
        self._now = now
        self.latest: PublisherLag | None = None

    async def run(self) -> None:
        """Measure until cancelled (the bootstrap supervises it)."""
        while True:
            if self._publisher.active:  # position None: nothing published yet
                self.latest = await self.measure(self._publisher.position)
            else:
                self.latest = None
            await asyncio.sleep(self._interval)

    async def measure(self, position: int | None) -> PublisherLag:
        """The lag of a publisher that has published everything up to ``position`` (None:
        nothing yet, so every domain event counts)."""
        client, cap = self._client, self._cap
        with translated("$all"):
            head = await whole_read(client, lambda: newest(client, _GRID_FILTER))
            if head is None or head[0] <= (-1 if position is None else position):
                return PublisherLag(0, 0.0, capped=False)
            count, oldest_ms = await whole_read(
                client, lambda: count_after(client, _GRID_FILTER, position, cap)
            )
        oldest = oldest_ms / 1000
        waited = max(0.0, self._now() - oldest) if count and oldest else 0.0
        return PublisherLag(count, waited, capped=count >= self._cap)
