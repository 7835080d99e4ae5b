"""Domain errors: each carries a neutral category, the offending field and a machine reason."""

from __future__ import annotations

from enum import Enum
from typing import ClassVar

__all__ = [
    "CellHasObstacleError",
    "CellOccupiedByRoverError",
    "DomainError",
    "ErrorCategory",
    "EventHistoryInvalidError",
    "GridAlreadyExistsError",
    "GridNotFoundError",
    "InvalidCommandCharacterError",
    "InvalidCommandsError",
    "InvalidDirectionError",
    "InvalidGridSizeError",
    "InvalidIdError",
    "InvalidObstacleError",
    "InvalidPositionError",
    "InvalidTopologyError",
    "PositionOutsideGridError",
    "RoverAlreadyExistsError",
    "RoverNotFoundError",
    "SnapshotCorruptError",
    "SnapshotSchemaUnsupportedError",
    "SnapshotUnusableError",
    "TooManyRoversError",
]


class ErrorCategory(Enum):
    """What kind of failure this is, so a transport maps it without knowing every subclass.

    The names follow the usual RPC status vocabulary, but nothing here depends on gRPC.
    """

    INVALID_ARGUMENT = "INVALID_ARGUMENT"  # the input is malformed whatever the state
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"  # well-formed, but the state forbids it now
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    INTERNAL = (
        "INTERNAL"  # stored data we cannot make sense of: a bug or corruption, not the caller
    )


class DomainError(Exception):
    """Base of every rule the domain enforces.

    ``category`` is class-level; ``reason`` defaults per class and may be refined per instance;
    ``field`` names the request field at fault (``"position.x"``, ``"commands"``) or is None.
    """

    category: ClassVar[ErrorCategory] = ErrorCategory.INVALID_ARGUMENT
    default_reason: ClassVar[str] = "DOMAIN_RULE_VIOLATED"

    def __init__(self, message: str, *, field: str | None = None, reason: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.reason = reason or self.default_reason

    def __str__(self) -> str:
        return self.message


# --- malformed input (INVALID_ARGUMENT) -------------------------------------------------------


class InvalidIdError(DomainError):
    """A grid or rover id that is empty, too long or has a character outside [A-Za-z0-9_-]."""

    default_reason = "ID_INVALID"

    def __init__(self, message: str, *, field: str, reason: str, value: str) -> None:
        super().__init__(message, field=field, reason=reason)
        self.value = value


class InvalidGridSizeError(DomainError):
    """Width or height outside 1..10,000."""

    default_reason = "GRID_SIZE_OUT_OF_RANGE"

    def __init__(self, message: str, *, field: str, value: object) -> None:
        super().__init__(message, field=field)
        self.value = value


class InvalidObstacleError(DomainError):
    """An obstacle outside the grid, listed twice, or too many of them."""

    default_reason = "OBSTACLE_INVALID"

    def __init__(self, message: str, *, field: str, reason: str, index: int | None = None):
        super().__init__(message, field=field, reason=reason)
        self.index = index


class InvalidPositionError(DomainError):
    """Coordinates that are not integers."""

    default_reason = "POSITION_INVALID"


class PositionOutsideGridError(DomainError):
    """A position whose x or y falls outside [0, width) x [0, height)."""

    default_reason = "POSITION_OUTSIDE_GRID"

    def __init__(self, message: str, *, field: str, x: int, y: int) -> None:
        super().__init__(message, field=field)
        self.x = x
        self.y = y


class InvalidDirectionError(DomainError):
    """A facing that is not one of N, E, S, W."""

    default_reason = "DIRECTION_INVALID"


class InvalidTopologyError(DomainError):
    """A topology that is not BOUNDED or TOROIDAL."""

    default_reason = "TOPOLOGY_INVALID"


class InvalidCommandsError(DomainError):
    """A command sequence that is empty or longer than the limit."""

    default_reason = "COMMANDS_INVALID"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message, field="commands", reason=reason)


class InvalidCommandCharacterError(InvalidCommandsError):
    """A character other than F, B, L, R or M (any case) in a command sequence."""

    default_reason = "COMMAND_CHARACTER_INVALID"

    def __init__(self, message: str, *, index: int, character: str) -> None:
        super().__init__(message, reason=self.default_reason)
        self.index = index
        self.character = character


