"""Every error status of the command service, with its google.rpc details."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from protos.rover.v1 import command_pb2, common_pb2
from services.command.application.errors import ConcurrencyError
from services.command.bootstrap import CommandApp
from services.common.rich_errors import details_of
from standins.eventstore.server import EventStoreServer
from tests.integration.command.conftest import new_id
from tests.support.stubs import CommandStub


async def failure(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


def detail(error: grpc.aio.AioRpcError, kind: type) -> object:
    found = [d for d in details_of(error) if isinstance(d, kind)]
    assert found, f"no {kind.__name__} in {details_of(error)}"
    return found[0]


@pytest.fixture
async def grid(stub: CommandStub) -> str:
    grid_id = new_id()
    await stub.CreateGrid(
        command_pb2.CreateGridRequest(
            grid_id=grid_id, width=4, height=4, obstacles=[common_pb2.Position(x=3, y=3)]
        )
    )
    await stub.CreateRover(
        command_pb2.CreateRoverRequest(
            grid_id=grid_id,
            rover_id="r1",
            position=common_pb2.Position(x=0, y=0),
            facing=common_pb2.DIRECTION_NORTH,
        )
    )
    return grid_id


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"grid_id": "bad id!", "width": 3, "height": 3}, "grid_id"),
        ({"grid_id": "ok", "width": 0, "height": 3}, "width"),
        (
            {"grid_id": "ok", "width": 3, "height": 3, "obstacles": [{"x": 5, "y": 0}]},
            "obstacles[0]",
        ),
        ({"grid_id": "ok", "width": 3, "height": 3, "topology": 9}, "topology"),
        ({"grid_id": "ok", "width": 3, "height": 3, "request_id": "x" * 300}, "request_id"),
    ],
)
async def test_invalid_create_grid(
    stub: CommandStub, request_fields: dict[str, object], field: str
) -> None:
    obstacles = request_fields.pop("obstacles", [])
    request = command_pb2.CreateGridRequest(**request_fields)  # type: ignore[arg-type]
    for cell in obstacles:  # type: ignore[attr-defined]
        request.obstacles.add(**cell)
    error = await failure(stub.CreateGrid(request))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = detail(error, error_details_pb2.BadRequest)
    assert [v.field for v in bad.field_violations] == [field]  # type: ignore[attr-defined]


async def test_invalid_rover_requests(stub: CommandStub, grid: str) -> None:
    error = await failure(
        stub.CreateRover(
            command_pb2.CreateRoverRequest(
                grid_id=grid, rover_id="r2", position=common_pb2.Position(x=1, y=1)
            )
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert detail(error, error_details_pb2.BadRequest).field_violations[0].field == "facing"  # type: ignore[attr-defined]
    error = await failure(
        stub.ExecuteRoverCommands(
            command_pb2.ExecuteRoverCommandsRequest(grid_id=grid, rover_id="r1", commands="FFZ")
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "index 2" in (error.details() or "")


async def test_not_found_and_already_exists(stub: CommandStub, grid: str) -> None:
    error = await failure(
        stub.MoveRoverForward(command_pb2.MoveRoverForwardRequest(grid_id="nowhere", rover_id="r1"))
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert detail(error, error_details_pb2.ResourceInfo).resource_name == "grids/nowhere"  # type: ignore[attr-defined]
    error = await failure(
        stub.TurnRoverLeft(command_pb2.TurnRoverLeftRequest(grid_id=grid, rover_id="ghost"))
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    error = await failure(
        stub.CreateGrid(command_pb2.CreateGridRequest(grid_id=grid, width=2, height=2))
    )
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    error = await failure(
        stub.CreateRover(
            command_pb2.CreateRoverRequest(
                grid_id=grid,
                rover_id="r1",
                position=common_pb2.Position(x=2, y=2),
                facing=common_pb2.DIRECTION_EAST,
            )
        )
    )
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert detail(error, error_details_pb2.ErrorInfo).reason == "ROVER_ALREADY_EXISTS"  # type: ignore[attr-defined]


async def test_failed_precondition(stub: CommandStub, grid: str) -> None:
    error = await failure(
        stub.CreateRover(
            command_pb2.CreateRoverRequest(
                grid_id=grid,
                rover_id="r2",
                position=common_pb2.Position(x=3, y=3),
                facing=common_pb2.DIRECTION_EAST,
            )
        )
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    violation = detail(error, error_details_pb2.PreconditionFailure).violations[0]  # type: ignore[attr-defined]
    assert violation.type == "CELL_HAS_OBSTACLE"
    await stub.MoveRoverForward(
        command_pb2.MoveRoverForwardRequest(request_id="once", grid_id=grid, rover_id="r1")
    )
    error = await failure(
        stub.TurnRoverLeft(
            command_pb2.TurnRoverLeftRequest(request_id="once", grid_id=grid, rover_id="r1")
        )
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert detail(error, error_details_pb2.ErrorInfo).reason == "REQUEST_ID_REUSED"  # type: ignore[attr-defined]


async def test_a_block_is_not_an_error(stub: CommandStub, grid: str) -> None:
    result = await stub.MoveRoverBackward(
        command_pb2.MoveRoverBackwardRequest(grid_id=grid, rover_id="r1")
    )
    assert result.block.blocked_by == common_pb2.BLOCKED_BY_EDGE
    assert result.block.remaining_commands == "B"
    assert result.events[0].WhichOneof("payload") == "rover_blocked"


async def test_aborted_after_endless_conflicts(
    service: CommandApp, stub: CommandStub, grid: str
) -> None:
    async def conflict(*args: object, **kwargs: object) -> int:
        raise ConcurrencyError("grid-x", 0)

    service.parts.events.append = conflict  # type: ignore[method-assign]
    error = await failure(
        stub.TurnRoverLeft(command_pb2.TurnRoverLeftRequest(grid_id=grid, rover_id="r1"))
    )
    assert error.code() == grpc.StatusCode.ABORTED
    assert detail(error, error_details_pb2.ErrorInfo).reason == "CONCURRENT_MODIFICATION"  # type: ignore[attr-defined]


async def test_unavailable_when_the_store_is_down(
    eventstore: EventStoreServer, stub: CommandStub, grid: str
) -> None:
    await eventstore.stop(grace=0)
    error = await failure(
        stub.TurnRoverLeft(command_pb2.TurnRoverLeftRequest(grid_id=grid, rover_id="r1"))
    )
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    error = await failure(
        stub.TurnRoverLeft(command_pb2.TurnRoverLeftRequest(grid_id="cold", rover_id="r1"))
    )
    assert error.code() == grpc.StatusCode.UNAVAILABLE
