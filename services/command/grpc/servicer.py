"""The rover.v1.RoverCommandService servicer: parse, call the handler, map result or error."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc

from protos.rover.v1 import command_pb2, command_pb2_grpc
from services.command.application.commands import AnyCommand, CreateGrid
from services.command.application.handlers import LARGE_GRID_OBSTACLES, Handlers
from services.command.grpc import mapping

__all__ = ["OFFLOAD_OBSTACLES", "RoverCommandServicer"]

_Request = TypeVar("_Request")
_Result = TypeVar("_Result")
_Context = grpc.aio.ServicerContext[object, object]
Offload = Callable[[Callable[[], _Result]], Awaitable[_Result]]

OFFLOAD_OBSTACLES = LARGE_GRID_OBSTACLES
"""A CreateGrid with more obstacles than this is converted in a worker thread (about 2 ms of
the event loop's time per 1,000 obstacles otherwise), one at a time, so that small commands of
other clients go on meanwhile. The handler builds such a grid in a thread too, and checks the
rules in its usual order, so a large request gets the answers a small one gets."""


async def _in_thread(work: Callable[[], _Result]) -> _Result:
    return await asyncio.to_thread(work)


class RoverCommandServicer(command_pb2_grpc.RoverCommandServiceServicer):
    """Thin gRPC adapter over the command handlers; no rule lives here."""

    def __init__(self, handlers: Handlers, *, offload: Offload[CreateGrid] = _in_thread) -> None:
        self._handlers = handlers
        self._offload = offload
        self._large = asyncio.Semaphore(1)  # large conversions queue among themselves

    async def _call(
        self,
        context: _Context,
        parse: Callable[[_Request], AnyCommand],
        request: _Request,
    ) -> command_pb2.CommandResult:
        try:
            result = await self._handlers.handle(parse(request))
        except Exception as error:
            await mapping.STATUS.abort(context, error)
        return mapping.result_to_proto(result)

    async def CreateGrid(  # noqa: N802 - generated gRPC method names
        self, request: command_pb2.CreateGridRequest, context: _Context
    ) -> command_pb2.CommandResult:
        """Create a grid (a large one's request converted off the event loop)."""
        if len(request.obstacles) <= OFFLOAD_OBSTACLES:
            return await self._call(context, mapping.create_grid, request)
        try:
            async with self._large:
                command = await self._offload(lambda: mapping.create_grid(request))
        except Exception as error:
            await mapping.STATUS.abort(context, error)
        return await self._call(context, lambda checked: checked, command)

    async def CreateRover(  # noqa: N802
        self, request: command_pb2.CreateRoverRequest, context: _Context
    ) -> command_pb2.CommandResult:
        """Land a rover."""
        return await self._call(context, mapping.create_rover, request)

    async def MoveRoverForward(  # noqa: N802
        self, request: command_pb2.MoveRoverForwardRequest, context: _Context
    ) -> command_pb2.CommandResult:
        """Move a rover forward."""
        return await self._call(context, mapping.move_forward, request)

    async def MoveRoverBackward(  # noqa: N802
        self, request: command_pb2.MoveRoverBackwardRequest, context: _Context
    ) -> command_pb2.CommandResult:
        """Move a rover backward."""
        return await self._call(context, mapping.move_backward, request)

    async def TurnRoverLeft(  # noqa: N802
        self, request: command_pb2.TurnRoverLeftRequest, context: _Context
    ) -> command_pb2.CommandResult:
        """Turn a rover left."""
        return await self._call(context, mapping.turn_left, request)

    async def TurnRoverRight(  # noqa: N802
        self, request: command_pb2.TurnRoverRightRequest, context: _Context
    ) -> command_pb2.CommandResult:
        """Turn a rover right."""
        return await self._call(context, mapping.turn_right, request)

    async def ExecuteRoverCommands(  # noqa: N802
        self, request: command_pb2.ExecuteRoverCommandsRequest, context: _Context
    ) -> command_pb2.CommandResult:
        """Run a command sequence."""
        return await self._call(context, mapping.execute, request)
