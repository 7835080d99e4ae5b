"""The command service's /metrics, scraped over HTTP from two running instances."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from esdbclient import AsyncEventStoreDBClient

from protos.rover.v1 import command_pb2, common_pb2
from services.command.bootstrap import CommandApp
from tests.integration.command.conftest import ServiceFactory, new_id
from tests.support.metrics import Scrape, scrape, scrape_until
from tests.support.stubs import CommandStub, command_stub

SERVICE = "rover.v1.RoverCommandService"


def handled(scraped: Scrape, method: str, code: str) -> float:
    return scraped.value(
        "grpc_server_handled_total",
        grpc_type="unary",
        grpc_service=SERVICE,
        grpc_method=method,
        grpc_code=code,
    )


async def _turn(stub: CommandStub, grid: str) -> None:
    await stub.TurnRoverLeft(command_pb2.TurnRoverLeftRequest(grid_id=grid, rover_id="r1"))


async def _publishing(*apps: CommandApp) -> tuple[CommandApp, Scrape]:
    """The instance that holds the publisher's lease, once it has measured its lag."""
    for _ in range(1_500):
        for app in apps:
            scraped = await scrape(app.metrics.url)
            if scraped.value("rover_publisher_active") == 1 and scraped.has(
                "rover_publisher_lag_events"
            ):
                return app, scraped
        await asyncio.sleep(0.02)
    raise AssertionError("no instance took the publisher's lease")


async def test_commands_conflicts_aborts_and_the_publisher_move_their_metrics(
    start_service: ServiceFactory, esdb: AsyncEventStoreDBClient
) -> None:
    patient = await start_service(
        command_metrics_address="127.0.0.1:0", publisher_lag_interval_seconds=0.05
    )
    hasty = await start_service(
        command_metrics_address="127.0.0.1:0",
        publisher_lag_interval_seconds=0.05,
        command_max_attempts=1,  # its first conflict is answered ABORTED
    )
    grid = new_id()
    async with (
        grpc.aio.insecure_channel(patient.address) as first,
        grpc.aio.insecure_channel(hasty.address) as second,
    ):
        a, b = command_stub(first), command_stub(second)
        before = await scrape(patient.metrics.url)
        await a.CreateGrid(command_pb2.CreateGridRequest(grid_id=grid, width=5, height=5))
        after = await scrape(patient.metrics.url)
        assert after.value("rover_command_appends_total") == (
            before.value("rover_command_appends_total") + 1
        )
        assert handled(after, "CreateGrid", "OK") == handled(before, "CreateGrid", "OK") + 1
        assert (
            after.value(
                "grpc_server_started_total",
                grpc_type="unary",
                grpc_service=SERVICE,
                grpc_method="CreateGrid",
            )
            == 1
        )
        assert (
            after.value(
                "grpc_server_handling_seconds_count",
                grpc_type="unary",
                grpc_service=SERVICE,
                grpc_method="CreateGrid",
            )
            == 1
        )
        await a.CreateRover(
            command_pb2.CreateRoverRequest(
                grid_id=grid,
                rover_id="r1",
                position=common_pb2.Position(x=0, y=0),
                facing=common_pb2.DIRECTION_NORTH,
            )
        )
        # A client mistake is counted with its status (NOT_FOUND), not as a failure of ours.
        with pytest.raises(grpc.aio.AioRpcError):
            await _turn(a, new_id())
        # (an aborted call is counted just after its status is sent: scrape until it shows)
        await scrape_until(
            patient.metrics.url, lambda s: handled(s, "TurnRoverLeft", "NOT_FOUND") == 1
        )

        await _turn(b, grid)  # the hasty instance now caches the grid
        await _turn(a, grid)  # the patient one's cache is stale: conflict, retry, success
        patient_now = await scrape(patient.metrics.url)
        assert patient_now.value("rover_command_append_conflicts_total") == 1
        assert patient_now.value("rover_command_retries_total") == 1
        assert patient_now.value("rover_command_aborted_total") == 0
        assert patient_now.value("rover_command_appends_total") == 3

        with pytest.raises(grpc.aio.AioRpcError) as aborted:
            await _turn(b, grid)  # the hasty one's cache is stale: one conflict, ABORTED
        assert aborted.value.code() is grpc.StatusCode.ABORTED
        hasty_now = await scrape_until(
            hasty.metrics.url, lambda s: handled(s, "TurnRoverLeft", "ABORTED") > 0
        )
        assert hasty_now.value("rover_command_append_conflicts_total") == 1
        assert hasty_now.value("rover_command_retries_total") == 0
        assert hasty_now.value("rover_command_aborted_total") == 1
        assert handled(hasty_now, "TurnRoverLeft", "ABORTED") == 1
        assert handled(hasty_now, "TurnRoverLeft", "OK") == 1

    # One instance publishes (the other stands by, without lag gauges); everything gets out.
    active, _ = await _publishing(patient, hasty)
    standby = hasty if active is patient else patient
    idle = await scrape(standby.metrics.url)
    assert idle.value("rover_publisher_active") == 0
    assert not idle.has("rover_publisher_lag_events")
    # Created, landed, two turns (the aborted one wrote nothing): all published, none behind.
    scraped = await scrape_until(
        active.metrics.url,
        lambda s: (
            s.value("rover_publisher_published_total") == 4
            and s.value("rover_publisher_lag_events") == 0
        ),
    )
    assert scraped.value("rover_publisher_lag_seconds") == 0
    assert scraped.value("rover_publisher_published_total") == 4
    assert scraped.family_type("rover_publisher_published") == "counter"
    assert scraped.family_type("rover_publisher_lag_events") == "gauge"
    # Measured from the first event on, three events are behind it.
    lag = active.parts.publisher_lag
    assert lag is not None
    created = (await esdb.get_stream(f"grid-{grid}"))[0].commit_position
    assert created is not None
    behind = await lag.measure(created)
    assert (behind.events, behind.capped) == (3, False)
    assert behind.seconds >= 0
