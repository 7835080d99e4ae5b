"""The rover.v1.RoverCommandService servicer: parse, call the handler, map result or error."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc

from protos.rover.v1 import command_pb2, command_pb2_grpc
from services.command.application.commands import CommandResult
from services.command.application.handlers import Handlers
from services.command.grpc import mapping

__all__ = ["RoverCommandServicer"]

_Request = TypeVar("_Request")
_Context = grpc.aio.ServicerContext[object, object]


class RoverCommandServicer(command_pb2_grpc.RoverCommandServiceServicer):
    """Thin gRPC adapter over the command handlers; no rule lives here."""

    def __init__(self, handlers: Handlers) -> None:
        self._handlers = handlers

    async def _call(
        self,
        context: _Context,
        run: Callable[[], Awaitable[CommandResult]],
    ) -> command_pb2.CommandResult:
        try:
            result = await run()
        except Exception as error:
            await mapping.STATUS.abort(context, error)
        return mapping.result_to_proto(result)

    async def CreateGrid(  # noqa: N802 - generated gRPC method names
        self, request: command_pb2.CreateGridRequest, context: _Context
    ) -> command_pb2.CommandResult:
        """Create a grid."""
        handler = self._handlers.create_grid
        return await self._call(context, lambda: handler(mapping.create_grid(request)))

    async def CreateRover(  # noqa: N802
        self, request: command_pb2.CreateRoverRequest, context: _Context
    ) -> command_pb2.CommandResult:
        """Land a rover."""
        handler = self._handlers.create_rover
        return await self._call(context, lambda: handler(mapping.create_rover(request)))

    async def MoveRoverForward(  # noqa: N802
        self, request: command_pb2.MoveRoverForwardRequest, context: _Context
    ) -> command_pb2.CommandResult:
        """Move a rover forward."""
        handler = self._handlers.move_forward
        return await self._call(context, lambda: handler(mapping.move_forward(request)))

    async def MoveRoverBackward(  # noqa: N802
        self, request: command_pb2.MoveRoverBackwardRequest, context: _Context
    ) -> command_pb2.CommandResult:
        """Move a rover backward."""
        handler = self._handlers.move_backward
        return await self._call(context, lambda: handler(mapping.move_backward(request)))

    async def TurnRoverLeft(  # noqa: N802
        self, request: command_pb2.TurnRoverLeftRequest, context: _Context
    ) -> command_pb2.CommandResult:
        """Turn a rover left."""
        handler = self._handlers.turn_left
        return await self._call(context, lambda: handler(mapping.turn_left(request)))

    async def TurnRoverRight(  # noqa: N802
        self, request: command_pb2.TurnRoverRightRequest, context: _Context
    ) -> command_pb2.CommandResult:
        """Turn a rover right."""
        handler = self._handlers.turn_right
        return await self._call(context, lambda: handler(mapping.turn_right(request)))

    async def ExecuteRoverCommands(  # noqa: N802
        self, request: command_pb2.ExecuteRoverCommandsRequest, context: _Context
    ) -> command_pb2.CommandResult:
        """Run a command sequence."""
        handler = self._handlers.execute
        return await self._call(context, lambda: handler(mapping.execute(request)))
