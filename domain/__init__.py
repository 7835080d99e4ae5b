"""The pure Grid domain: values, events, the Grid aggregate and its rules (stdlib only)."""

from __future__ import annotations

from domain.errors import DomainError, ErrorCategory
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
from domain.fast_fold import replay
from domain.grid import MAX_GRID_SIZE, MAX_OBSTACLES, MAX_ROVERS, CommandOutcome, Grid
from domain.snapshot import SNAPSHOT_SCHEMA, GridSnapshot
from domain.state import GridState, RoverState, evolve, rover_after
from domain.values import (
    MAX_COMMANDS,
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
    "MAX_COMMANDS",
    "MAX_GRID_SIZE",
    "MAX_OBSTACLES",
    "MAX_ROVERS",
    "SNAPSHOT_SCHEMA",
    "BlockedBy",
    "Command",
    "CommandOutcome",
    "Direction",
    "DomainError",
    "ErrorCategory",
    "Grid",
    "GridCreated",
    "GridEvent",
    "GridId",
    "GridSnapshot",
    "GridState",
    "Position",
    "RoverBlocked",
    "RoverCreated",
    "RoverEvent",
    "RoverId",
    "RoverMovedBackward",
    "RoverMovedForward",
    "RoverState",
    "RoverTurnedLeft",
    "RoverTurnedRight",
    "Topology",
    "evolve",
    "parse_commands",
    "replay",
    "rover_after",
]
