"""Fixtures: the embedded event store and the command service on loopback, in the test's loop.

gRPC's asyncio poller serves one event loop per process, so the store, the service and the
clients all run in the test's loop (crash tests run the service as a child process instead).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, TypeAlias

import grpc
import pytest
from esdbclient import AsyncEventStoreDBClient
from esdbclient.exceptions import NotFound

from protos.rover.v1 import command_pb2, command_pb2_grpc
from services.command.bootstrap import CommandService, create_service
from services.command.settings import CommandSettings
from services.common.envelope import Envelope
from services.common.integration import decode_integration_event
from services.eventstore.server import EventStoreServer

ServiceFactory = Callable[..., Awaitable[CommandService]]
if TYPE_CHECKING:  # the generated stub is generic only in its .pyi
    _R = command_pb2.CommandResult
    Stub: TypeAlias = command_pb2_grpc.RoverCommandServiceStub[
        grpc.aio.UnaryUnaryMultiCallable[command_pb2.CreateGridRequest, _R],
        grpc.aio.UnaryUnaryMultiCallable[command_pb2.CreateRoverRequest, _R],
        grpc.aio.UnaryUnaryMultiCallable[command_pb2.MoveRoverForwardRequest, _R],
        grpc.aio.UnaryUnaryMultiCallable[command_pb2.MoveRoverBackwardRequest, _R],
        grpc.aio.UnaryUnaryMultiCallable[command_pb2.TurnRoverLeftRequest, _R],
        grpc.aio.UnaryUnaryMultiCallable[command_pb2.TurnRoverRightRequest, _R],
        grpc.aio.UnaryUnaryMultiCallable[command_pb2.ExecuteRoverCommandsRequest, _R],
    ]
else:
    Stub = command_pb2_grpc.RoverCommandServiceStub


def make_stub(channel: grpc.aio.Channel) -> Stub:
    """An asyncio stub, typed as such."""
    return command_pb2_grpc.RoverCommandServiceStub(channel)


@pytest.fixture
async def eventstore() -> AsyncIterator[EventStoreServer]:
    async with EventStoreServer(db_path=None, port=0) as server:
        yield server


@pytest.fixture
async def esdb(eventstore: EventStoreServer) -> AsyncIterator[AsyncEventStoreDBClient]:
    client = AsyncEventStoreDBClient(eventstore.uri)
    await client.connect()
    yield client
    await client.close()


@pytest.fixture
async def start_service(eventstore: EventStoreServer) -> AsyncIterator[ServiceFactory]:
    """Start command services on port 0 against the store; all stopped after the test."""
    started: list[CommandService] = []

    async def start(**overrides: object) -> CommandService:
        settings = CommandSettings(
            command_address="127.0.0.1:0",
            eventstore_uri=eventstore.uri,
            shutdown_grace_seconds=1.0,
            **overrides,  # type: ignore[arg-type]
        )
        service = await create_service(settings)
        await service.start()
        started.append(service)
        return service

    yield start
    for service in started:
        await service.stop()


@pytest.fixture
async def service(start_service: ServiceFactory) -> CommandService:
    return await start_service()


@pytest.fixture
async def stub(service: CommandService) -> AsyncIterator[Stub]:
    async with grpc.aio.insecure_channel(service.address) as channel:
        yield make_stub(channel)


def new_id() -> str:
    return uuid.uuid4().hex[:12]


async def integration_events(client: AsyncEventStoreDBClient, grid_id: str) -> list[Envelope]:
    try:
        recorded = await client.get_stream(f"integration-{grid_id}")
    except NotFound:
        return []
    return [decode_integration_event(r.data) for r in recorded]


async def wait_for_integration(
    client: AsyncEventStoreDBClient, grid_id: str, count: int
) -> list[Envelope]:
    """Follow ``integration-{id}`` until it holds ``count`` events (no timing asserted)."""
    found = await integration_events(client, grid_id)
    if len(found) >= count:
        return found
    subscription = await client.subscribe_to_stream(f"integration-{grid_id}")
    async with subscription:
        async for _ in subscription:
            found = await integration_events(client, grid_id)
            if len(found) >= count:
                break
    return found
