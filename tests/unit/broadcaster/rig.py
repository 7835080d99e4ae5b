"""A hub fed by an in-memory log and a WatchGrid over both: the broadcaster's unit test rig."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from services.broadcaster.adapters.memory import InMemoryIntegrationLog
from services.broadcaster.application.cache import GridCache
from services.broadcaster.application.hub import Hub
from services.broadcaster.application.ports import FeedEvent
from services.broadcaster.application.subscription import Published
from services.broadcaster.application.watch import Snapshot, Update, WatchGrid
from tests.unit.broadcaster.scripts import GridScript

__all__ = ["Rig", "Watch", "next_update", "sequences"]

Watch = AsyncGenerator[Update[int], None]


class Rig:
    """A hub fed by an in-memory log, and a WatchGrid over both."""

    def __init__(self, *, queue_size: int = 64, heartbeat: float | None = None) -> None:
        self.log = InMemoryIntegrationLog()
        self.encoded = 0
        self.hub: Hub[int] = Hub(self._encode, queue_size=queue_size, cache=GridCache(16))
        self.watch = WatchGrid(self.hub, self.log, heartbeat_seconds=heartbeat)
        self._pump: asyncio.Task[None] | None = None

    def _encode(self, event: FeedEvent) -> int:
        self.encoded += 1
        return event.sequence

    async def __aenter__(self) -> Rig:
        self._pump = asyncio.create_task(self.hub.pump(self.log))
        await self.hub.wait_live()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._pump is not None
        self._pump.cancel()
        await asyncio.gather(self._pump, return_exceptions=True)

    def append(self, script: GridScript, commands: int = 1) -> None:
        for _ in range(commands):
            for envelope in script.next():
                self.log.append(envelope)

    async def settle(self) -> None:
        """Let the feed deliver everything appended so far."""
        for _ in range(10_000):
            if not self.log.feed_backlog:
                break
            await asyncio.sleep(0)
        await asyncio.sleep(0)


async def next_update(watch: Watch) -> Update[int]:
    return await anext(watch)


async def sequences(watch: Watch, until: int) -> list[int]:
    got: list[int] = []
    async for update in watch:
        assert isinstance(update, Published | Snapshot), update
        got.append(update.sequence)
        if update.sequence >= until:
            break
    return got
