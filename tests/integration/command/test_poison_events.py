"""Poison domain events and a poisoned checkpoint against the real event store stand-in
(through esdbclient) and real gRPC: each finding of issue 16 reproduced.

An undecodable event appended straight into ``grid-victim``, a tombstoned grid stream, events
in streams named ``grid-`` and ``grid-bad name!``: each is parked in
``rover-parked-publisher``, a bystander grid's next command is still published, and the
victim's own command is answered FAILED_PRECONDITION (never INTERNAL). A checkpoint that is
garbage or lies beyond the head of ``$all`` stops publication visibly (health
``.../publisher`` NOT_SERVING) until an operator appends a valid checkpoint.
"""

from __future__ import annotations

import dataclasses
import uuid

import grpc
import pytest
from esdbclient import AsyncEventStoreDBClient, NewEvent, StreamState
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2

from protos.rover.v1 import command_pb2, common_pb2
from services.command.bootstrap import PARKED_HEALTH, PUBLISHER_HEALTH, CommandApp
from services.common.parked import PUBLISHER, ParkedEvent
from services.common.publisher_checkpoint import CHECKPOINT_EVENT_TYPE, encode_checkpoint
from services.common.rich_errors import details_of
from tests.integration.command.conftest import ServiceFactory, integration_events, new_id
from tests.support.forgery import forge
from tests.support.health import eventually, health_status
from tests.support.metrics import scrape_until
from tests.support.stubs import CommandStub, command_stub

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def create_grid(stub: CommandStub, grid_id: str) -> None:
    await stub.CreateGrid(command_pb2.CreateGridRequest(grid_id=grid_id, width=5, height=5))


def create_rover(grid_id: str, rover_id: str = "r1") -> command_pb2.CreateRoverRequest:
    return command_pb2.CreateRoverRequest(
        grid_id=grid_id,
        rover_id=rover_id,
        position=common_pb2.Position(x=0, y=0),
        facing=common_pb2.DIRECTION_NORTH,
    )


async def published(esdb: AsyncEventStoreDBClient, grid_id: str, count: int) -> None:
    """Wait until ``integration-{grid}`` holds ``count`` events (a hang guard, no timing)."""

    async def enough() -> bool:
        return len(await integration_events(esdb, grid_id)) >= count

    await eventually(enough)


async def published_grid(stub: CommandStub, esdb: AsyncEventStoreDBClient) -> str:
    """A new grid, once its GridCreated is published."""
    grid_id = new_id()
    await create_grid(stub, grid_id)
    await published(esdb, grid_id, 1)
    return grid_id


async def parked_records(app: CommandApp, count: int) -> list[ParkedEvent]:
    async def enough() -> bool:
        return len(await app.parts.parked.unresolved(PUBLISHER)) >= count

    await eventually(enough)
    return await app.parts.parked.unresolved(PUBLISHER)


async def health_is(app: CommandApp, name: str, wanted: int) -> None:
    async def reported() -> bool:
        return await health_status(app.port, name) == wanted

    await eventually(reported)


async def refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


def reason(error: grpc.aio.AioRpcError) -> str:
    [info] = [d for d in details_of(error) if isinstance(d, error_details_pb2.ErrorInfo)]
    return str(info.reason)


async def bystander_goes_on(stub: CommandStub, esdb: AsyncEventStoreDBClient) -> None:
    """A grid created before and commanded after the poison is published in full."""
    bystander = await published_grid(stub, esdb)
    await stub.CreateRover(create_rover(bystander))
    await published(esdb, bystander, 2)


async def test_a_garbage_event_in_one_grid_parks_and_the_others_go_on(
    start_service: ServiceFactory, esdb: AsyncEventStoreDBClient
) -> None:
    service = await start_service(command_metrics_address="127.0.0.1:0")
    async with grpc.aio.insecure_channel(service.address) as channel:
        await garbage_in_one_grid(service, command_stub(channel), esdb)


async def garbage_in_one_grid(
    service: CommandApp, stub: CommandStub, esdb: AsyncEventStoreDBClient
) -> None:
    victim = await published_grid(stub, esdb)
    garbage = NewEvent(
        type="RoverCreated.v1", data=b"\xff not json", content_type="application/json"
    )
    await esdb.append_to_stream(f"grid-{victim}", current_version=0, events=garbage)

    await bystander_goes_on(stub, esdb)
    [record] = await parked_records(service, 1)
    assert record.consumer == PUBLISHER
    assert (record.event.stream, record.event.revision) == (f"grid-{victim}", 1)
    assert record.event.grid_id == victim
    assert record.event.event_type == "RoverCreated.v1"
    assert "cannot be decoded" in record.event.reason
    assert record.event.commit_position > 0
    assert len(await integration_events(esdb, victim)) == 1  # held: nothing out of order
    await scrape_until(
        service.metrics.url, lambda m: m.value("rover_parked_events", consumer=PUBLISHER) == 1
    )
    await health_is(service, PARKED_HEALTH, NOT_SERVING)
    assert await health_status(service.port, PUBLISHER_HEALTH) == SERVING

    error = await refused(stub.CreateRover(create_rover(victim)))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(error) == "GRID_HISTORY_UNREADABLE"
    assert victim in (error.details() or "")
    assert "version 2" in (error.details() or "")


