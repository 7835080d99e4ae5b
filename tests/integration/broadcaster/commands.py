"""Real commands for the broadcaster's integration tests, over gRPC to the command service.

``GridDriver`` plays random commands on one grid through ``rover.v1.RoverCommandService`` and
keeps every ``IntegrationEvent`` the results reported: what the watchers must receive.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, TypeAlias

import grpc

from protos.rover.v1 import command_pb2, command_pb2_grpc, common_pb2, events_pb2
from tests.integration.broadcaster.helpers import SAFETY

__all__ = ["CommandStub", "GridDriver", "command_stub"]

if TYPE_CHECKING:  # the generated stub is generic only in its .pyi
    _R = command_pb2.CommandResult
    _U = grpc.aio.UnaryUnaryMultiCallable
    CommandStub: TypeAlias = command_pb2_grpc.RoverCommandServiceStub[
        _U[command_pb2.CreateGridRequest, _R],
        _U[command_pb2.CreateRoverRequest, _R],
        _U[command_pb2.MoveRoverForwardRequest, _R],
        _U[command_pb2.MoveRoverBackwardRequest, _R],
        _U[command_pb2.TurnRoverLeftRequest, _R],
        _U[command_pb2.TurnRoverRightRequest, _R],
        _U[command_pb2.ExecuteRoverCommandsRequest, _R],
        _U[command_pb2.SubmitCommandRequest, command_pb2.SubmitCommandResponse],
        _U[command_pb2.GetCommandResultRequest, _R],
    ]
else:
    CommandStub = command_pb2_grpc.RoverCommandServiceStub


def command_stub(channel: grpc.aio.Channel) -> CommandStub:
    """An asyncio stub of the command service, typed as such."""
    return command_pb2_grpc.RoverCommandServiceStub(channel)


class GridDriver:
    """One grid driven by random commands; ``events`` is what the results reported, in order."""

    def __init__(self, stub: CommandStub, grid_id: str, *, rovers: int = 3, seed: int = 0) -> None:
        self.stub = stub
        self.grid_id = grid_id
        self.rovers = [f"r{i}" for i in range(rovers)]
        self.events: list[events_pb2.IntegrationEvent] = []
        self._random = random.Random(f"{grid_id}/{seed}")
        self._landed = 0

    @property
    def version(self) -> int:
        """The grid's version as the last command result reported it."""
        return self.events[-1].sequence if self.events else 0

    def _record(self, result: command_pb2.CommandResult) -> None:
        assert result.grid_id == self.grid_id
        self.events.extend(result.events)
        assert result.version == self.version

    async def create(self) -> None:
        """CreateGrid: 8 x 8, toroidal, one obstacle (so that some moves are blocked)."""
        self._record(
            await self.stub.CreateGrid(
                command_pb2.CreateGridRequest(
                    grid_id=self.grid_id,
                    width=8,
                    height=8,
                    topology=common_pb2.TOPOLOGY_TOROIDAL,
                    obstacles=[common_pb2.Position(x=7, y=7)],
                ),
                timeout=SAFETY,
            )
        )

    async def command(self) -> None:
        """The next command: land the rovers first, then random moves, turns and programs."""
        if self.version == 0:
            await self.create()
            return
        if self._landed < len(self.rovers):
            rover = self.rovers[self._landed]
            self._record(
                await self.stub.CreateRover(
                    command_pb2.CreateRoverRequest(
                        grid_id=self.grid_id,
                        rover_id=rover,
                        position=common_pb2.Position(x=self._landed, y=0),
                        facing=common_pb2.DIRECTION_NORTH,
                    ),
                    timeout=SAFETY,
                )
            )
            self._landed += 1
            return
        target = {"grid_id": self.grid_id, "rover_id": self._random.choice(self.rovers)}
        match self._random.randrange(5):
            case 0:
                result = await self.stub.MoveRoverForward(
                    command_pb2.MoveRoverForwardRequest(**target), timeout=SAFETY
                )
            case 1:
                result = await self.stub.MoveRoverBackward(
                    command_pb2.MoveRoverBackwardRequest(**target), timeout=SAFETY
                )
            case 2:
                result = await self.stub.TurnRoverLeft(
                    command_pb2.TurnRoverLeftRequest(**target), timeout=SAFETY
                )
            case 3:
                result = await self.stub.TurnRoverRight(
                    command_pb2.TurnRoverRightRequest(**target), timeout=SAFETY
                )
            case _:
                program = "".join(self._random.choices("FFBLR", k=3))
                result = await self.stub.ExecuteRoverCommands(
                    command_pb2.ExecuteRoverCommandsRequest(commands=program, **target),
                    timeout=SAFETY,
                )
        self._record(result)

    async def run(self, commands: int) -> None:
        """Send ``commands`` commands, one after the other."""
        for _ in range(commands):
            await self.command()
