"""GridFold: the fold of ``evolve`` done in place, for replays and the aggregate's working state."""

from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType
from typing import assert_never

from domain.errors import EventHistoryInvalidError
from domain.events import (
    GridCreated,
    GridEvent,
    RoverBlocked,
    RoverCreated,
    RoverMovedBackward,
    RoverMovedForward,
    RoverTurnedLeft,
    RoverTurnedRight,
)
from domain.state import GridState, RoverState, evolve
from domain.values import Direction, Position, RoverId

__all__ = ["GridFold", "replay"]

# What this saves: ``evolve`` copies the rover maps on every event (O(rovers) each); this updates
# two flat dicts in place and allocates nothing per move. It must stay equal to ``evolve``:
# tests/unit/domain/test_fast_fold.py checks every event type, and a property test whole games.


def _broken(message: str) -> EventHistoryInvalidError:
    return EventHistoryInvalidError(message)


class GridFold:
    """A mutable fold of one grid's events, frozen into a GridState on demand.

    The aggregate keeps one as its working state, so that its rule checks are plain dict
    lookups; ``replay`` uses one to rebuild a state from a long history.
    """

    __slots__ = (
        "facings",
        "grid_id",
        "height",
        "obstacles",
        "occupancy",
        "positions",
        "topology",
        "width",
    )

    def __init__(self, state: GridState) -> None:
        self.grid_id = state.grid_id
        self.width = state.width
        self.height = state.height
        self.topology = state.topology
        self.obstacles = state.obstacles
        # Two flat maps rather than RoverState objects: a move then allocates nothing.
        self.positions: dict[RoverId, Position] = {
            r.rover_id: r.position for r in state.rovers.values()
        }
        self.facings: dict[RoverId, Direction] = {
            r.rover_id: r.facing for r in state.rovers.values()
        }
        self.occupancy: dict[Position, RoverId] = dict(state.occupancy)

    @classmethod
    def start(cls, event: GridEvent) -> GridFold:
        """A fold beginning with the grid's first event, which must be GridCreated."""
        return cls(evolve(None, event))

    def apply(self, event: GridEvent) -> None:
        """Fold one event in place: what ``evolve`` returns, without the copies."""
        match event:
            case RoverMovedForward() | RoverMovedBackward():
                self._move(event.rover_id, event.to_position)
                self.facings[event.rover_id] = event.facing
            case RoverTurnedLeft() | RoverTurnedRight():
                if event.rover_id not in self.facings:
                    raise _broken(f"event for rover {event.rover_id!r} before it was created")
                self.facings[event.rover_id] = event.to_facing
            case RoverBlocked():
                if event.rover_id not in self.facings:
                    raise _broken(f"event for rover {event.rover_id!r} before it was created")
            case RoverCreated(rover_id=rover_id, position=position):
                if rover_id in self.positions or position in self.occupancy:
                    raise _broken(f"rover {rover_id!r} created over an existing rover or id")
                self.positions[rover_id] = position
                self.facings[rover_id] = event.facing
                self.occupancy[position] = rover_id
            case GridCreated():
                raise _broken(f"grid {self.grid_id!r} was created twice")
            case _:
                assert_never(event)

    def _move(self, rover_id: RoverId, to: Position) -> None:
        try:
            old = self.positions[rover_id]
        except KeyError:
            raise _broken(f"event for rover {rover_id!r} before it was created") from None
        if old != to:
            del self.occupancy[old]
            self.occupancy[to] = rover_id
            self.positions[rover_id] = to

    def freeze(self) -> GridState:
        """An immutable copy of the current state."""
        facings = self.facings
        rovers = {rid: RoverState(rid, pos, facings[rid]) for rid, pos in self.positions.items()}
        return GridState(
            self.grid_id,
            self.width,
            self.height,
            self.topology,
            self.obstacles,
            MappingProxyType(rovers),
            MappingProxyType(dict(self.occupancy)),
        )


def replay(events: Iterable[GridEvent], start: GridState | None = None) -> GridState:
    """Fold ``events`` onto ``start`` (or from nothing), fast; equal to a reduce of ``evolve``."""
    iterator = iter(events)
    if start is None:
        first = next(iterator, None)
        if first is None:
            raise _broken("a grid's history cannot be empty")
        fold = GridFold.start(first)
    else:
        fold = GridFold(start)
    apply = fold.apply
    for event in iterator:
        apply(event)
    return fold.freeze()
