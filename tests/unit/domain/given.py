"""Builders for given-when-then domain tests: histories of events, written tersely."""

from __future__ import annotations

from domain import (
    Direction,
    Grid,
    GridCreated,
    GridEvent,
    GridId,
    Position,
    RoverCreated,
    RoverId,
    Topology,
)

__all__ = ["GRID", "created", "given", "landed", "rid"]

GRID = GridId("g-1")


def rid(value: str) -> RoverId:
    """A rover id from a literal."""
    return RoverId(value)


def created(
    width: int = 5,
    height: int = 5,
    topology: Topology = Topology.BOUNDED,
    obstacles: tuple[tuple[int, int], ...] = (),
) -> GridCreated:
    """GridCreated for the test grid."""
    return GridCreated(
        grid_id=GRID,
        width=width,
        height=height,
        topology=topology,
        obstacles=frozenset(Position(x, y) for x, y in obstacles),
    )


def landed(rover: str, x: int, y: int, facing: str) -> RoverCreated:
    """RoverCreated on the test grid."""
    return RoverCreated(
        grid_id=GRID, rover_id=RoverId(rover), position=Position(x, y), facing=Direction(facing)
    )


def given(*events: GridEvent) -> Grid:
    """A grid loaded from these events, with no pending changes."""
    return Grid.from_events(events)
