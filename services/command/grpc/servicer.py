"""The rover.v1.RoverCommandService servicer: parse, call the handler, map result or error."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2

from protos.rover.v1 import command_pb2, command_pb2_grpc
from services.command.application.commands import AnyCommand, CreateGrid
from services.command.application.executor import check_request_id
from services.command.application.handlers import Handlers
from services.command.application.inbox import inbox_stream, reply_stream
from services.command.application.inbox_requests import InboxWriter, ReplyReader, wait_for_reply
from services.command.application.off_loop import LARGE_GRID_OBSTACLES, is_large, off_loop
from services.command.grpc import mapping
from services.command.grpc.inbox_codec import PARSERS, decode_reply
from services.common.request_limits import MAX_REPLY_STREAM_LENGTH, MAX_RESULT_WAIT_SECONDS
from services.common.rich_errors import abort, abort_with_proto, bad_request, error_info

__all__ = ["OFFLOAD_OBSTACLES", "RoverCommandServicer"]

_Request = TypeVar("_Request")
_Result = TypeVar("_Result")
_Context = grpc.aio.ServicerContext[object, object]
_ANSWER_MARGIN_SECONDS = 0.5  # kept from a caller's deadline to answer a wait that ran out
_REPLY_STREAM = re.compile(rf"[A-Za-z0-9_.\-]{{1,{MAX_REPLY_STREAM_LENGTH}}}")
Offload = Callable[[Callable[[], _Result]], Awaitable[_Result]]

OFFLOAD_OBSTACLES = LARGE_GRID_OBSTACLES
"""A CreateGrid with more obstacles than this is converted in a worker thread (about 2 ms of
the event loop's time per 1,000 obstacles otherwise), one at a time, so that small commands of
other clients go on meanwhile. The handler builds such a grid in a thread too, and checks the
rules in its usual order, so a large request gets the answers a small one gets."""


async def _in_thread(work: Callable[[], _Result]) -> _Result:
    return await off_loop(work, large=True)


class RoverCommandServicer(command_pb2_grpc.RoverCommandServiceServicer):
    """Thin gRPC adapter over the command handlers; no rule lives here."""

    def __init__(
        self,
        handlers: Handlers,
        inbox: InboxWriter | None = None,
        replies: ReplyReader | None = None,
        *,
        offload: Offload[CreateGrid] = _in_thread,
    ) -> None:
        self._handlers = handlers
        self._inbox = inbox
        self._replies = replies
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
        large = is_large(envelope.event for envelope in result.events)
        return await off_loop(lambda: mapping.result_to_proto(result), large=large)

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

    async def SubmitCommand(  # noqa: N802
        self, request: command_pb2.SubmitCommandRequest, context: _Context
    ) -> command_pb2.SubmitCommandResponse:
        """Validate a command as its direct RPC does, enqueue it, answer where it went."""
        which = request.WhichOneof("command")
        if which is None:
            await _invalid(context, "command", "set exactly one command (create_grid, ...)")
        if request.reply_stream and not _REPLY_STREAM.fullmatch(request.reply_stream):
            await _invalid(
                context,
                "reply_stream",
                f"reply_stream must be 1 to {MAX_REPLY_STREAM_LENGTH} of [A-Za-z0-9_.-]",
            )
        if self._inbox is None:
            await _unimplemented(context)
        inner = getattr(request, which)
        if not inner.request_id:
            inner.request_id = str(uuid.uuid4())
        try:
            check_request_id(inner.request_id)
            PARSERS[type(inner)](inner)  # malformed input fails here, as on the direct RPC
            stream = inbox_stream(inner.grid_id)
            position = await self._inbox.enqueue(
                stream,
                inner.DESCRIPTOR.full_name,
                inner.SerializeToString(),
                reply_stream=request.reply_stream,
            )
        except Exception as error:
            await mapping.STATUS.abort(context, error)
        return command_pb2.SubmitCommandResponse(
            request_id=inner.request_id,
            inbox_stream=stream,
            inbox_commit_position=position,
            reply_stream=reply_stream(inner.request_id, request.reply_stream),
        )

    async def GetCommandResult(  # noqa: N802
        self, request: command_pb2.GetCommandResultRequest, context: _Context
    ) -> command_pb2.CommandResult:
        """The submitted command's CommandResult, or its error status, or COMMAND_PENDING."""
        if not request.request_id:
            await _invalid(context, "request_id", "request_id is required")
        if not 0 <= request.wait_seconds <= MAX_RESULT_WAIT_SECONDS:
            await _invalid(
                context, "wait_seconds", f"wait_seconds must be 0 to {MAX_RESULT_WAIT_SECONDS}"
            )
        if self._replies is None:
            await _unimplemented(context)
        stream = reply_stream(request.request_id, request.reply_stream)
        wait = float(request.wait_seconds)
        remaining = context.time_remaining()
        if remaining is not None:  # answer COMMAND_PENDING before the caller's deadline
            wait = max(0.0, min(wait, remaining - _ANSWER_MARGIN_SECONDS))
        try:
            reply = await wait_for_reply(self._replies, stream, request.request_id, wait)
            outcome = None if reply is None else decode_reply(reply)
        except Exception as error:  # an outage; or a foreign event in a reply stream: INTERNAL
            await mapping.STATUS.abort(context, error)
        if outcome is None:
            await abort(
                context,
                grpc.StatusCode.UNAVAILABLE,
                f"command {request.request_id!r} has no outcome yet in {stream!r}; ask again",
                error_info(
                    "COMMAND_PENDING", {"request_id": request.request_id, "reply_stream": stream}
                ),
                error_details_pb2.RetryInfo(retry_delay=Duration(seconds=1)),
            )
        if isinstance(outcome, command_pb2.CommandResult):
            return outcome
        await abort_with_proto(context, outcome)


async def _unimplemented(context: _Context) -> NoReturn:
    await abort(
        context,
        grpc.StatusCode.UNIMPLEMENTED,
        "this command service runs without the command inbox (ROVER_COMMAND_INBOX_ENABLED)",
        error_info("INBOX_DISABLED"),
    )


async def _invalid(context: _Context, field: str, description: str) -> NoReturn:
    await abort(
        context,
        grpc.StatusCode.INVALID_ARGUMENT,
        description,
        bad_request([(field, description)]),
        error_info("INVALID_ARGUMENT", {"field": field}),
    )
