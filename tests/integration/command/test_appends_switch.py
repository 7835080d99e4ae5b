"""Command appends: pooled by default; stock when switched off or when esdbclient moved them."""

from __future__ import annotations

import grpc
import pytest
from esdbclient import AsyncEventStoreDBClient
from structlog.testing import capture_logs

from protos.rover.v1 import command_pb2, common_pb2
from services.command.adapters.esdb_appends import StockAppender
from services.command.adapters.pooled_appends import PooledAppender
from services.command.bootstrap import CommandApp
from tests.integration.command.conftest import ServiceFactory, new_id, wait_for_integration
from tests.integration.command.test_pooled_appends import MOVABLE, move_internal
from tests.support.stubs import command_stub


async def _drive(service: CommandApp, esdb: AsyncEventStoreDBClient) -> None:
    """Create a grid and a rover, move it, race a stale append: all over real gRPC."""
    grid = new_id()
    async with grpc.aio.insecure_channel(service.address) as channel:
        stub = command_stub(channel)
        await stub.CreateGrid(command_pb2.CreateGridRequest(grid_id=grid, width=4, height=4))
        await stub.CreateRover(
            command_pb2.CreateRoverRequest(
                grid_id=grid,
                rover_id="r1",
                position=common_pb2.Position(x=0, y=0),
                facing=common_pb2.DIRECTION_NORTH,
            )
        )
        result = await stub.MoveRoverForward(
            command_pb2.MoveRoverForwardRequest(grid_id=grid, rover_id="r1")
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateGrid(command_pb2.CreateGridRequest(grid_id=grid, width=4, height=4))
    assert result.version == 3
    assert result.rover.position == common_pb2.Position(x=0, y=1)
    assert caught.value.code() is grpc.StatusCode.ALREADY_EXISTS
    assert [e.type for e in await esdb.get_stream(f"grid-{grid}")] == [
        "GridCreated.v2",
        "RoverCreated.v1",
        "RoverMovedForward.v1",
    ]
    assert len(await wait_for_integration(esdb, grid, 3)) == 3  # the publisher appended too


def _appender(service: CommandApp) -> object:
    return service.parts.events._appender  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", MOVABLE)
async def test_a_moved_internal_leaves_the_service_working_on_the_stock_path(
    start_service: ServiceFactory,
    esdb: AsyncEventStoreDBClient,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    move_internal(monkeypatch, name)
    with capture_logs() as logs:
        service = await start_service()
        await _drive(service, esdb)
    warnings = [r for r in logs if r["log_level"] == "warning"]
    assert len(warnings) == 1
    assert "append_to_stream" in str(warnings[0]["event"])
    appender = _appender(service)
    assert isinstance(appender, PooledAppender)
    assert not appender.pooled


async def test_appends_are_pooled_by_default(
    start_service: ServiceFactory, esdb: AsyncEventStoreDBClient
) -> None:
    with capture_logs() as logs:
        service = await start_service()
        await _drive(service, esdb)
    assert [r for r in logs if r["log_level"] == "warning"] == []
    appender = _appender(service)
    assert isinstance(appender, PooledAppender)
    assert appender.pooled


async def test_the_setting_switches_to_stock_appends(
    start_service: ServiceFactory, esdb: AsyncEventStoreDBClient
) -> None:
    service = await start_service(command_pooled_appends=False)
    await _drive(service, esdb)
    assert isinstance(_appender(service), StockAppender)
    assert service.parts.integration._appender is _appender(service)  # type: ignore[attr-defined]
