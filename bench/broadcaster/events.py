"""The benchmark's grids and their events: one rover per grid, then turns."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from domain import Direction, Grid, Position, RoverId, Topology
from services.common.envelope import Envelope

__all__ = ["Grids"]


class Grids:
    """``count`` grids with one rover each; every later event is a turn (exactly one event)."""

    def __init__(self, count: int) -> None:
        self.ids = [f"bench-{uuid.uuid4().hex[:8]}-{i}" for i in range(count)]
        self._grids = [Grid.create(g, 10, 10, Topology.BOUNDED) for g in self.ids]
        self.version = [0] * count

    def _envelopes(self, index: int) -> list[Envelope]:
        out = []
        for event in self._grids[index].clear_changes():
            self.version[index] += 1
            out.append(
                Envelope(
                    event_id=uuid.uuid4(),
                    grid_id=self._grids[index].id,
                    sequence=self.version[index],
                    occurred_at=datetime.now(UTC),
                    event=event,
                )
            )
        return out

    def start(self, index: int) -> list[Envelope]:
        """The grid's first two events: GridCreated and RoverCreated."""
        self._grids[index].create_rover(RoverId("r"), Position(5, 5), Direction.N)
        return self._envelopes(index)

    def turn(self, index: int) -> list[Envelope]:
        """The grid's next event: its rover turns left."""
        self._grids[index].turn_left(RoverId("r"))
        return self._envelopes(index)
