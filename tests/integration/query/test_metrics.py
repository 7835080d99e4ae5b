"""The query service's /metrics over HTTP: RPCs, the projector, its lag, a rebuild, parked."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest
from esdbclient import AsyncEventStoreDBClient

from protos.rover.v1 import query_pb2, query_pb2_grpc
from services.query.application.rebuild import RebuildProgress, rebuild
from tests.integration.query.conftest import ServiceFactory, publish
from tests.support.metrics import Scrape, scrape, scrape_until
from tests.unit.query.seed import seed_history

Stubs = Callable[[int], "query_pb2_grpc.RoverQueryServiceAsyncStub"]
SERVICE = "rover.v1.RoverQueryService"


def details(scraped: Scrape, code: str) -> float:
    return scraped.value(
        "grpc_server_handled_total",
        grpc_type="unary",
        grpc_service=SERVICE,
        grpc_method="GetGridDetails",
        grpc_code=code,
    )


async def _measured(url: str, ready: Callable[[Scrape], bool]) -> Scrape:
    """Scrape until measured and ``ready`` (the lag monitor measures every interval)."""
    return await scrape_until(url, lambda s: s.has("rover_projector_lag_events") and ready(s))


async def test_projection_queries_lag_and_rebuild_move_their_metrics(
    esdb: AsyncEventStoreDBClient, query_service: ServiceFactory, stub_factory: Stubs
) -> None:
    await publish(esdb, seed_history("plateau"))  # seven events
    metered = {"query_metrics_address": "127.0.0.1:0", "query_lag_interval_seconds": 0.05}
    # An instance that does not project: the read model is seven events behind the store.
    async with query_service(query_projector_enabled=False, **metered) as idle:
        behind = await _measured(idle.metrics.url, lambda s: True)
        assert behind.value("rover_projector_lag_events") == 7
        assert behind.value("rover_projector_lag_seconds") >= 0
        assert behind.value("rover_projector_active") == 0
        assert behind.value("rover_projector_events_applied_total") == 0

    async with query_service(**metered) as running:
        url = running.metrics.url
        stub = stub_factory(running.port)
        await stub.GetGridDetails(
            query_pb2.GetGridDetailsRequest(grid_id="plateau", min_version=7), timeout=30
        )
        # Caught up: nothing behind, nothing waiting; all seven applied by this projector.
        scraped = await _measured(url, lambda s: s.value("rover_projector_lag_events") == 0)
        assert scraped.value("rover_projector_active") == 1
        assert scraped.value("rover_projector_events_applied_total") == 7
        assert scraped.value("rover_projector_lag_seconds") == 0
        assert scraped.value("rover_parked_events", consumer="projector") == 0
        assert not scraped.has("rover_rebuild_progress_ratio")  # no rebuild ran here
        assert details(scraped, "OK") == 1

        with pytest.raises(grpc.aio.AioRpcError):
            await stub.GetGridDetails(query_pb2.GetGridDetailsRequest(grid_id="elsewhere"))
        # An aborted call is counted just after its status is sent: scrape until it shows.
        after = await scrape_until(url, lambda s: details(s, "NOT_FOUND") > 0)
        assert details(after, "NOT_FOUND") == 1
        assert details(after, "OK") == 1

        # A rebuild reports its progress through QueryParts.rebuild, set by on_progress (as
        # the admin rebuild does).
        def progressed(progress: RebuildProgress) -> None:
            running.parts.rebuild = progress

        result = await rebuild(running.parts.feed, running.parts.read_model, on_progress=progressed)
        rebuilt = await scrape(url)
        assert rebuilt.value("rover_rebuild_events") == result.events == 7
        assert rebuilt.value("rover_rebuild_progress_ratio") == 1
