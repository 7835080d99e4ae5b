"""Domain events of a grid: immutable facts in the past tense, payload only (no time, no ids)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from domain.values import BlockedBy, Direction, GridId, Position, RoverId, Topology

__all__ = [
    "GridCreated",
    "GridEvent",
    "RoverBlocked",
    "RoverCreated",
    "RoverEvent",
    "RoverMovedBackward",
    "RoverMovedForward",
    "RoverTurnedLeft",
    "RoverTurnedRight",
]

# Each event carries enough for a consumer to act without replaying the stream: moves carry
# both ends, turns both facings, and every rover event its grid. The envelope (event id,
# sequence, timestamp) belongs to the application, which stamps it when storing.


@dataclass(frozen=True, slots=True, kw_only=True)
class GridCreated:
    """A grid of width x height cells came into being with its fixed obstacles."""

    grid_id: GridId
    width: int
    height: int
    topology: Topology
    obstacles: frozenset[Position]


@dataclass(frozen=True, slots=True, kw_only=True)
class RoverCreated:
    """A rover landed on a free cell."""

    grid_id: GridId
    rover_id: RoverId
    position: Position
    facing: Direction


@dataclass(frozen=True, slots=True, kw_only=True)
class RoverMovedForward:
    """A rover moved one cell along its facing (wrapping on a toroidal grid)."""

    grid_id: GridId
    rover_id: RoverId
    from_position: Position
    to_position: Position
    facing: Direction


@dataclass(frozen=True, slots=True, kw_only=True)
class RoverMovedBackward:
    """A rover moved one cell against its facing (wrapping on a toroidal grid)."""

    grid_id: GridId
    rover_id: RoverId
    from_position: Position
    to_position: Position
    facing: Direction


@dataclass(frozen=True, slots=True, kw_only=True)
class RoverTurnedLeft:
    """A rover turned 90 degrees counter-clockwise where it stands."""

    grid_id: GridId
    rover_id: RoverId
    position: Position
    from_facing: Direction
    to_facing: Direction


@dataclass(frozen=True, slots=True, kw_only=True)
class RoverTurnedRight:
    """A rover turned 90 degrees clockwise where it stands."""

    grid_id: GridId
    rover_id: RoverId
    position: Position
    from_facing: Direction
    to_facing: Direction


@dataclass(frozen=True, slots=True, kw_only=True)
class RoverBlocked:
    """A move did not happen: the rover stays at ``position`` and the sequence stops.

    ``target`` is the cell it tried to enter (outside the grid when ``blocked_by`` is EDGE);
    ``blocking_rover_id`` is set exactly when ``blocked_by`` is ROVER. ``unexecuted_commands``
    starts with the blocked move itself, normalised to upper case (``"FFRB"``).
    """

    grid_id: GridId
    rover_id: RoverId
    position: Position
    facing: Direction
    target: Position
    blocked_by: BlockedBy
    blocking_rover_id: RoverId | None = None
    unexecuted_commands: str


RoverEvent: TypeAlias = (
    RoverCreated
    | RoverMovedForward
    | RoverMovedBackward
    | RoverTurnedLeft
    | RoverTurnedRight
    | RoverBlocked
)
"""Every event that concerns one rover; each carries the rover's position and facing after it."""

GridEvent: TypeAlias = GridCreated | RoverEvent
"""Every event of a grid's stream (``typing.get_args`` lists the seven classes)."""
