"""The pure Grid domain: values, events, the Grid aggregate and its rules (stdlib only)."""

from __future__ import annotations

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
from domain.fast_fold import replay
from domain.grid import MAX_ROVERS, Grid
from domain.snapshot import SNAPSHOT_SCHEMA, GridSnapshot
from domain.state import GridState, evolve
from domain.values import (
    BlockedBy,
    Command,
    Direction,
    GridId,
    Position,
    RoverId,
    Topology,
    parse_commands,
)

__all__ = [
    "MAX_ROVERS",
    "SNAPSHOT_SCHEMA",
    "BlockedBy",
    "Command",
    "Direction",
    "Grid",
    "GridCreated",
    "GridEvent",
    "GridId",
    "GridSnapshot",
    "GridState",
    "Position",
    "RoverBlocked",
    "RoverCreated",
    "RoverId",
    "RoverMovedBackward",
    "RoverMovedForward",
    "RoverTurnedLeft",
    "RoverTurnedRight",
    "Topology",
    "evolve",
    "parse_commands",
    "replay",
]
