"""Parking a consumer's poison event once, and saying so once: what every consumer that
holds a grid at a poison event does (the projector, the publisher)."""

from __future__ import annotations

import time

from services.common.logs import get_logger
from services.common.parked import ParkedEvent, ParkedEvents, PoisonEvent, parked_fields

__all__ = ["Holds"]

_log = get_logger(__name__)


class Holds:
    """Parks a consumer's poison events, logging each new one once as an error."""

    def __init__(self, parked: ParkedEvents, consumer: str) -> None:
        self.parked = parked
        self.consumer = consumer

    async def hold(self, poison: PoisonEvent) -> int:
        """Park ``poison`` (once) and return the sequence its grid is held before."""
        record = ParkedEvent.of(self.consumer, poison, int(time.time() * 1000))
        if await self.parked.park(record):
            _log.error(
                "event parked; its grid is held until it is replayed", **parked_fields(record)
            )
        else:
            _log.info(
                "grid held at an event parked before",
                parked_id=record.parked_id,
                grid_id=poison.grid_id,
                sequence=poison.sequence,
            )
        return poison.sequence
