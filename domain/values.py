"""Value objects of the grid: ids, positions, directions, topology and rover commands."""

from __future__ import annotations

import re
from enum import Enum
from typing import NamedTuple

from domain.errors import (
    InvalidCommandCharacterError,
    InvalidCommandsError,
    InvalidDirectionError,
    InvalidIdError,
    InvalidTopologyError,
)

__all__ = [
    "MAX_COMMANDS",
    "MAX_ID_LENGTH",
    "MAX_REQUEST_ID_LENGTH",
    "BlockedBy",
    "Command",
    "Direction",
    "GridId",
    "Position",
    "RoverId",
    "Topology",
    "parse_commands",
]

MAX_ID_LENGTH = 64
MAX_COMMANDS = 1_000
# A client's idempotency key (any printable text): bounded so it can be stored and compared.
MAX_REQUEST_ID_LENGTH = 128

_ID_CHARACTER = re.compile(r"[A-Za-z0-9_-]")
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _check_id(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidIdError(
            f"{field} must be a string, not {type(value).__name__}",
            field=field,
            reason="ID_NOT_A_STRING",
            value=repr(value),
        )
    if _ID.fullmatch(value):
        return value
    if not value:
        raise InvalidIdError(
            f"{field} must not be empty", field=field, reason="ID_EMPTY", value=value
        )
    if len(value) > MAX_ID_LENGTH:
        raise InvalidIdError(
            f"{field} is {len(value)} characters long; at most {MAX_ID_LENGTH} are allowed",
            field=field,
            reason="ID_TOO_LONG",
            value=value,
        )
    index = next(i for i, ch in enumerate(value) if not _ID_CHARACTER.fullmatch(ch))
    raise InvalidIdError(
        f"{field} has {value[index]!r} at index {index}; only A-Z, a-z, 0-9, '_' and '-' "
        "are allowed",
        field=field,
        reason="ID_CHARACTER_INVALID",
        value=value,
    )


class GridId(str):
    """A grid's id: 1 to 64 characters of [A-Za-z0-9_-]; a plain ``str`` once validated."""

    __slots__ = ()

    def __new__(cls, value: str) -> GridId:
        # Re-wrapping an already validated id is free: ids cross layers often.
        if type(value) is cls:
            return value
        return super().__new__(cls, _check_id(value, "grid_id"))


class RoverId(str):
    """A rover's id, unique within its grid: 1 to 64 characters of [A-Za-z0-9_-]."""

    __slots__ = ()

    def __new__(cls, value: str) -> RoverId:
        if type(value) is cls:
            return value
        return super().__new__(cls, _check_id(value, "rover_id"))


class Position(NamedTuple):
    """A cell of the grid; x grows to the East, y to the North.

    A NamedTuple rather than a frozen dataclass: positions are built and hashed on every move
    and every replayed event, and tuples are several times cheaper at both.
    """

    x: int
    y: int

    def __str__(self) -> str:
        return f"({self.x}, {self.y})"


class Direction(Enum):
    """Where a rover faces."""

    N = "N"
    E = "E"
    S = "S"
    W = "W"

    def left(self) -> Direction:
        """The direction 90 degrees counter-clockwise."""
        return _LEFT[self]

    def right(self) -> Direction:
        """The direction 90 degrees clockwise."""
        return _RIGHT[self]

    @property
    def delta(self) -> tuple[int, int]:
        """The (dx, dy) of one step forward."""
        return _DELTA[self]

    @classmethod
    def parse(cls, text: str) -> Direction:
        """``"N"``, ``"east"``, ... (case-insensitive; one letter or the full name)."""
        key = text.strip().upper() if isinstance(text, str) else ""
        found = _DIRECTION_NAMES.get(key)
        if found is None:
            raise InvalidDirectionError(
                f"facing must be one of N, E, S, W; got {text!r}",
                field="facing",
            )
        return found


_LEFT = {
    Direction.N: Direction.W,
    Direction.W: Direction.S,
    Direction.S: Direction.E,
    Direction.E: Direction.N,
}
_RIGHT = {after: before for before, after in _LEFT.items()}
_DELTA = {Direction.N: (0, 1), Direction.E: (1, 0), Direction.S: (0, -1), Direction.W: (-1, 0)}
_DIRECTION_NAMES = {d.value: d for d in Direction} | {
    "NORTH": Direction.N,
    "EAST": Direction.E,
    "SOUTH": Direction.S,
    "WEST": Direction.W,
}


class Topology(Enum):
    """What happens at the edge of the grid."""

    BOUNDED = "BOUNDED"  # the edge is a wall: a move across it is blocked
    TOROIDAL = "TOROIDAL"  # leaving one edge re-enters at the opposite one

    @classmethod
    def parse(cls, text: str) -> Topology:
        """``"bounded"`` or ``"toroidal"``, case-insensitive."""
        key = text.strip().upper() if isinstance(text, str) else ""
        try:
            return cls(key)
        except ValueError:
            raise InvalidTopologyError(
                f"topology must be BOUNDED or TOROIDAL; got {text!r}", field="topology"
            ) from None


class BlockedBy(Enum):
    """What stopped a move."""

    EDGE = "EDGE"
    OBSTACLE = "OBSTACLE"
    ROVER = "ROVER"


class Command(Enum):
    """One instruction to a rover."""

    F = "F"  # move forward one cell
    B = "B"  # move backward one cell
    L = "L"  # turn 90 degrees left
    R = "R"  # turn 90 degrees right


# "M" (move) is the classic kata's spelling of forward.
_UPPER_LETTERS = {"F": Command.F, "M": Command.F, "B": Command.B, "L": Command.L, "R": Command.R}
_COMMAND_LETTERS = _UPPER_LETTERS | {k.lower(): v for k, v in _UPPER_LETTERS.items()}


def parse_commands(text: str) -> tuple[Command, ...]:
    """Parse a whole sequence such as ``"LMLMrff"`` before any of it runs.

    Raises InvalidCommandsError when it is empty or longer than MAX_COMMANDS, and
    InvalidCommandCharacterError (with the 0-based index) at the first character that is not
    F, B, L, R or M in either case.
    """
    if not isinstance(text, str):
        raise InvalidCommandsError(
            f"commands must be a string, not {type(text).__name__}", reason="COMMANDS_NOT_A_STRING"
        )
    if not text:
        raise InvalidCommandsError("commands must not be empty", reason="COMMANDS_EMPTY")
    if len(text) > MAX_COMMANDS:
        raise InvalidCommandsError(
            f"commands has {len(text)} characters; at most {MAX_COMMANDS} are allowed",
            reason="COMMANDS_TOO_LONG",
        )
    letters = _COMMAND_LETTERS
    parsed: list[Command] = []
    for index, character in enumerate(text):
        command = letters.get(character)
        if command is None:
            raise InvalidCommandCharacterError(
                f"invalid command {character!r} at index {index}; "
                "use F, B, L, R (M is F), in any case",
                index=index,
                character=character,
            )
        parsed.append(command)
    return tuple(parsed)
