"""The command handlers: one table says what each rover command asks of the domain.

Handlers are transport-free: the gRPC servicer is one caller, a web API or a message bus
consumer could be another.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from typing import Final, assert_never

from domain.errors import DomainError
from domain.grid import CommandOutcome, Grid
from domain.values import Command, GridId, RoverId, parse_commands
from services.command.application.commands import (
    AnyCommand,
    CommandResult,
    CreateGrid,
    CreateRover,
    ExecuteRoverCommands,
    MoveRoverBackward,
    MoveRoverForward,
    RoverStep,
    TurnRoverLeft,
    TurnRoverRight,
)
from services.command.application.executor import CommandExecutor, check_request_id
from services.command.application.off_loop import is_large, off_loop
from services.command.application.ports import IdGenerator

__all__ = ["ROVER_STEPS", "Handlers"]

# The one place a one-step command meets the domain: a new verb (say SpinRover, a RoverStep
# subclass) is one entry here once the domain knows its Command.
ROVER_STEPS: Final[Mapping[type[RoverStep], Command]] = {
    MoveRoverForward: Command.F,
    MoveRoverBackward: Command.B,
    TurnRoverLeft: Command.L,
    TurnRoverRight: Command.R,
}

# Ids generated for a request that has a request_id derive from it, so that a retry of a
# CreateGrid or CreateRover without an explicit id lands on the same grid or rover.
_GENERATED_IDS = uuid.UUID("c9a7e8a4-3f51-4d43-8d0e-0b6f4c2d7e19")


def _generated_id(kind: str, request_id: str, ids: IdGenerator, scope: str = "") -> str:
    if request_id:
        return uuid.uuid5(_GENERATED_IDS, f"{kind}\x00{scope}\x00{request_id}").hex
    return ids.entity_id()


class Handlers:
    """Every command, run by one executor: ``await handlers.handle(command)``.

    CreateGrid records GridCreated (ALREADY_EXISTS if the id is taken); CreateRover records
    RoverCreated; a rover command records one event per step, the last a RoverBlocked if a
    move was blocked (an ExecuteRoverCommands sequence stops there).
    """

    def __init__(self, executor: CommandExecutor, ids: IdGenerator) -> None:
        self._executor = executor
        self._ids = ids

    async def handle(self, command: AnyCommand) -> CommandResult:
        """Run one command; domain and application errors propagate to the caller."""
        match command:
            case CreateGrid():
                return await self._create_grid(command)
            case CreateRover():
                return await self._create_rover(command)
            case RoverStep():
                return await self._steer(command, (ROVER_STEPS[type(command)],))
            case ExecuteRoverCommands():
                # Malformed input fails before any store access.
                return await self._steer(command, parse_commands(command.commands))
            case _:
                assert_never(command)

    async def _create_grid(self, command: CreateGrid) -> CommandResult:
        check_request_id(command.request_id)
        grid_id = GridId(command.grid_id or _generated_id("grid", command.request_id, self._ids))

        def create() -> Grid:
            return Grid.create(
                grid_id, command.width, command.height, command.topology, command.obstacles
            )

        built: list[Grid] = []
        if is_large((command,)):
            # A rule broken: the executor builds it again and answers in its order
            # (ALREADY_EXISTS before a bad obstacle), as for a small grid.
            with contextlib.suppress(DomainError):
                built.append(await off_loop(create, large=True))

        def create_once() -> Grid:  # the grid built in the thread, else (a retry) a new one
            return built.pop() if built else create()

        return await self._executor.run(grid_id, command, create=create_once)

    async def _create_rover(self, command: CreateRover) -> CommandResult:
        grid_id = GridId(command.grid_id)
        check_request_id(command.request_id)
        rover_id = command.rover_id or _generated_id(
            "rover", command.request_id, self._ids, grid_id
        )

        def decide(grid: Grid) -> CommandOutcome:
            return grid.create_rover(rover_id, command.position, command.facing)

        return await self._executor.run(grid_id, command, decide=decide)

    async def _steer(
        self, command: RoverStep | ExecuteRoverCommands, steps: tuple[Command, ...]
    ) -> CommandResult:
        grid_id = GridId(command.grid_id)
        rover_id = RoverId(command.rover_id)

        def decide(grid: Grid) -> CommandOutcome:
            return grid.execute(rover_id, steps)

        return await self._executor.run(grid_id, command, decide=decide)
