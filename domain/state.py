"""Grid state: what an event means for its rover (``rover_after``) and the pure ``evolve``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import assert_never

from domain.errors import EventHistoryInvalidError, RoverNotFoundError
from domain.events import (
    GridCreated,
    GridEvent,
    RoverBlocked,
    RoverCreated,
    RoverEvent,
    RoverMovedBackward,
    RoverMovedForward,
    RoverTurnedLeft,
    RoverTurnedRight,
)
from domain.values import Direction, GridId, Position, RoverId, Topology

__all__ = ["GridState", "RoverState", "evolve", "rover_after"]


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


def rover_after(event: RoverEvent) -> RoverState:
    """The rover an event concerns, as it stands right after the event.

    The one definition of what an event means for its rover: the folds, the projection and
    the wire tables derive from it or are tested equal to it for every event type.
    """
    match event:
        case RoverCreated():
            return RoverState(event.rover_id, event.position, event.facing)
        case RoverMovedForward() | RoverMovedBackward():
            return RoverState(event.rover_id, event.to_position, event.facing)
        case RoverTurnedLeft() | RoverTurnedRight():
            return RoverState(event.rover_id, event.position, event.to_facing)
        case RoverBlocked():
            return RoverState(event.rover_id, event.position, event.facing)
        case _:
            assert_never(event)


def _with_rovers(
    state: GridState, rovers: dict[RoverId, RoverState], occupancy: dict[Position, RoverId]
) -> GridState:
    return GridState(
        state.grid_id,
        state.width,
        state.height,
        state.topology,
        state.obstacles,
        MappingProxyType(rovers),
        MappingProxyType(occupancy),
    )


def _landed(state: GridState, rover: RoverState) -> GridState:
    if rover.rover_id in state.rovers or rover.position in state.occupancy:
        raise _broken(f"rover {rover.rover_id!r} created over an existing rover or id")
    return _with_rovers(
        state,
        {**state.rovers, rover.rover_id: rover},
        {**state.occupancy, rover.position: rover.rover_id},
    )


def _placed(state: GridState, rover: RoverState) -> GridState:
    old = state.rovers.get(rover.rover_id)
    if old is None:
        raise _broken(f"event for rover {rover.rover_id!r} before it was created")
    if old == rover:
        return state  # a block, or a move onto the same cell of a one-cell torus facing the same
    occupancy = dict(state.occupancy)
    if old.position != rover.position:
        del occupancy[old.position]
        occupancy[rover.position] = rover.rover_id
    return _with_rovers(state, {**state.rovers, rover.rover_id: rover}, occupancy)


def evolve(state: GridState | None, event: GridEvent) -> GridState:
    """The state after ``event``: the reference definition of every transition.

    Pure and copy-on-write, which costs O(rovers) per event; replays and the aggregate use
    ``domain.fast_fold.GridFold`` instead, which tests keep equal to this for every event type.
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
        case RoverCreated():
            return _landed(state, rover_after(event))
        case (
            RoverMovedForward()
            | RoverMovedBackward()
            | RoverTurnedLeft()
            | RoverTurnedRight()
            | RoverBlocked()
        ):
            # A block leaves the rover where it was: it is recorded so readers learn why it stopped.
            return _placed(state, rover_after(event))
        case _:
            assert_never(event)
