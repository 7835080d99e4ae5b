"""Typed asyncio stubs of our gRPC services for tests and benchmarks.

The generated stubs are generic only in their .pyi files (mypy-protobuf), so the concrete
asyncio parameterisation is spelled out once here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import grpc

from protos.rover.v1 import command_pb2, command_pb2_grpc

__all__ = ["CommandStub", "command_stub"]

if TYPE_CHECKING:
    _R = command_pb2.CommandResult
    CommandStub: TypeAlias = command_pb2_grpc.RoverCommandServiceStub[
        grpc.aio.UnaryUnaryMultiCallable[command_pb2.CreateGridRequest, _R],
        grpc.aio.UnaryUnaryMultiCallable[command_pb2.CreateRoverRequest, _R],
        grpc.aio.UnaryUnaryMultiCallable[command_pb2.MoveRoverForwardRequest, _R],
        grpc.aio.UnaryUnaryMultiCallable[command_pb2.MoveRoverBackwardRequest, _R],
        grpc.aio.UnaryUnaryMultiCallable[command_pb2.TurnRoverLeftRequest, _R],
        grpc.aio.UnaryUnaryMultiCallable[command_pb2.TurnRoverRightRequest, _R],
        grpc.aio.UnaryUnaryMultiCallable[command_pb2.ExecuteRoverCommandsRequest, _R],
        grpc.aio.UnaryUnaryMultiCallable[
            command_pb2.SubmitCommandRequest, command_pb2.SubmitCommandResponse
        ],
        grpc.aio.UnaryUnaryMultiCallable[command_pb2.GetCommandResultRequest, _R],
    ]
else:
    CommandStub = command_pb2_grpc.RoverCommandServiceStub


def command_stub(channel: grpc.aio.Channel) -> CommandStub:
    """An asyncio RoverCommandService stub on ``channel``, typed as such."""
    return command_pb2_grpc.RoverCommandServiceStub(channel)
