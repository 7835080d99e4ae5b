"""The rules behind the Grid's commands: input checks and the simulation of one rover's moves."""

from __future__ import annotations

from collections.abc import Iterable
from typing import assert_never

from domain.errors import InvalidGridSizeError, InvalidObstacleError, InvalidPositionError
from domain.events import (
    GridEvent,
    RoverBlocked,
    RoverMovedBackward,
    RoverMovedForward,
    RoverTurnedLeft,
    RoverTurnedRight,
)
from domain.fast_fold import GridFold
from domain.values import BlockedBy, Command, Direction, Position, RoverId, Topology

__all__ = [
    "MAX_GRID_SIZE",
    "MAX_OBSTACLES",
    "MAX_ROVERS",
    "as_position",
    "check_obstacle_count",
    "check_obstacles",
    "check_size",
    "simulate",
]

MAX_GRID_SIZE = 10_000
MAX_ROVERS = 1_000
# Not in the kata; it bounds the size of one GridCreated event (the store caps event size).
MAX_OBSTACLES = 10_000


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_size(value: object, field: str) -> int:
    """A grid dimension in 1..MAX_GRID_SIZE, else InvalidGridSizeError."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_GRID_SIZE:
        raise InvalidGridSizeError(
            f"{field} must be an integer in 1..{MAX_GRID_SIZE}, not {value!r}",
            field=field,
            value=value,
        )
    return value


def as_position(value: object, field: str) -> Position:
    """A Position from any pair of integers, else InvalidPositionError."""
    if isinstance(value, tuple) and len(value) == 2:
        x, y = value
        if _is_int(x) and _is_int(y):
            return Position(x, y)
    raise InvalidPositionError(f"{field} must be a pair of integers, not {value!r}", field=field)


def check_obstacle_count(count: int) -> None:
    """InvalidObstacleError (TOO_MANY_OBSTACLES) for more than MAX_OBSTACLES obstacles.

    Transports call it with the count alone, before converting any obstacle.
    """
    if count > MAX_OBSTACLES:
        raise InvalidObstacleError(
            f"at most {MAX_OBSTACLES} obstacles are allowed, not {count}",
            field="obstacles",
            reason="TOO_MANY_OBSTACLES",
        )


def check_obstacles(obstacles: Iterable[Position], width: int, height: int) -> frozenset[Position]:
    """The obstacle cells: each inside the grid, none twice, at most MAX_OBSTACLES."""
    seen: set[Position] = set()
    for index, raw in enumerate(obstacles):
        field = f"obstacles[{index}]"
        if index >= MAX_OBSTACLES:
            check_obstacle_count(index + 1)
        cell = as_position(raw, field)
        if not (0 <= cell.x < width and 0 <= cell.y < height):
            raise InvalidObstacleError(
                f"obstacle {cell} is outside the {width}x{height} grid",
                field=field,
                reason="OBSTACLE_OUTSIDE_GRID",
                index=index,
            )
        if cell in seen:
            raise InvalidObstacleError(
                f"obstacle {cell} is listed twice",
                field=field,
                reason="OBSTACLE_DUPLICATE",
                index=index,
            )
        seen.add(cell)
    return frozenset(seen)


def _step(
    fold: GridFold, rover_id: RoverId, position: Position, facing: Direction, command: Command
) -> tuple[Position, BlockedBy | None, RoverId | None]:
    """The cell a move enters and what blocks it, if anything (with the blocking rover)."""
    dx, dy = facing.delta
    if command is Command.B:
        dx, dy = -dx, -dy
    x, y = position.x + dx, position.y + dy
    if fold.topology is Topology.TOROIDAL:
        x, y = x % fold.width, y % fold.height
    target = Position(x, y)
    occupant = fold.occupancy.get(target)
    if not (0 <= x < fold.width and 0 <= y < fold.height):
        return target, BlockedBy.EDGE, None
    if target in fold.obstacles:
        return target, BlockedBy.OBSTACLE, None
    if occupant is not None and occupant != rover_id:
        return target, BlockedBy.ROVER, occupant
    return target, None, None


def simulate(
    fold: GridFold,
    rover_id: RoverId,
    position: Position,
    facing: Direction,
    commands: tuple[Command, ...],
) -> list[GridEvent]:
    """The events of one rover's sequence. Only this rover moves, so the others stand still."""
    grid_id = fold.grid_id
    events: list[GridEvent] = []
    for index, command in enumerate(commands):
        match command:
            case Command.L | Command.R:
                turned = facing.left() if command is Command.L else facing.right()
                turn = RoverTurnedLeft if command is Command.L else RoverTurnedRight
                events.append(
                    turn(
                        grid_id=grid_id,
                        rover_id=rover_id,
                        position=position,
                        from_facing=facing,
                        to_facing=turned,
                    )
                )
                facing = turned
            case Command.F | Command.B:
                target, blocker, occupant = _step(fold, rover_id, position, facing, command)
                if blocker is not None:
                    events.append(
                        RoverBlocked(
                            grid_id=grid_id,
                            rover_id=rover_id,
                            position=position,
                            facing=facing,
                            target=target,
                            blocked_by=blocker,
                            blocking_rover_id=occupant,
                            unexecuted_commands="".join(c.value for c in commands[index:]),
                        )
                    )
                    break
                move = RoverMovedForward if command is Command.F else RoverMovedBackward
                events.append(
                    move(
                        grid_id=grid_id,
                        rover_id=rover_id,
                        from_position=position,
                        to_position=target,
                        facing=facing,
                    )
                )
                position = target
            case _:
                assert_never(command)
    return events
