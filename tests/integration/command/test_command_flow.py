"""The whole command service over real gRPC against the embedded event store."""

from __future__ import annotations

import asyncio
import json

import grpc
from esdbclient import AsyncEventStoreDBClient

from protos.rover.v1 import command_pb2, common_pb2
from services.command.bootstrap import CommandApp
from tests.integration.command.conftest import ServiceFactory, new_id, wait_for_integration
from tests.support.stubs import CommandStub, command_stub


async def create(stub: CommandStub, grid_id: str, **grid: object) -> None:
    await stub.CreateGrid(
        command_pb2.CreateGridRequest(grid_id=grid_id, width=5, height=5, **grid)  # type: ignore[arg-type]
    )


async def test_the_seed_flow_and_its_integration_stream(
    stub: CommandStub, esdb: AsyncEventStoreDBClient
) -> None:
    grid = new_id()
    await create(stub, grid)
    await stub.CreateRover(
        command_pb2.CreateRoverRequest(
            grid_id=grid,
            rover_id="r1",
            position=common_pb2.Position(x=0, y=0),
            facing=common_pb2.DIRECTION_NORTH,
        )
    )
    rover = {"grid_id": grid, "rover_id": "r1"}
    await stub.MoveRoverForward(command_pb2.MoveRoverForwardRequest(**rover))
    await stub.MoveRoverForward(command_pb2.MoveRoverForwardRequest(**rover))
    await stub.TurnRoverRight(command_pb2.TurnRoverRightRequest(**rover))
    await stub.MoveRoverForward(command_pb2.MoveRoverForwardRequest(**rover))

    result = await stub.MoveRoverBackward(
        command_pb2.MoveRoverBackwardRequest(request_id=new_id(), **rover)
    )

    assert result.version == 7
    assert [e.WhichOneof("payload") for e in result.events] == ["rover_moved_backward"]
    assert result.events[0].sequence == 7
    assert result.rover.position == common_pb2.Position(x=0, y=2)
    assert not result.HasField("block")

    stored = await esdb.get_stream(f"grid-{grid}")
    assert [e.type for e in stored] == [
        "GridCreated.v2",
        "RoverCreated.v1",
        "RoverMovedForward.v1",
        "RoverMovedForward.v1",
        "RoverTurnedRight.v1",
        "RoverMovedForward.v1",
        "RoverMovedBackward.v1",
    ]
    metadata = json.loads(stored[-1].metadata)
    assert metadata["command"] == "MoveRoverBackward"
    assert metadata["occurred_at"].endswith("+00:00")

    published = await wait_for_integration(esdb, grid, 7)
    assert [type(e.event).__name__ for e in published] == [
        "GridCreated",
        "RoverCreated",
        "RoverMovedForward",
        "RoverMovedForward",
        "RoverTurnedRight",
        "RoverMovedForward",
        "RoverMovedBackward",
    ]
    assert [e.sequence for e in published] == list(range(1, 8))
    # The reply's event is the published one: same id, same content.
    assert published[-1].event_id.hex == result.events[0].event_id.replace("-", "")
    raw = await esdb.get_stream(f"integration-{grid}")
    assert raw[-1].type == "rover.v1.RoverMovedBackward"
    assert raw[-1].content_type == "application/octet-stream"
    assert raw[-1].data == result.events[0].SerializeToString()


async def test_fifty_concurrent_commands_for_different_rovers(stub: CommandStub) -> None:
    grid = new_id()
    await stub.CreateGrid(command_pb2.CreateGridRequest(grid_id=grid, width=100, height=100))
    results = await asyncio.gather(
        *(
            stub.CreateRover(
                command_pb2.CreateRoverRequest(
                    grid_id=grid,
                    rover_id=f"r{i}",
                    position=common_pb2.Position(x=i, y=0),
                    facing=common_pb2.DIRECTION_NORTH,
                )
            )
            for i in range(50)
        )
    )
    moves = await asyncio.gather(
        *(
            stub.MoveRoverForward(
                command_pb2.MoveRoverForwardRequest(grid_id=grid, rover_id=f"r{i}")
            )
            for i in range(50)
        )
    )
    versions = sorted(r.version for r in [*results, *moves])
    assert versions == list(range(2, 102))
    assert all(m.rover.position.y == 1 for m in moves)


async def test_two_clients_racing_one_rover_get_consistent_answers(
    service: CommandApp, stub: CommandStub
) -> None:
    grid = new_id()
    await create(stub, grid, obstacles=[common_pb2.Position(x=0, y=3)])
    await stub.CreateRover(
        command_pb2.CreateRoverRequest(
            grid_id=grid,
            rover_id="r",
            position=common_pb2.Position(x=0, y=0),
            facing=common_pb2.DIRECTION_NORTH,
        )
    )
    async with grpc.aio.insecure_channel(service.address) as other_channel:
        other = command_stub(other_channel)
        request = command_pb2.ExecuteRoverCommandsRequest(grid_id=grid, rover_id="r", commands="FF")
        first, second = await asyncio.gather(
            stub.ExecuteRoverCommands(request), other.ExecuteRoverCommands(request)
        )
    earlier, later = sorted([first, second], key=lambda r: r.version)
    # One went first and moved two cells; the other started where it stopped and was blocked.
    assert earlier.version == 4
    assert earlier.rover.position.y == 2
    assert later.events[0].sequence == 5
    assert later.block.blocked_by == common_pb2.BLOCKED_BY_OBSTACLE
    assert later.block.position.y == 2


async def test_a_request_sent_twice_and_after_a_restart_changes_the_grid_once(
    start_service: ServiceFactory, esdb: AsyncEventStoreDBClient
) -> None:
    grid = new_id()
    service = await start_service(snapshot_interval=3)
    request = command_pb2.ExecuteRoverCommandsRequest(
        request_id="retry-me", grid_id=grid, rover_id="r", commands="RFFLF"
    )
    async with grpc.aio.insecure_channel(service.address) as channel:
        stub = command_stub(channel)
        await stub.CreateGrid(command_pb2.CreateGridRequest(grid_id=grid, width=9, height=9))
        await stub.CreateRover(
            command_pb2.CreateRoverRequest(
                grid_id=grid,
                rover_id="r",
                position=common_pb2.Position(x=1, y=1),
                facing=common_pb2.DIRECTION_NORTH,
            )
        )
        first = await stub.ExecuteRoverCommands(request)
        second = await stub.ExecuteRoverCommands(request)
        for _ in range(4):  # move on, so that a snapshot covers the request
            await stub.TurnRoverLeft(command_pb2.TurnRoverLeftRequest(grid_id=grid, rover_id="r"))
    assert second == first
    await service.stop()

    restarted = await start_service()
    async with grpc.aio.insecure_channel(restarted.address) as channel:
        third = await command_stub(channel).ExecuteRoverCommands(request)
    assert third == first
    stored = await esdb.get_stream(f"grid-{grid}")
    assert len(stored) == 2 + 5 + 4
    snapshots = await esdb.get_stream(f"gridsnapshot-{grid}", backwards=True, limit=1)
    assert json.loads(snapshots[0].data)["schema"] == 1
