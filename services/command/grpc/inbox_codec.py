"""The command inbox in the public contract's messages: requests in, CommandResult or status out.

An inbox event's type is the full name of a RoverCommandService request message
(``rover.v1.MoveRoverForwardRequest``) and its data that message's binary encoding. A reply is
``rover.v1.CommandResult`` or ``google.rpc.Status``: the very answer the direct RPC gives, its
status built by the servicer's one table (``mapping.STATUS``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import grpc
from google.protobuf.message import DecodeError, Message
from google.rpc import status_pb2

from protos.rover.v1 import command_pb2
from services.command.application.commands import AnyCommand, CommandResult
from services.command.application.inbox import DecodedCommand, PoisonCommandError, Reply
from services.command.grpc import mapping
from services.common.rich_errors import bad_request, error_info, status_proto

__all__ = [
    "PARSERS",
    "RESULT_TYPE",
    "STATUS_TYPE",
    "ProtoInboxCodec",
    "decode_reply",
]

# THE request messages a queued command may be, and how each becomes a command: the same
# conversions the direct RPCs use (a test checks this is every CommandResult RPC's request).
PARSERS: Final[Mapping[type[Message], Callable[[Any], AnyCommand]]] = {
    command_pb2.CreateGridRequest: mapping.create_grid,
    command_pb2.CreateRoverRequest: mapping.create_rover,
    command_pb2.MoveRoverForwardRequest: mapping.move_forward,
    command_pb2.MoveRoverBackwardRequest: mapping.move_backward,
    command_pb2.TurnRoverLeftRequest: mapping.turn_left,
    command_pb2.TurnRoverRightRequest: mapping.turn_right,
    command_pb2.ExecuteRoverCommandsRequest: mapping.execute,
}
_BY_NAME: Final = {message.DESCRIPTOR.full_name: message for message in PARSERS}
RESULT_TYPE: Final = command_pb2.CommandResult.DESCRIPTOR.full_name
STATUS_TYPE: Final = status_pb2.Status.DESCRIPTOR.full_name


def _status_of(error: BaseException) -> status_pb2.Status:
    """The google.rpc.Status the direct RPC fails with for ``error``."""
    code, message, details = mapping.STATUS.status_of(error)
    return status_proto(code, message, *details)


def _poison_status(error: PoisonCommandError) -> status_pb2.Status:
    return status_proto(
        grpc.StatusCode.INVALID_ARGUMENT,
        error.message,
        bad_request([("event", error.message)]),
        error_info(error.reason),
    )


class ProtoInboxCodec:
    """The inbox codec of the rover.v1 contract."""

    def decode(self, event_type: str, data: bytes) -> DecodedCommand:
        """The request in an inbox event; PoisonCommandError when it is none."""
        message_type = _BY_NAME.get(event_type)
        if message_type is None:
            known = ", ".join(sorted(_BY_NAME))
            raise PoisonCommandError(
                "INBOX_UNKNOWN_COMMAND",
                f"inbox event type {event_type!r} is no command; expected one of {known}",
            )
        try:
            request = message_type.FromString(data)
        except DecodeError as error:
            raise PoisonCommandError(
                "INBOX_UNDECODABLE_COMMAND",
                f"inbox event of type {event_type!r} does not decode as {event_type}: {error}",
            ) from None
        request_id = getattr(request, "request_id", "")
        if not request_id:
            raise PoisonCommandError(
                "INBOX_REQUEST_ID_REQUIRED",
                "a queued command needs a request_id: it names the reply and makes a "
                "redelivery harmless",
            )
        parse = PARSERS[message_type]
        return DecodedCommand(request_id, lambda: parse(request))

    def result(self, result: CommandResult) -> Reply:
        """A success, as the direct RPC answers it."""
        return Reply(RESULT_TYPE, mapping.result_to_proto(result).SerializeToString())

    def error(self, error: BaseException) -> Reply:
        """A failure, as the direct RPC's status (code, message, details)."""
        return Reply(STATUS_TYPE, _status_of(error).SerializeToString())

    def poison(self, error: PoisonCommandError) -> Reply:
        """An event that is no command: INVALID_ARGUMENT with the reason."""
        return Reply(STATUS_TYPE, _poison_status(error).SerializeToString())


def decode_reply(reply: Reply) -> command_pb2.CommandResult | status_pb2.Status:
    """A stored reply back as the message it holds (ValueError for any other event type)."""
    if reply.event_type == RESULT_TYPE:
        return command_pb2.CommandResult.FromString(reply.data)
    if reply.event_type == STATUS_TYPE:
        return status_pb2.Status.FromString(reply.data)
    raise ValueError(
        f"reply event type {reply.event_type!r} is neither {RESULT_TYPE} nor {STATUS_TYPE}"
    )
