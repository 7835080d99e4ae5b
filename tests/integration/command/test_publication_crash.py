"""Kill the service between storing and publishing: after a restart, exactly one of each."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from esdbclient import AsyncEventStoreDBClient

from protos.rover.v1 import command_pb2, common_pb2
from services.common.envelope import integration_event_id
from standins.eventstore.process import EventStoreProcess
from tests.integration.command.conftest import new_id, wait_for_integration
from tests.integration.command.process import CommandProcess
from tests.support.stubs import command_stub

pytestmark = pytest.mark.slow


@pytest.fixture
def store_process() -> Iterator[EventStoreProcess]:
    process = EventStoreProcess(db_path=None).start()
    yield process
    process.kill()


@pytest.fixture
async def esdb(store_process: EventStoreProcess) -> AsyncIterator[AsyncEventStoreDBClient]:
    client = AsyncEventStoreDBClient(store_process.uri)
    await client.connect()
    yield client
    await client.close()


async def drive(address: str, grid_id: str) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = command_stub(channel)
        await stub.CreateGrid(command_pb2.CreateGridRequest(grid_id=grid_id, width=20, height=20))
        await stub.CreateRover(
            command_pb2.CreateRoverRequest(
                grid_id=grid_id,
                rover_id="r",
                position=common_pb2.Position(x=5, y=5),
                facing=common_pb2.DIRECTION_NORTH,
            )
        )
        await stub.ExecuteRoverCommands(
            command_pb2.ExecuteRoverCommandsRequest(grid_id=grid_id, rover_id="r", commands="FRFLB")
        )
        for _ in range(5):
            await stub.TurnRoverLeft(
                command_pb2.TurnRoverLeftRequest(grid_id=grid_id, rover_id="r")
            )


async def assert_published_exactly_once(client: AsyncEventStoreDBClient, grid_id: str) -> None:
    domain = await client.get_stream(f"grid-{grid_id}")
    published = await wait_for_integration(client, grid_id, len(domain))
    assert [e.event_id for e in published] == [integration_event_id(d.id) for d in domain]
    assert [e.sequence for e in published] == list(range(1, len(domain) + 1))


async def test_a_killed_service_publishes_everything_once_after_restart(
    store_process: EventStoreProcess, esdb: AsyncEventStoreDBClient
) -> None:
    uri = store_process.uri
    unpublished, unsaved, after = new_id(), new_id(), new_id()

    # 1. Stored, never published: the publisher is off, then the process dies.
    first = CommandProcess(uri, ROVER_PUBLISHER_ENABLED="false").start()
    await drive(first.address, unpublished)
    first.kill()
    assert await esdb.get_stream(f"grid-{unpublished}")

    # 2. Published, checkpoint never saved: a restart must replay without duplicating.
    second = CommandProcess(
        uri,
        ROVER_PUBLISHER_CHECKPOINT_EVERY="1000000",
        ROVER_PUBLISHER_CHECKPOINT_SECONDS="3600",
    ).start()
    await drive(second.address, unsaved)
    await assert_published_exactly_once(esdb, unsaved)
    second.kill()

    # 3. A normal restart: after its own grid is published, everything before it is too.
    third = CommandProcess(uri).start()
    try:
        await drive(third.address, after)
        for grid_id in (after, unpublished, unsaved):
            await assert_published_exactly_once(esdb, grid_id)
    finally:
        third.kill()
    assert "diverges" not in third.log()
