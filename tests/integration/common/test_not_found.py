"""On the wire, command, query and broadcaster answer a missing grid or rover with one shape."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from protos.rover.v1 import command_pb2, live_pb2, live_pb2_grpc, query_pb2, query_pb2_grpc
from services.broadcaster.bootstrap import build as build_broadcaster
from services.broadcaster.settings import BroadcasterSettings
from services.command.bootstrap import build as build_command
from services.command.settings import CommandSettings
from services.common.rich_errors import details_of
from services.query.bootstrap import build as build_query
from services.query.settings import QuerySettings
from standins.eventstore.server import EventStoreServer
from tests.support.redis_server import redis_server, redis_url  # noqa: F401
from tests.support.stubs import command_stub

Shape = tuple[grpc.StatusCode, str, list[Message]]


@contextlib.asynccontextmanager
async def _three_services(store: str, redis: str) -> AsyncIterator[tuple[str, str, str]]:
    """Command, query and broadcaster on 127.0.0.1 port 0; yields their targets."""
    command = build_command(CommandSettings(command_address="127.0.0.1:0", eventstore_uri=store))
    await command.start()
    broadcaster = build_broadcaster(
        BroadcasterSettings(broadcaster_address="127.0.0.1:0", eventstore_uri=store)
    )
    await broadcaster.start()
    settings = QuerySettings(query_address="127.0.0.1:0", eventstore_uri=store, redis_url=redis)
    try:
        await broadcaster.parts.hub.wait_live()
        async with build_query(settings) as query:
            yield command.address, f"127.0.0.1:{query.port}", f"127.0.0.1:{broadcaster.port}"
    finally:
        await broadcaster.stop(grace=0.5)
        await command.stop(grace=0.5)


async def _finish(call: Any) -> None:
    if hasattr(call, "__aiter__"):
        async for _ in call:
            pass
    else:
        await call


async def _shape(call: Any) -> Shape:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _finish(call)
    error = raised.value
    return error.code(), error.details() or "", details_of(error)


async def test_every_service_gives_one_not_found_shape(
    eventstore: EventStoreServer,
    redis_url: str,  # noqa: F811
) -> None:
    async with (
        _three_services(eventstore.uri, redis_url) as (command, query, live),
        grpc.aio.insecure_channel(command) as command_channel,
        grpc.aio.insecure_channel(query) as query_channel,
        grpc.aio.insecure_channel(live) as live_channel,
    ):
        commands = command_stub(command_channel)
        queries: Any = query_pb2_grpc.RoverQueryServiceStub(query_channel)
        watches: Any = live_pb2_grpc.RoverLiveServiceStub(live_channel)

        missing_grid = [
            await _shape(
                commands.MoveRoverForward(
                    command_pb2.MoveRoverForwardRequest(grid_id="nowhere", rover_id="r1")
                )
            ),
            await _shape(
                queries.GetGridDetails(query_pb2.GetGridDetailsRequest(grid_id="nowhere"))
            ),
            await _shape(watches.WatchGrid(live_pb2.WatchGridRequest(grid_id="nowhere"))),
        ]
        assert missing_grid == [missing_grid[0]] * 3
        code, message, details = missing_grid[0]
        assert (code, message) == (grpc.StatusCode.NOT_FOUND, "grid 'nowhere' does not exist")
        info, resource = details
        assert isinstance(info, error_details_pb2.ErrorInfo)
        assert (info.reason, info.domain) == ("GRID_NOT_FOUND", "rover.v1")
        assert isinstance(resource, error_details_pb2.ResourceInfo)
        assert (resource.resource_type, resource.resource_name) == (
            "rover.v1.Grid",
            "grids/nowhere",
        )

        created = await commands.CreateGrid(
            command_pb2.CreateGridRequest(grid_id="g1", width=3, height=3)
        )
        await queries.GetGridDetails(
            query_pb2.GetGridDetailsRequest(grid_id="g1", min_version=created.version)
        )
        missing_rover = [
            await _shape(
                commands.TurnRoverLeft(
                    command_pb2.TurnRoverLeftRequest(grid_id="g1", rover_id="r9")
                )
            ),
            await _shape(queries.GetRover(query_pb2.GetRoverRequest(grid_id="g1", rover_id="r9"))),
        ]
        assert missing_rover[0] == missing_rover[1]
        code, message, details = missing_rover[0]
        assert (code, message) == (grpc.StatusCode.NOT_FOUND, "grid 'g1' has no rover 'r9'")
        assert isinstance(details[1], error_details_pb2.ResourceInfo)
        assert details[1].resource_name == "grids/g1/rovers/r9"
