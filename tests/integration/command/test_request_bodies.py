"""Request bodies at the edges: the largest valid one is served, one byte more is refused unread,
undecodable bytes are INVALID_ARGUMENT with details, and counts are checked before conversion."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from domain.rules import MAX_OBSTACLES
from protos.rover.v1 import command_pb2, common_pb2
from services.command.bootstrap import CommandApp
from services.common.request_decoding import MALFORMED_REASON
from services.common.request_limits import largest_request
from services.common.rich_errors import details_of
from tests.support.stubs import CommandStub

pytestmark = pytest.mark.slow

_CREATE_GRID = "/rover.v1.RoverCommandService/CreateGrid"


async def _raw_create_grid(service: CommandApp, body: bytes) -> grpc.aio.AioRpcError:
    async with grpc.aio.insecure_channel(service.address) as channel:
        call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(_CREATE_GRID)
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await call(body)
    return failed.value


async def test_the_largest_valid_create_grid_is_the_limit_and_is_served(
    service: CommandApp, stub: CommandStub
) -> None:
    request = largest_request("rover.v1.CreateGridRequest")
    assert isinstance(request, command_pb2.CreateGridRequest)
    # The limit is the largest request of the service: a SubmitCommand of that CreateGrid.
    submitted = largest_request("rover.v1.SubmitCommandRequest")
    assert isinstance(submitted, command_pb2.SubmitCommandRequest)
    assert submitted.create_grid == request
    assert service.server.max_receive_size == submitted.ByteSize() > request.ByteSize()
    result = await stub.CreateGrid(request)
    assert result.version == 1
    assert len(result.events[0].grid_created.obstacles) == MAX_OBSTACLES


async def test_one_byte_over_the_limit_is_resource_exhausted(service: CommandApp) -> None:
    error = await _raw_create_grid(service, b"\x00" * (service.server.max_receive_size + 1))
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.mark.parametrize("body", [b"\xff", b"\x0a\x05ab", b"\x32\x80", b"\x00" * 4096])
async def test_undecodable_bodies_are_invalid_argument_with_details(
    service: CommandApp, body: bytes
) -> None:
    error = await _raw_create_grid(service, body)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "rover.v1.CreateGridRequest" in (error.details() or "")
    details = details_of(error)
    assert [type(d) for d in details] == [
        error_details_pb2.BadRequest,
        error_details_pb2.ErrorInfo,
    ]
    info = details[1]
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert info.reason == MALFORMED_REASON


async def test_too_many_obstacles_are_refused_by_count(stub: CommandStub) -> None:
    # Empty positions are the cheapest obstacles on the wire: many more than the cap fit.
    request = command_pb2.CreateGridRequest(
        request_id="many",
        grid_id="many",
        width=10,
        height=10,
        obstacles=[common_pb2.Position()] * (MAX_OBSTACLES + 1),
    )
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await stub.CreateGrid(request)
    assert failed.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    info = [d for d in details_of(failed.value) if isinstance(d, error_details_pb2.ErrorInfo)]
    assert info[0].reason == "TOO_MANY_OBSTACLES"
