"""One handler per command: each turns its command into a domain call run by the executor.

Handlers are transport-free: the gRPC servicer is one caller, a web API or a message bus
consumer could be another.
"""

from __future__ import annotations

import uuid

from domain.grid import CommandOutcome, Grid
from domain.values import GridId, RoverId, parse_commands
from services.command.application.commands import (
    CommandResult,
    CreateGrid,
    CreateRover,
    ExecuteRoverCommands,
    MoveRoverBackward,
    MoveRoverForward,
    TurnRoverLeft,
    TurnRoverRight,
)
from services.command.application.executor import CommandExecutor, check_request_id
from services.command.application.ports import IdGenerator

__all__ = [
    "CreateGridHandler",
    "CreateRoverHandler",
    "ExecuteRoverCommandsHandler",
    "Handlers",
    "MoveRoverBackwardHandler",
    "MoveRoverForwardHandler",
    "TurnRoverLeftHandler",
    "TurnRoverRightHandler",
]

# Ids generated for a request that has a request_id derive from it, so that a retry of a
# CreateGrid or CreateRover without an explicit id lands on the same grid or rover.
_GENERATED_IDS = uuid.UUID("c9a7e8a4-3f51-4d43-8d0e-0b6f4c2d7e19")


def _generated_id(kind: str, request_id: str, ids: IdGenerator, scope: str = "") -> str:
    if request_id:
        return uuid.uuid5(_GENERATED_IDS, f"{kind}\x00{scope}\x00{request_id}").hex
    return ids.entity_id()


class CreateGridHandler:
    """CreateGrid: records GridCreated (version 1); ALREADY_EXISTS if the id is taken."""

    def __init__(self, executor: CommandExecutor, ids: IdGenerator) -> None:
        self._executor = executor
        self._ids = ids

    async def __call__(self, command: CreateGrid) -> CommandResult:
        check_request_id(command.request_id)
        grid_id = GridId(command.grid_id or _generated_id("grid", command.request_id, self._ids))

        def create() -> Grid:
            return Grid.create(
                grid_id, command.width, command.height, command.topology, command.obstacles
            )

        return await self._executor.run(grid_id, command, create=create)


class CreateRoverHandler:
    """CreateRover: records RoverCreated."""

    def __init__(self, executor: CommandExecutor, ids: IdGenerator) -> None:
        self._executor = executor
        self._ids = ids

    async def __call__(self, command: CreateRover) -> CommandResult:
        grid_id = GridId(command.grid_id)
        check_request_id(command.request_id)
        rover_id = command.rover_id or _generated_id(
            "rover", command.request_id, self._ids, grid_id
        )

        def decide(grid: Grid) -> CommandOutcome:
            return grid.create_rover(rover_id, command.position, command.facing)

        return await self._executor.run(grid_id, command, decide=decide)


class _RoverCommandHandler:
    def __init__(self, executor: CommandExecutor) -> None:
        self._executor = executor

    async def _run(
        self,
        command: MoveRoverForward
        | MoveRoverBackward
        | TurnRoverLeft
        | TurnRoverRight
        | ExecuteRoverCommands,
        text: str,
    ) -> CommandResult:
        grid_id = GridId(command.grid_id)
        rover_id = RoverId(command.rover_id)

        def decide(grid: Grid) -> CommandOutcome:
            return grid.execute(rover_id, text)

        return await self._executor.run(grid_id, command, decide=decide)


class MoveRoverForwardHandler(_RoverCommandHandler):
    """MoveRoverForward: RoverMovedForward, or RoverBlocked."""

    async def __call__(self, command: MoveRoverForward) -> CommandResult:
        return await self._run(command, "F")


class MoveRoverBackwardHandler(_RoverCommandHandler):
    """MoveRoverBackward: RoverMovedBackward, or RoverBlocked."""

    async def __call__(self, command: MoveRoverBackward) -> CommandResult:
        return await self._run(command, "B")


class TurnRoverLeftHandler(_RoverCommandHandler):
    """TurnRoverLeft: RoverTurnedLeft."""

    async def __call__(self, command: TurnRoverLeft) -> CommandResult:
        return await self._run(command, "L")


class TurnRoverRightHandler(_RoverCommandHandler):
    """TurnRoverRight: RoverTurnedRight."""

    async def __call__(self, command: TurnRoverRight) -> CommandResult:
        return await self._run(command, "R")


class ExecuteRoverCommandsHandler(_RoverCommandHandler):
    """ExecuteRoverCommands: one event per executed command, stopped by the first block."""

    async def __call__(self, command: ExecuteRoverCommands) -> CommandResult:
        parse_commands(command.commands)  # malformed input fails before any store access
        return await self._run(command, command.commands)


class Handlers:
    """Every command handler, built around one executor."""

    def __init__(self, executor: CommandExecutor, ids: IdGenerator) -> None:
        self.create_grid = CreateGridHandler(executor, ids)
        self.create_rover = CreateRoverHandler(executor, ids)
        self.move_forward = MoveRoverForwardHandler(executor)
        self.move_backward = MoveRoverBackwardHandler(executor)
        self.turn_left = TurnRoverLeftHandler(executor)
        self.turn_right = TurnRoverRightHandler(executor)
        self.execute = ExecuteRoverCommandsHandler(executor)
