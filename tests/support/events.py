"""One valid history ending in each kind of grid event, for tests that must cover every kind.

Tests parametrized with ``EVENT_TYPES`` (``typing.get_args(GridEvent)``) look their history up
here, so a new event type fails each of them until it has a history and is handled.
"""

from __future__ import annotations

import typing

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
from domain.values import BlockedBy, Direction, GridId, Position, RoverId, Topology

__all__ = ["EVENT_TYPES", "covered", "history", "sample", "samples"]

EVENT_TYPES: tuple[type[GridEvent], ...] = typing.get_args(GridEvent)

G, R1, R2 = GridId("g-1"), RoverId("r1"), RoverId("r2")
_N, _E, _W = Direction.N, Direction.E, Direction.W

_GRID = GridCreated(
    grid_id=G, width=5, height=5, topology=Topology.BOUNDED, obstacles=frozenset({Position(4, 4)})
)
_R2 = RoverCreated(grid_id=G, rover_id=R2, position=Position(2, 4), facing=Direction.S)
_R1 = RoverCreated(grid_id=G, rover_id=R1, position=Position(2, 2), facing=_N)
_UP = RoverMovedForward(
    grid_id=G, rover_id=R1, from_position=Position(2, 2), to_position=Position(2, 3), facing=_N
)
_LANDED: list[GridEvent] = [_GRID, _R2, _R1]

_HISTORIES: dict[type[GridEvent], list[GridEvent]] = {
    GridCreated: [_GRID],
    RoverCreated: _LANDED,
    RoverMovedForward: [*_LANDED, _UP],
    RoverMovedBackward: [
        *_LANDED,
        RoverMovedBackward(
            grid_id=G,
            rover_id=R1,
            from_position=Position(2, 2),
            to_position=Position(2, 1),
            facing=_N,
        ),
    ],
    RoverTurnedLeft: [
        *_LANDED,
        RoverTurnedLeft(
            grid_id=G, rover_id=R1, position=Position(2, 2), from_facing=_N, to_facing=_W
        ),
    ],
    RoverTurnedRight: [
        *_LANDED,
        RoverTurnedRight(
            grid_id=G, rover_id=R1, position=Position(2, 2), from_facing=_N, to_facing=_E
        ),
    ],
    RoverBlocked: [
        *_LANDED,
        _UP,
        RoverBlocked(
            grid_id=G,
            rover_id=R1,
            position=Position(2, 3),
            facing=_N,
            target=Position(2, 4),
            blocked_by=BlockedBy.ROVER,
            blocking_rover_id=R2,
            unexecuted_commands="FL",
        ),
    ],
}

# Further shapes of a kind, where a field is optional or takes another branch.
_MORE: list[GridEvent] = [
    RoverBlocked(
        grid_id=G,
        rover_id=R1,
        position=Position(2, 2),
        facing=_W,
        target=Position(1, 2),
        blocked_by=BlockedBy.OBSTACLE,
        unexecuted_commands="F",
    ),
    GridCreated(grid_id=G, width=1, height=3, topology=Topology.TOROIDAL, obstacles=frozenset()),
]


def history(event_type: type[GridEvent]) -> list[GridEvent]:
    """A valid history whose last event is an ``event_type`` (KeyError for a kind not here)."""
    return list(_HISTORIES[event_type])


def sample(event_type: type[GridEvent]) -> GridEvent:
    """One event of the kind."""
    return _HISTORIES[event_type][-1]


def samples() -> list[GridEvent]:
    """One event of every kind here, then the further shapes."""
    return [h[-1] for h in _HISTORIES.values()] + _MORE


def covered() -> set[type[GridEvent]]:
    """The kinds that have a history here."""
    return set(_HISTORIES)
