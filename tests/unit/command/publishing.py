"""Scripted publication fakes: an integration log that holds, fails or loses appends per grid,
and a checkpoint store that checks, at every save, that the position covers only published
events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from services.command.adapters.memory import (
    InMemoryCheckpointStore,
    InMemoryEventStore,
    InMemoryIntegrationLog,
)
from services.command.application.errors import StoreUnavailableError
from services.command.application.publisher import Publisher
from services.common.envelope import Envelope, integration_event_id


@dataclass
class Call:
    """One append that added events, as the log saw it."""

    grid_id: str
    sequences: list[int]
    concurrent_grids: int  # grids with an append in flight when this one started


class ScriptedIntegrationLog(InMemoryIntegrationLog):
    """``gates[grid]`` holds a grid's appends until set; ``failures[grid]`` appends fail first;
    ``lost_replies[grid]`` appends are stored and then reported as failed (a lost reply)."""

    def __init__(self) -> None:
        super().__init__()
        self.gates: dict[str, asyncio.Event] = {}
        self.failures: dict[str, int] = {}
        self.lost_replies: dict[str, int] = {}
        self.in_flight: dict[str, int] = {}
        self.calls: list[Call] = []
        self.most_in_flight = 0  # the most grids appending at once
        self.most_per_grid = 0  # the most appends of one grid at once (must stay 1)
        self._changed = asyncio.Condition()

    def busy_grids(self) -> int:
        return sum(1 for count in self.in_flight.values() if count)

    async def until(self, predicate: Callable[[], bool]) -> None:
        async with self._changed:
            await self._changed.wait_for(predicate)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def append(self, grid_id: str, envelopes: Sequence[Envelope]) -> None:
        self.in_flight[grid_id] = self.in_flight.get(grid_id, 0) + 1
        self.most_per_grid = max(self.most_per_grid, self.in_flight[grid_id])
        self.most_in_flight = max(self.most_in_flight, self.busy_grids())
        call = Call(grid_id, [e.sequence for e in envelopes], self.busy_grids())
        await self._notify()
        try:
            gate = self.gates.get(grid_id)
            if gate is not None:
                await gate.wait()
            if self.failures.get(grid_id, 0):
                self.failures[grid_id] -= 1
                raise StoreUnavailableError("scripted failure")
            before = len(self.streams.get(grid_id, []))
            await super().append(grid_id, envelopes)
            if len(self.streams[grid_id]) > before:  # not an idempotent re-send
                self.calls.append(call)
            if self.lost_replies.get(grid_id, 0):
                self.lost_replies[grid_id] -= 1
                raise StoreUnavailableError("scripted lost reply")
        finally:
            self.in_flight[grid_id] -= 1
            await self._notify()


class CheckedCheckpoints(InMemoryCheckpointStore):
    """Asserts at each save that every stored event up to the position is published."""

    def __init__(self, store: InMemoryEventStore, log: InMemoryIntegrationLog) -> None:
        super().__init__()
        self._store = store
        self._log = log
        self.history: list[int] = []
        self._changed = asyncio.Condition()

    async def save(self, position: int) -> None:
        published = {e.event_id for stream in self._log.streams.values() for e in stream}
        for stored in self._store.all_events()[:position]:  # in-memory positions: 1, 2, 3 ...
            assert integration_event_id(stored.event_id) in published, (
                f"checkpoint {position} passes unpublished position {stored.position}"
            )
        await super().save(position)
        self.history.append(position)
        async with self._changed:
            self._changed.notify_all()

    async def until(self, position: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.position == position)


@contextlib.asynccontextmanager
async def running(publisher: Publisher) -> AsyncIterator[asyncio.Task[None]]:
    """The publisher's ``run`` as a task, cancelled on exit (a stop, or a crash if it raised)."""
    task = asyncio.create_task(publisher.run())
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
