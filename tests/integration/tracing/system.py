"""The three services in this test's event loop, on one store and one Redis, with clients.

Tracing is whatever the test turned on before ``running_system`` (``tracing_setup.enable``):
servers pick their interceptor when they start, and the clients' channels carry the
OpenTelemetry client interceptors when tracing is on, so each call's server span continues
the caller's trace.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc

from protos.rover.v1 import command_pb2, common_pb2, query_pb2, query_pb2_grpc
from services.broadcaster.bootstrap import BroadcasterApp
from services.broadcaster.bootstrap import build as build_broadcaster
from services.broadcaster.settings import BroadcasterSettings
from services.command.bootstrap import CommandApp
from services.command.bootstrap import build as build_command
from services.command.settings import CommandSettings
from services.common.tracing_setup import client_interceptors
from services.query.bootstrap import QueryApp
from services.query.bootstrap import build as build_query
from services.query.settings import QuerySettings
from tests.support.stubs import CommandStub, command_stub

__all__ = ["System", "running_system"]

SAFETY = 60.0  # every call's deadline: a bug fails the test instead of hanging it


@dataclass
class System:
    """Running services and stubs of the command and query services."""

    command: CommandApp
    query: QueryApp
    broadcaster: BroadcasterApp
    commands: CommandStub
    queries: query_pb2_grpc.RoverQueryServiceAsyncStub
    live_address: str

    async def create_grid_with_rover(self, grid_id: str) -> None:
        """A grid and its rover "r1" at (0, 0) facing north (versions 1 and 2)."""
        await self.commands.CreateGrid(
            command_pb2.CreateGridRequest(
                request_id=uuid.uuid4().hex, grid_id=grid_id, width=10, height=10
            ),
            timeout=SAFETY,
        )
        await self.commands.CreateRover(
            command_pb2.CreateRoverRequest(
                request_id=uuid.uuid4().hex,
                grid_id=grid_id,
                rover_id="r1",
                position=common_pb2.Position(x=0, y=0),
                facing=common_pb2.DIRECTION_NORTH,
            ),
            timeout=SAFETY,
        )
        await self.visible(grid_id, 2)

    async def visible(self, grid_id: str, version: int) -> common_pb2.GridDetails:
        """Wait until the query service has projected ``version`` of the grid."""
        return await self.queries.GetGridDetails(
            query_pb2.GetGridDetailsRequest(grid_id=grid_id, min_version=version),
            timeout=SAFETY,
        )


@contextlib.asynccontextmanager
async def running_system(esdb_uri: str, redis_url: str) -> AsyncIterator[System]:
    """Command (with its publisher), query (with its projector) and broadcaster, started."""
    command = build_command(
        CommandSettings(
            command_address="127.0.0.1:0", eventstore_uri=esdb_uri, shutdown_grace_seconds=0.5
        )
    )
    query = build_query(
        QuerySettings(
            eventstore_uri=esdb_uri,
            redis_url=redis_url,
            redis_key_prefix=f"tracing-{uuid.uuid4().hex[:8]}",
            query_address="127.0.0.1:0",
            shutdown_grace_seconds=0.5,
        )
    )
    broadcaster = build_broadcaster(
        BroadcasterSettings(
            broadcaster_address="127.0.0.1:0",
            eventstore_uri=esdb_uri,
            shutdown_grace_seconds=0.5,
        )
    )
    async with contextlib.AsyncExitStack() as stack:
        for app in (command, query, broadcaster):
            await app.start()
            stack.push_async_callback(app.stop)
        await broadcaster.parts.hub.wait_live()
        interceptors = client_interceptors()
        command_channel = grpc.aio.insecure_channel(command.address, interceptors=interceptors)
        query_channel = grpc.aio.insecure_channel(query.address, interceptors=interceptors)
        stack.push_async_callback(command_channel.close)
        stack.push_async_callback(query_channel.close)
        queries: query_pb2_grpc.RoverQueryServiceAsyncStub = query_pb2_grpc.RoverQueryServiceStub(
            query_channel
        )
        yield System(
            command=command,
            query=query,
            broadcaster=broadcaster,
            commands=command_stub(command_channel),
            queries=queries,
            live_address=broadcaster.address,
        )
