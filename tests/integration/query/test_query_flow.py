"""The seed's query flow and the RPC contract, through real gRPC, Redis and the event store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from esdbclient import AsyncEventStoreDBClient
from google.rpc import error_details_pb2

from protos.rover.v1 import common_pb2, query_pb2, query_pb2_grpc
from services.common.rich_errors import details_of
from tests.integration.query.conftest import ServiceFactory, publish
from tests.unit.query.seed import seed_history

Stubs = Callable[[int], "query_pb2_grpc.RoverQueryServiceAsyncStub"]


async def test_the_seed_flow_is_visible_at_version_7(
    esdb: AsyncEventStoreDBClient, query_service: ServiceFactory, stub_factory: Stubs
) -> None:
    await publish(esdb, seed_history("plateau"))
    async with query_service() as running:
        stub = stub_factory(running.port)
        grid = await stub.GetGridDetails(
            query_pb2.GetGridDetailsRequest(grid_id="plateau", min_version=7), timeout=30
        )
        assert grid.version == 7
        assert (grid.width, grid.height, grid.topology) == (6, 6, common_pb2.TOPOLOGY_BOUNDED)
        assert [(p.x, p.y) for p in grid.obstacles] == [(0, 5), (4, 4)]
        assert len(grid.rovers) == 1
        rover = grid.rovers[0]
        assert (rover.rover_id, rover.position.x, rover.position.y) == ("r1", 1, 4)
        assert rover.facing == common_pb2.DIRECTION_EAST

        got = await stub.GetRover(query_pb2.GetRoverRequest(grid_id="plateau", rover_id="r1"))
        assert (got.grid_id, got.version, got.rover) == ("plateau", 7, rover)

        listed = await stub.ListGrids(query_pb2.ListGridsRequest())
        assert [(g.grid_id, g.rover_count, g.version) for g in listed.grids] == [("plateau", 1, 7)]
        assert listed.next_page_token == ""


async def test_errors_map_to_statuses_with_details(
    esdb: AsyncEventStoreDBClient, query_service: ServiceFactory, stub_factory: Stubs
) -> None:
    await publish(esdb, seed_history("g1"))
    async with query_service(query_min_version_wait_seconds=0.2) as running:
        stub = stub_factory(running.port)
        await stub.GetGridDetails(query_pb2.GetGridDetailsRequest(grid_id="g1", min_version=7))

        async def code_of(call: object) -> tuple[grpc.StatusCode, list[Any]]:
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await call  # type: ignore[misc]
            return raised.value.code(), details_of(raised.value)

        code, _ = await code_of(stub.GetGridDetails(query_pb2.GetGridDetailsRequest(grid_id="x")))
        assert code == grpc.StatusCode.NOT_FOUND
        code, _ = await code_of(
            stub.GetRover(query_pb2.GetRoverRequest(grid_id="g1", rover_id="r2"))
        )
        assert code == grpc.StatusCode.NOT_FOUND
        code, details = await code_of(
            stub.GetGridDetails(query_pb2.GetGridDetailsRequest(grid_id="bad/id"))
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert any(
            isinstance(d, error_details_pb2.BadRequest) and d.field_violations[0].field == "grid_id"
            for d in details
        )
        code, details = await code_of(
            stub.ListGrids(query_pb2.ListGridsRequest(page_token="not-a-token"))
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert any(isinstance(d, error_details_pb2.BadRequest) for d in details)
        code, _ = await code_of(stub.ListGrids(query_pb2.ListGridsRequest(page_size=-1)))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        # min_version beyond what exists: the server's limit (0.2 s) passes first -> retry
        code, details = await code_of(
            stub.GetGridDetails(query_pb2.GetGridDetailsRequest(grid_id="g1", min_version=8))
        )
        assert code == grpc.StatusCode.UNAVAILABLE
        assert any(isinstance(d, error_details_pb2.RetryInfo) for d in details)
        # ... or the call's own deadline, when it is the shorter one
        code, _ = await code_of(
            stub.GetGridDetails(
                query_pb2.GetGridDetailsRequest(grid_id="g1", min_version=8), timeout=0.05
            )
        )
        assert code == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_list_grids_pages_through_every_grid(
    esdb: AsyncEventStoreDBClient, query_service: ServiceFactory, stub_factory: Stubs
) -> None:
    names = [f"grid-{i:02d}" for i in range(12)]
    for name in reversed(names):
        await publish(esdb, seed_history(name)[:2])
    async with query_service() as running:
        stub = stub_factory(running.port)
        await stub.GetGridDetails(
            query_pb2.GetGridDetailsRequest(grid_id=names[0], min_version=2), timeout=30
        )
        seen: list[str] = []
        token = ""
        while True:
            page = await stub.ListGrids(query_pb2.ListGridsRequest(page_size=5, page_token=token))
            seen += [g.grid_id for g in page.grids]
            token = page.next_page_token
            if not token:
                break
        assert seen == names