async def test_a_tombstoned_grid_parks_and_refuses_its_commands(
    service: CommandApp, stub: CommandStub, esdb: AsyncEventStoreDBClient
) -> None:
    victim = await published_grid(stub, esdb)
    await esdb.tombstone_stream(f"grid-{victim}", current_version=StreamState.ANY)

    await bystander_goes_on(stub, esdb)
    [record] = await parked_records(service, 1)
    assert record.event.grid_id == victim
    assert record.event.event_type == "$streamDeleted"
    assert "deleted" in record.event.reason

    error = await refused(stub.CreateRover(create_rover(victim)))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(error) == "GRID_DELETED"
    error = await refused(stub.CreateGrid(command_pb2.CreateGridRequest(grid_id=victim)))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_events_in_streams_that_are_no_grids_are_parked_without_a_grid(
    service: CommandApp, stub: CommandStub, esdb: AsyncEventStoreDBClient
) -> None:
    for stream in ("grid-", "grid-bad name!"):
        event = NewEvent(type="GridCreated.v2", data=b"{}", content_type="application/json")
        await esdb.append_to_stream(stream, current_version=StreamState.ANY, events=event)

    await bystander_goes_on(stub, esdb)
    records = await parked_records(service, 2)
    assert sorted(r.event.stream for r in records) == ["grid-", "grid-bad name!"]
    assert all(r.event.grid_id == "" for r in records)
    assert all("not a grid's stream" in r.event.reason for r in records)
    assert service.parts.publisher.held.grids == set()  # nothing to hold


@pytest.mark.parametrize(
    "body",
    [b'{"commit_position": 1000000000000}', b"\x00 garbage", b"[1, 2]"],
    ids=["ahead-of-head", "not-json", "not-an-object"],
)
async def test_an_untrusted_checkpoint_stops_publication_visibly_until_replaced(
    start_service: ServiceFactory, esdb: AsyncEventStoreDBClient, body: bytes
) -> None:
    stream = f"rover-publisher-{new_id()}"
    forged = NewEvent(type=CHECKPOINT_EVENT_TYPE, data=body, content_type="application/json")
    await esdb.append_to_stream(stream, current_version=StreamState.ANY, events=forged)
    service = await start_service(publisher_checkpoint_stream=stream)
    grid = new_id()
    async with grpc.aio.insecure_channel(service.address) as channel:
        stub = command_stub(channel)
        await create_grid(stub, grid)  # stored and acknowledged: the command side is fine
    await health_is(service, PUBLISHER_HEALTH, NOT_SERVING)
    problem = service.parts.publisher.guard.problem
    assert problem is not None
    assert stream in problem or "beyond the newest event" in problem
    assert await integration_events(esdb, grid) == []  # not silently skipped past

    # The operator's path (docs/operations.md): a valid checkpoint appended over it, here
    # "from the start" (republishing what is already there is a no-op).
    valid = NewEvent(type=CHECKPOINT_EVENT_TYPE, data=encode_checkpoint(None, "", 0))
    await esdb.append_to_stream(stream, current_version=StreamState.ANY, events=valid)
    await published(esdb, grid, 1)
    await health_is(service, PUBLISHER_HEALTH, SERVING)
    assert service.parts.publisher.guard.problem is None


async def test_a_forged_integration_event_holds_its_grid_not_the_publisher(
    service: CommandApp, stub: CommandStub, esdb: AsyncEventStoreDBClient
) -> None:
    """An event appended straight to ``integration-{victim}`` takes the place of the grid's
    next event: the publisher parks that event and holds the grid, and publishes the others."""
    victim = await published_grid(stub, esdb)
    [genuine] = await integration_events(esdb, victim)
    await forge(esdb, dataclasses.replace(genuine, sequence=2, event_id=uuid.uuid4()))
    await stub.CreateRover(create_rover(victim))  # sequence 2: its place is taken

    await bystander_goes_on(stub, esdb)
    [record] = await parked_records(service, 1)
    assert (record.event.stream, record.event.revision) == (f"integration-{victim}", 1)
    assert record.event.event_type == "RoverCreated"
    assert "diverges at sequence 2" in record.event.reason
    await health_is(service, PARKED_HEALTH, NOT_SERVING)
    assert await health_status(service.port, PUBLISHER_HEALTH) == SERVING
