"""Redis going away is UNAVAILABLE with retry advice, never UNKNOWN; it answers again after."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
import pytest
from esdbclient import AsyncEventStoreDBClient
from google.rpc import error_details_pb2

from protos.rover.v1 import query_pb2, query_pb2_grpc
from services.common.rich_errors import details_of
from tests.integration.query.conftest import ServiceFactory, publish
from tests.support.redis_server import RedisServer
from tests.unit.query.seed import seed_history

pytestmark = pytest.mark.slow

Stubs = Callable[[int], "query_pb2_grpc.RoverQueryServiceAsyncStub"]


async def test_queries_report_unavailable_while_redis_is_down(
    esdb: AsyncEventStoreDBClient, query_service: ServiceFactory, stub_factory: Stubs
) -> None:
    await publish(esdb, seed_history("g1"))
    with RedisServer() as private:
        async with query_service(redis_url=private.url) as running:
            stub = stub_factory(running.port)
            request = query_pb2.GetGridDetailsRequest(grid_id="g1", min_version=7)
            assert (await stub.GetGridDetails(request, timeout=30)).version == 7

            private.stop()
            calls: list[Awaitable[object]] = [
                stub.GetGridDetails(query_pb2.GetGridDetailsRequest(grid_id="g1"), timeout=10),
                stub.GetRover(query_pb2.GetRoverRequest(grid_id="g1", rover_id="r1"), timeout=10),
                stub.ListGrids(query_pb2.ListGridsRequest(), timeout=10),
            ]
            for call in calls:
                with pytest.raises(grpc.aio.AioRpcError) as raised:
                    await call
                assert raised.value.code() == grpc.StatusCode.UNAVAILABLE, raised.value.details()
                kinds = {type(d) for d in details_of(raised.value)}
                assert error_details_pb2.RetryInfo in kinds
                assert error_details_pb2.ErrorInfo in kinds
