"""Fixtures: the embedded event store and the command service on loopback, in the test's loop.

gRPC's asyncio poller serves one event loop per process, so the store, the service and the
clients all run in the test's loop (crash tests run the service as a child process instead).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest
from esdbclient import AsyncEventStoreDBClient
from esdbclient.exceptions import NotFound

from protos.rover.v1 import command_pb2, common_pb2
from services.command.bootstrap import CommandApp, build
from services.command.settings import CommandSettings
from services.common.envelope import Envelope
from services.common.integration import decode_integration_event
from standins.eventstore.server import EventStoreServer
from tests.support.stubs import CommandStub, command_stub

ServiceFactory = Callable[..., Awaitable[CommandApp]]
TEST_INTEGRATION_KEY = "the-command-tests-integration-key"


@pytest.fixture
async def start_service(eventstore: EventStoreServer) -> AsyncIterator[ServiceFactory]:
    """Start command services on port 0 against the store (signing integration events with
    ``TEST_INTEGRATION_KEY`` unless told otherwise); all stopped after the test."""
    started: list[CommandApp] = []

    async def start(**overrides: object) -> CommandApp:
        values: dict[str, object] = {
            "integration_keys": TEST_INTEGRATION_KEY
        }  # signed, as in production
        values.update(overrides)
        settings = CommandSettings(
            command_address="127.0.0.1:0",
            eventstore_uri=eventstore.uri,
            shutdown_grace_seconds=1.0,
            **values,  # type: ignore[arg-type]
        )
        service = build(settings)
        await service.start()
        started.append(service)
        return service

    yield start
    for service in started:
        await service.stop()


@pytest.fixture
async def service(start_service: ServiceFactory) -> CommandApp:
    return await start_service()


@pytest.fixture
async def stub(service: CommandApp) -> AsyncIterator[CommandStub]:
    async with grpc.aio.insecure_channel(service.address) as channel:
        yield command_stub(channel)


def new_id() -> str:
    return uuid.uuid4().hex[:12]


async def grid_with_rover(stub: CommandStub, rover_id: str = "r1") -> str:
    """A new 9 x 9 grid with one rover at (0, 0) facing north; its id."""
    grid = new_id()
    await stub.CreateGrid(command_pb2.CreateGridRequest(grid_id=grid, width=9, height=9))
    await stub.CreateRover(
        command_pb2.CreateRoverRequest(
            grid_id=grid,
            rover_id=rover_id,
            position=common_pb2.Position(x=0, y=0),
            facing=common_pb2.DIRECTION_NORTH,
        )
    )
    return grid


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
