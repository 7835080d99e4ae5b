"""The commands the service accepts and the result every one of them returns (transport-free)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any, TypeAlias

from domain.events import RoverBlocked
from domain.state import RoverState
from domain.values import Direction, Position, Topology
from services.common.envelope import Envelope

__all__ = [
    "AnyCommand",
    "CommandResult",
    "CreateGrid",
    "CreateRover",
    "ExecuteRoverCommands",
    "MoveRoverBackward",
    "MoveRoverForward",
    "RoverStep",
    "TurnRoverLeft",
    "TurnRoverRight",
    "fingerprint",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateGrid:
    """Create a grid; an empty ``grid_id`` asks the service to choose one."""

    request_id: str = ""
    grid_id: str = ""
    width: int
    height: int
    topology: Topology = Topology.BOUNDED
    obstacles: tuple[Position, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateRover:
    """Land a rover; an empty ``rover_id`` asks the service to choose one."""

    request_id: str = ""
    grid_id: str
    rover_id: str = ""
    position: Position
    facing: Direction


@dataclass(frozen=True, slots=True, kw_only=True)
class RoverStep:
    """A one-step rover command; handlers.ROVER_STEPS says which domain command each one is."""

    request_id: str = ""
    grid_id: str
    rover_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MoveRoverForward(RoverStep):
    """Move a rover one cell forward."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MoveRoverBackward(RoverStep):
    """Move a rover one cell backward."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnRoverLeft(RoverStep):
    """Turn a rover 90 degrees counter-clockwise."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnRoverRight(RoverStep):
    """Turn a rover 90 degrees clockwise."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecuteRoverCommands:
    """Run a command sequence such as ``"LMLMLMLMM"`` as one atomic change."""

    request_id: str = ""
    grid_id: str
    rover_id: str
    commands: str


# Every one-step command is a RoverStep, so a new one joins this union by subclassing.
AnyCommand: TypeAlias = CreateGrid | CreateRover | RoverStep | ExecuteRoverCommands


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandResult:
    """What a command did: the grid's new version, its events, the rover after, any block.

    ``replayed`` is True when this is the stored result of an earlier call with the same
    request_id (nothing new was recorded).
    """

    grid_id: str
    version: int
    events: tuple[Envelope, ...]
    rover: RoverState | None = None
    block: RoverBlocked | None = None
    replayed: bool = field(default=False, compare=False)


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def fingerprint(command: AnyCommand) -> str:
    """A digest of the command's kind and arguments (not its request_id).

    Two calls with one request_id must carry the same fingerprint; otherwise the id was reused
    for a different request. Stable across processes and restarts.
    """
    # The fields as they are (not dataclasses.asdict, which deep-copies every obstacle of a
    # large grid); _plain makes the same JSON of them.
    arguments = {
        f.name: getattr(command, f.name) for f in fields(command) if f.name != "request_id"
    }
    text = json.dumps([type(command).__name__, _plain(arguments)], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]
