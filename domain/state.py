"""Grid state: the frozen GridState, the pure ``evolve`` fold and a fast mutable fold for replay."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import assert_never

from domain.errors import EventHistoryInvalidError, RoverNotFoundError
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
from domain.values import Direction, GridId, Position, RoverId, Topology

__all__ = ["GridFold", "GridState", "RoverState", "evolve", "replay"]


@dataclass(frozen=True, slots=True)
class RoverState:
    """Where a rover is and where it faces."""

    rover_id: RoverId
    position: Position
    facing: Direction


@dataclass(frozen=True, slots=True)
class GridState:
    """Everything the grid's rules need, rebuilt from its events.

    ``rovers`` keeps creation order; ``occupancy`` is the inverse index (cell -> rover) that
    makes a collision check one dict lookup. Both are read-only views.
    """

    grid_id: GridId
    width: int
    height: int
    topology: Topology
    obstacles: frozenset[Position]
    rovers: Mapping[RoverId, RoverState]
    occupancy: Mapping[Position, RoverId]

    def rover(self, rover_id: RoverId) -> RoverState:
        """The rover's state; RoverNotFoundError if the grid has no such rover."""
        found = self.rovers.get(rover_id)
        if found is None:
            raise RoverNotFoundError(self.grid_id, rover_id)
        return found

    def contains(self, position: Position) -> bool:
        """Whether the cell lies inside the grid."""
        return 0 <= position.x < self.width and 0 <= position.y < self.height


def _broken(message: str) -> EventHistoryInvalidError:
    return EventHistoryInvalidError(message)


def _moved(state: GridState, rover_id: RoverId, to: Position, facing: Direction) -> GridState:
    old = state.rovers.get(rover_id)
    if old is None:
        raise _broken(f"event for rover {rover_id!r} before it was created")
    rovers = dict(state.rovers)
    rovers[rover_id] = RoverState(rover_id, to, facing)
    occupancy = dict(state.occupancy)
    if old.position != to:
        del occupancy[old.position]
        occupancy[to] = rover_id
    return GridState(
        state.grid_id,
        state.width,
        state.height,
        state.topology,
        state.obstacles,
        MappingProxyType(rovers),
        MappingProxyType(occupancy),
    )


def evolve(state: GridState | None, event: GridEvent) -> GridState:
    """The state after ``event``: the reference definition of every transition.

    Pure and copy-on-write, which costs O(rovers) per event; replays use GridFold, and a
    property test keeps the two in agreement.
    """
    if state is None:
        if isinstance(event, GridCreated):
            return GridState(
                event.grid_id,
                event.width,
                event.height,
                event.topology,
                event.obstacles,
                MappingProxyType({}),
                MappingProxyType({}),
            )
        raise _broken(f"the first event must be GridCreated, not {type(event).__name__}")
    match event:
        case GridCreated():
            raise _broken(f"grid {state.grid_id!r} was created twice")
        case RoverCreated(rover_id=rover_id, position=position, facing=facing):
            if rover_id in state.rovers or position in state.occupancy:
                raise _broken(f"rover {rover_id!r} created over an existing rover or id")
            rovers = dict(state.rovers)
            rovers[rover_id] = RoverState(rover_id, position, facing)
            occupancy = dict(state.occupancy)
            occupancy[position] = rover_id
            return GridState(
                state.grid_id,
                state.width,
                state.height,
                state.topology,
                state.obstacles,
                MappingProxyType(rovers),
                MappingProxyType(occupancy),
            )
        case RoverMovedForward() | RoverMovedBackward():
            return _moved(state, event.rover_id, event.to_position, event.facing)
        case RoverTurnedLeft() | RoverTurnedRight():
            return _moved(state, event.rover_id, event.position, event.to_facing)
        case RoverBlocked():
            # A block changes nothing: it is recorded so that readers learn why a rover stopped.
            if event.rover_id not in state.rovers:
                raise _broken(f"event for rover {event.rover_id!r} before it was created")
            return state
        case _:
            assert_never(event)


class GridFold:
    """A mutable fold of one grid's events, frozen into a GridState on demand.

    Replaying a long history through ``evolve`` would copy the rover maps per event; this
    updates them in place. The aggregate also keeps one as its working state so that its rule
    checks are plain dict lookups.
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
        """Fold one event in place; the same transitions as ``evolve``."""
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
