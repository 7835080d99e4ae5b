"""The publisher's parked events across the system: the command service (its publisher with a
decoder that has a bug), the query service (Redis, the admin API) and the broadcaster, all
against the event store stand-in on loopback.

While one grid's domain event cannot be decoded by the publisher, a bystander grid's command
is published, projected and watched; the victim is held at its last good version. The admin
API lists the record under consumer "publisher"; once the decoder is fixed, a replay releases
the grid and its held events are published, projected and watched, in order.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import grpc
from esdbclient import AsyncEventStoreDBClient

from domain.events import GridEvent
from protos.rover.v1 import admin_pb2, command_pb2, common_pb2, live_pb2, live_pb2_grpc
from services.broadcaster.bootstrap import build as build_broadcaster
from services.broadcaster.settings import BroadcasterSettings
from services.command.adapters import codec
from services.command.adapters.esdb_feed import EsdbDomainEventFeed
from services.command.bootstrap import CommandApp
from services.command.bootstrap import build as build_command
from services.command.settings import CommandSettings
from services.common.parked import PUBLISHER
from services.query.settings import QuerySettings
from tests.integration.command.conftest import integration_events
from tests.integration.query.admin_support import admin_stub, projected
from tests.integration.query.conftest import ServiceFactory
from tests.support.health import eventually
from tests.support.stubs import CommandStub, command_stub

_BROKEN = "RoverTurnedLeft.v1"


class BuggyDecoder:
    """The codec with a bug for one event type (what a release with a bug does), fixable."""

    def __init__(self) -> None:
        self.broken = True

    def __call__(self, type_name: str, data: bytes) -> GridEvent:
        if self.broken and type_name == _BROKEN:
            raise codec.UnknownEventTypeError(f"{type_name}: unsupported (a bug)")
        return codec.decode(type_name, data)


@contextlib.asynccontextmanager
async def command_service(
    settings: QuerySettings, esdb: AsyncEventStoreDBClient, decoder: BuggyDecoder
) -> AsyncIterator[tuple[CommandApp, CommandStub]]:
    local = CommandSettings(
        command_address="127.0.0.1:0",
        eventstore_uri=settings.eventstore_uri,
        shutdown_grace_seconds=0.5,
    )
    app = build_command(local, feed=EsdbDomainEventFeed(esdb, decode=decoder))
    await app.start()
    try:
        async with grpc.aio.insecure_channel(app.address) as channel:
            yield app, command_stub(channel)
    finally:
        await app.stop()


async def watched(port: int, grid_id: str, version: int) -> list[int]:
    """The event sequences a watcher from version 0 receives, up to ``version``."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = live_pb2_grpc.RoverLiveServiceStub(channel)
        call = stub.WatchGrid(live_pb2.WatchGridRequest(grid_id=grid_id, from_version=0))
        sequences: list[int] = []
        async for update in call:
            if update.WhichOneof("update") == "event":
                sequences.append(update.sequence)
            if sequences and sequences[-1] >= version:
                call.cancel()
                break
        return sequences


async def walk(stub: CommandStub, grid_id: str, *, turn: bool) -> None:
    """CreateGrid, CreateRover; then TurnRoverLeft and MoveRoverForward when ``turn``."""
    await stub.CreateGrid(command_pb2.CreateGridRequest(grid_id=grid_id, width=5, height=5))
    rover = {"grid_id": grid_id, "rover_id": "r1"}
    await stub.CreateRover(
        command_pb2.CreateRoverRequest(
            **rover, position=common_pb2.Position(x=2, y=2), facing=common_pb2.DIRECTION_NORTH
        )
    )
    if turn:
        await stub.TurnRoverLeft(command_pb2.TurnRoverLeftRequest(**rover))  # version 3
        await stub.MoveRoverForward(command_pb2.MoveRoverForwardRequest(**rover))  # 4


async def test_a_grid_held_by_the_publisher_is_replayed_in_order_after_the_fix(
    esdb: AsyncEventStoreDBClient, settings: QuerySettings, query_service: ServiceFactory
) -> None:
    decoder = BuggyDecoder()
    broadcaster = build_broadcaster(
        BroadcasterSettings(
            broadcaster_address="127.0.0.1:0",
            eventstore_uri=settings.eventstore_uri,
            shutdown_grace_seconds=0.5,
        )
    )
    await broadcaster.start()
    try:
        async with (
            command_service(settings, esdb, decoder) as (command, stub),
            query_service() as running,
            admin_stub(running) as (admin, queries),
        ):
            await walk(stub, "victim", turn=True)
            await walk(stub, "bystander", turn=False)
            await projected(queries, "bystander", 2)
            assert await watched(broadcaster.port, "bystander", 2) == [1, 2]

            async def parked() -> bool:
                return command.parts.publisher.held.count == 1

            await eventually(parked)
            assert len(await integration_events(esdb, "victim")) == 2  # held at version 2
            listed = await admin.ListParkedEvents(
                admin_pb2.ListParkedEventsRequest(consumer=PUBLISHER)
            )
            [record] = listed.events
            assert (record.consumer, record.grid_id) == (PUBLISHER, "victim")
            assert (record.stream, record.revision) == ("grid-victim", 2)
            assert record.event_type == _BROKEN
            assert "a bug" in record.reason

            decoder.broken = False  # the fixed release
            reply = await admin.ReplayParkedEvents(
                admin_pb2.ReplayParkedEventsRequest(ids=[record.id])
            )
            [outcome] = reply.outcomes
            assert outcome.resolved, outcome.detail
            assert outcome.detail.startswith("released")

            await projected(queries, "victim", 4)
            published = await integration_events(esdb, "victim")
            assert [e.sequence for e in published] == [1, 2, 3, 4]
            assert type(published[2].event).__name__ == "RoverTurnedLeft"
            assert await watched(broadcaster.port, "victim", 4) == [1, 2, 3, 4]

            async def released() -> bool:
                return command.parts.publisher.held.count == 0

            await eventually(released)
            assert command.parts.publisher.held.grids == set()
            empty = await admin.ListParkedEvents(admin_pb2.ListParkedEventsRequest())
            assert [e.consumer for e in empty.events if e.consumer == PUBLISHER] == []
    finally:
        await broadcaster.stop(grace=0.5)
