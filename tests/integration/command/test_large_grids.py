"""A large CreateGrid is converted off the event loop: small commands go on meanwhile.

The servicer's worker-thread step is gated here, so the order is certain: the small command
completes while the large grid is still being converted, then the large one completes too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import grpc
import pytest

from domain.values import Position
from protos.rover.v1 import command_pb2, command_pb2_grpc, common_pb2
from services.command.bootstrap import SERVICE_NAME, CommandApp
from services.command.grpc.servicer import OFFLOAD_OBSTACLES, RoverCommandServicer
from services.common.grpc_server import GrpcServer, Service
from services.common.request_limits import largest_request
from services.common.rich_errors import details_of
from tests.integration.command.conftest import new_id
from tests.support.stubs import CommandStub, command_stub

pytestmark = pytest.mark.slow

_T = TypeVar("_T")


class _Gate:
    """An offload that waits to be let through, then runs the work in a thread."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, work: Callable[[], _T]) -> _T:
        self.entered.set()
        await self.release.wait()
        return await asyncio.to_thread(work)


@pytest.fixture
async def gated(service: CommandApp) -> AsyncIterator[tuple[_Gate, CommandStub]]:
    """The service's handlers behind a second server whose large-grid step is gated."""
    gate = _Gate()
    servicer = RoverCommandServicer(service.parts.handlers, offload=gate)
    server = GrpcServer(
        "127.0.0.1:0",
        [
            Service(
                SERVICE_NAME,
                lambda s: command_pb2_grpc.add_RoverCommandServiceServicer_to_server(servicer, s),
            )
        ],
    )
    port = await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield gate, command_stub(channel)
    finally:
        gate.release.set()
        await server.stop(0)


def _largest_grid(grid_id: str) -> command_pb2.CreateGridRequest:
    request = largest_request("rover.v1.CreateGridRequest")
    assert isinstance(request, command_pb2.CreateGridRequest)
    request.grid_id, request.request_id = grid_id, new_id()
    return request


async def test_a_small_command_completes_while_a_large_grid_is_converted(
    gated: tuple[_Gate, CommandStub],
) -> None:
    gate, stub = gated
    large_id = new_id()
    large = asyncio.ensure_future(stub.CreateGrid(_largest_grid(large_id)))
    await gate.entered.wait()
    small = await stub.CreateGrid(
        command_pb2.CreateGridRequest(request_id=new_id(), grid_id=new_id(), width=5, height=5)
    )
    assert small.version == 1
    assert not large.done()  # still waiting for its conversion
    gate.release.set()
    created = await large
    assert (created.grid_id, created.version) == (large_id, 1)


async def test_a_large_grid_gets_the_answers_a_small_one_gets(
    gated: tuple[_Gate, CommandStub],
) -> None:
    gate, stub = gated
    gate.release.set()
    grid_id = new_id()
    await stub.CreateGrid(_largest_grid(grid_id))
    cells = [Position(x, 0) for x in range(OFFLOAD_OBSTACLES)] + [Position(3, 0)]
    duplicate = command_pb2.CreateGridRequest(
        request_id=new_id(),
        grid_id=new_id(),
        width=OFFLOAD_OBSTACLES,
        height=2,
        obstacles=[common_pb2.Position(x=p.x, y=p.y) for p in cells],
    )
    with pytest.raises(grpc.aio.AioRpcError) as listed_twice:
        await stub.CreateGrid(duplicate)
    duplicate.grid_id, duplicate.request_id = grid_id, new_id()
    with pytest.raises(grpc.aio.AioRpcError) as taken:
        await stub.CreateGrid(duplicate)  # the id is taken: that comes first, as for any size
    assert listed_twice.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "listed twice" in (listed_twice.value.details() or "")
    reasons = [getattr(d, "reason", "") for d in details_of(listed_twice.value)]
    assert "OBSTACLE_DUPLICATE" in reasons
    assert taken.value.code() == grpc.StatusCode.ALREADY_EXISTS
