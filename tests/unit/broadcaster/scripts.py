"""Realistic integration events for tests: a grid driven by random commands through the domain."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime

from domain import Direction, Grid, GridEvent, Position, RoverId, Topology
from domain.values import GridId
from services.common.envelope import Envelope

__all__ = ["GridScript"]


class GridScript:
    """One grid's history, one command at a time, as enveloped integration events."""

    def __init__(self, grid_id: str, *, rovers: int = 3, seed: int = 0) -> None:
        self.grid_id = GridId(grid_id)
        self._random = random.Random(f"{grid_id}/{seed}")
        self._grid = Grid.create(grid_id, 8, 8, Topology.TOROIDAL, [Position(7, 7)])
        self._rovers = [RoverId(f"r{i}") for i in range(rovers)]
        self._landed = 0
        self.version = 0
        self.history: list[Envelope] = []

    def next(self) -> list[Envelope]:
        """The events of the next command (the first call creates the grid)."""
        if self.version > 0:
            if self._landed < len(self._rovers):
                rover = self._rovers[self._landed]
                self._grid.create_rover(rover, Position(self._landed, 0), Direction.N)
                self._landed += 1
            else:
                rover = self._random.choice(self._rovers)
                self._grid.execute(rover, "".join(self._random.choices("FFBLR", k=2)))
        envelopes = [self._envelope(event) for event in self._grid.clear_changes()]
        self.history.extend(envelopes)
        return envelopes

    def bump(self, length: int = 1_000) -> list[Envelope]:
        """A rover that runs into the obstacle at once: one ~1 KB RoverBlocked event.

        Large events fill a stalled client's HTTP/2 window quickly (slow-watcher tests).
        """
        if self.version == 0:
            return self.next()
        bumper = RoverId("bumper")
        if bumper not in self._grid.state.rovers:
            self._grid.create_rover(bumper, Position(7, 6), Direction.N)
        else:
            self._grid.execute(bumper, "F" * length)
        envelopes = [self._envelope(event) for event in self._grid.clear_changes()]
        self.history.extend(envelopes)
        return envelopes

    def _envelope(self, event: GridEvent) -> Envelope:
        self.version += 1
        return Envelope(
            event_id=uuid.uuid4(),
            grid_id=self.grid_id,
            sequence=self.version,
            occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
            event=event,
        )