# --- lookups -----------------------------------------------------------------------------------


class GridNotFoundError(DomainError):
    """No grid has this id (raised by the application, defined here to map it in one place)."""

    category = ErrorCategory.NOT_FOUND
    default_reason = "GRID_NOT_FOUND"

    def __init__(self, grid_id: str) -> None:
        super().__init__(f"grid {grid_id!r} does not exist", field="grid_id")
        self.grid_id = grid_id


class RoverNotFoundError(DomainError):
    """The grid has no rover with this id."""

    category = ErrorCategory.NOT_FOUND
    default_reason = "ROVER_NOT_FOUND"

    def __init__(self, grid_id: str, rover_id: str) -> None:
        super().__init__(f"grid {grid_id!r} has no rover {rover_id!r}", field="rover_id")
        self.grid_id = grid_id
        self.rover_id = rover_id


class GridAlreadyExistsError(DomainError):
    """A grid with this id was already created (raised by the application)."""

    category = ErrorCategory.ALREADY_EXISTS
    default_reason = "GRID_ALREADY_EXISTS"

    def __init__(self, grid_id: str) -> None:
        super().__init__(f"grid {grid_id!r} already exists", field="grid_id")
        self.grid_id = grid_id


class RoverAlreadyExistsError(DomainError):
    """The grid already has a rover with this id."""

    category = ErrorCategory.ALREADY_EXISTS
    default_reason = "ROVER_ALREADY_EXISTS"

    def __init__(self, grid_id: str, rover_id: str) -> None:
        super().__init__(f"grid {grid_id!r} already has a rover {rover_id!r}", field="rover_id")
        self.grid_id = grid_id
        self.rover_id = rover_id


# --- state rules (FAILED_PRECONDITION) and limits ----------------------------------------------


class CellOccupiedByRoverError(DomainError):
    """A rover cannot be placed on a cell another rover holds."""

    category = ErrorCategory.FAILED_PRECONDITION
    default_reason = "CELL_OCCUPIED_BY_ROVER"

    def __init__(self, x: int, y: int, occupant: str) -> None:
        super().__init__(f"cell ({x}, {y}) is occupied by rover {occupant!r}", field="position")
        self.x = x
        self.y = y
        self.occupant = occupant


class CellHasObstacleError(DomainError):
    """A rover cannot be placed on an obstacle."""

    category = ErrorCategory.FAILED_PRECONDITION
    default_reason = "CELL_HAS_OBSTACLE"

    def __init__(self, x: int, y: int) -> None:
        super().__init__(f"cell ({x}, {y}) has an obstacle", field="position")
        self.x = x
        self.y = y


class TooManyRoversError(DomainError):
    """The grid already holds the maximum number of rovers."""

    category = ErrorCategory.RESOURCE_EXHAUSTED
    default_reason = "ROVER_LIMIT_REACHED"

    def __init__(self, grid_id: str, limit: int) -> None:
        super().__init__(f"grid {grid_id!r} already has {limit} rovers, the maximum")
        self.grid_id = grid_id
        self.limit = limit


# --- stored data the domain cannot use (INTERNAL) ----------------------------------------------


class EventHistoryInvalidError(DomainError):
    """A stream of events that no sequence of commands could have produced."""

    category = ErrorCategory.INTERNAL
    default_reason = "EVENT_HISTORY_INVALID"


class SnapshotUnusableError(DomainError):
    """A snapshot this code cannot load; callers fall back to replaying the full history."""

    category = ErrorCategory.INTERNAL
    default_reason = "SNAPSHOT_UNUSABLE"


class SnapshotSchemaUnsupportedError(SnapshotUnusableError):
    """A snapshot written in a schema version this code does not read."""

    default_reason = "SNAPSHOT_SCHEMA_UNSUPPORTED"

    def __init__(self, found: object, supported: int) -> None:
        super().__init__(
            f"snapshot schema {found!r} is not supported (this code reads {supported})"
        )
        self.found = found
        self.supported = supported


class SnapshotCorruptError(SnapshotUnusableError):
    """A snapshot in the right schema whose data is malformed or inconsistent."""

    default_reason = "SNAPSHOT_CORRUPT"
