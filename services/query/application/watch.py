"""Wake read-your-writes waiters when the local projector commits a grid's new version."""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["VersionWatch"]


class VersionWatch:
    """In-process signal of projected versions: waiters sleep until their grid moves on.

    Only a hint: waiters re-read the read model (the single source of truth) after every
    wake-up and also on a poll interval, so a projector in another process works as well.
    """

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def published(self, grid_ids: set[str] | list[str]) -> None:
        """Grids whose version changed in a commit."""
        for grid_id in grid_ids:
            event = self._events.pop(grid_id, None)
            if event is not None:
                event.set()

    def reset(self) -> None:
        """Wake every waiter (e.g. after a generation swap)."""
        events, self._events = self._events, {}
        for event in events.values():
            event.set()

    def waiter(self, grid_id: str) -> asyncio.Event:
        """An event set at the next publication of ``grid_id``: take it BEFORE reading."""
        event = self._events.get(grid_id)
        if event is None:
            event = self._events[grid_id] = asyncio.Event()
        return event

    @staticmethod
    async def wait(event: asyncio.Event, seconds: float) -> None:
        """Return when ``event`` is set or after ``seconds``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)
