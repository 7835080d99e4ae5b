"""Idempotency by time, not count (real event store, real gRPC): a retry of an acknowledged
command returns its original result and applies nothing, however many commands the grid
took since, across a restart and across instances, until the retention period ends.

The window is set small (``command_request_window``) so that thousands of commands are not
needed to push a request out of it; the request log behind it is what answers.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from esdbclient import AsyncEventStoreDBClient, NewEvent, StreamState

from protos.rover.v1 import command_pb2
from services.command.adapters.esdb_requests import REQUEST_EVENT_TYPE, request_stream
from services.command.bootstrap import CommandApp, build
from services.command.settings import CommandSettings
from standins.eventstore.server import EventStoreServer
from tests.integration.command.conftest import (
    ServiceFactory,
    grid_with_rover,
    wait_for_integration,
)
from tests.support.stubs import CommandStub, command_stub

pytestmark = pytest.mark.slow
WINDOW = 5
OTHERS = 5_000  # commands on the same grid between the original and its retry


class SettableClock:
    """The Clock port, moved on by the test."""

    def __init__(self) -> None:
        self.current = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current


def turn(grid: str, request_id: str) -> command_pb2.TurnRoverRightRequest:
    return command_pb2.TurnRoverRightRequest(grid_id=grid, rover_id="r1", request_id=request_id)


async def turns(stub: CommandStub, grid: str, count: int, prefix: str) -> None:
    """``count`` acknowledged commands on ``grid``, eight in flight at a time."""
    queue = iter(range(count))

    async def worker() -> None:
        for n in queue:
            await stub.TurnRoverRight(turn(grid, f"{prefix}-{n}"))

    await asyncio.gather(*(worker() for _ in range(8)))


async def stored_count(esdb: AsyncEventStoreDBClient, grid: str) -> int:
    return len(await esdb.get_stream(f"grid-{grid}"))


async def test_a_retry_after_thousands_of_commands_returns_the_original_result(
    start_service: ServiceFactory, esdb: AsyncEventStoreDBClient
) -> None:
    first = await start_service(command_request_window=WINDOW)
    async with grpc.aio.insecure_channel(first.address) as channel:
        stub = command_stub(channel)
        grid = await grid_with_rover(stub)
        original = await stub.TurnRoverRight(turn(grid, "the-one"))
        await turns(stub, grid, OTHERS, "other")
        total = await stored_count(esdb, grid)
        await wait_for_integration(esdb, grid, total)

        again = await stub.TurnRoverRight(turn(grid, "the-one"))
        assert again == original  # the original result, rebuilt from its stored events
        with pytest.raises(grpc.aio.AioRpcError) as refused:  # same id, other arguments
            await stub.TurnRoverLeft(
                command_pb2.TurnRoverLeftRequest(grid_id=grid, rover_id="r1", request_id="the-one")
            )
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "different request" in str(refused.value.details())
        assert await stored_count(esdb, grid) == total  # nothing applied twice
        assert first.parts.executor.requests is not None
        assert first.parts.executor.requests.found >= 1
    await first.stop()

    # A fresh instance (a restart; or another instance beside it): nothing in memory.
    second = await start_service(command_request_window=WINDOW)
    third = await start_service(command_request_window=WINDOW)
    for service in (second, third):
        async with grpc.aio.insecure_channel(service.address) as channel:
            stub = command_stub(channel)
            assert await stub.TurnRoverRight(turn(grid, "the-one")) == original
            assert await stub.TurnRoverRight(turn(grid, "other-17")) is not None
    assert await stored_count(esdb, grid) == total


async def test_a_request_id_is_new_again_after_the_retention_period(
    eventstore: EventStoreServer, esdb: AsyncEventStoreDBClient
) -> None:
    clock = SettableClock()
    settings = CommandSettings(
        command_address="127.0.0.1:0",
        eventstore_uri=eventstore.uri,
        shutdown_grace_seconds=1.0,
        command_request_window=WINDOW,
        command_request_retention_hours=24,
    )
    service: CommandApp = build(settings, clock=clock)
    await service.start()
    try:
        async with grpc.aio.insecure_channel(service.address) as channel:
            stub = command_stub(channel)
            grid = await grid_with_rover(stub)
            original = await stub.TurnRoverRight(turn(grid, "old"))
            await turns(stub, grid, WINDOW * 2, "other")
            await wait_for_integration(esdb, grid, await stored_count(esdb, grid))

            # the record, kept by the store for the period ($maxAge) and no longer
            stream = request_stream(grid, "old")
            [record] = await esdb.get_stream(stream)
            assert record.type == REQUEST_EVENT_TYPE
            metadata, _ = await esdb.get_stream_metadata(stream)
            assert metadata == {"$maxAge": 24 * 3600}

            clock.current += timedelta(hours=23, minutes=59)  # within the period: a retry
            assert await stub.TurnRoverRight(turn(grid, "old")) == original

            clock.current += timedelta(minutes=2)  # past it: the request id is new again
            before = await stored_count(esdb, grid)
            later = await stub.TurnRoverRight(turn(grid, "old"))
            assert later.version == before + 1  # applied anew
            assert await stored_count(esdb, grid) == before + 1
    finally:
        await service.stop()


async def test_a_deleted_request_stream_does_not_stall_publication(
    start_service: ServiceFactory, esdb: AsyncEventStoreDBClient
) -> None:
    service = await start_service(command_request_window=WINDOW)
    async with grpc.aio.insecure_channel(service.address) as channel:
        stub = command_stub(channel)
        grid = await grid_with_rover(stub)
        await esdb.tombstone_stream(request_stream(grid, "doomed"), current_version=StreamState.ANY)
        await stub.TurnRoverRight(turn(grid, "doomed"))
        await turns(stub, grid, WINDOW * 2, "after")
        total = await stored_count(esdb, grid)
        assert len(await wait_for_integration(esdb, grid, total)) == total  # published on
        # deduplicated by the window only: past it, the id is looked up, not found, new
        again = await stub.TurnRoverRight(turn(grid, "doomed"))
        assert again.version == total + 1


async def test_a_forged_request_record_does_not_make_a_new_request_a_retry(
    start_service: ServiceFactory, esdb: AsyncEventStoreDBClient
) -> None:
    service = await start_service(command_request_window=WINDOW)  # with an integration key
    async with grpc.aio.insecure_channel(service.address) as channel:
        stub = command_stub(channel)
        grid = await grid_with_rover(stub)
        await turns(stub, grid, WINDOW * 2, "before")
        await wait_for_integration(esdb, grid, await stored_count(esdb, grid))
        body = {
            "grid_id": grid,
            "request_id": "fresh",
            "command": "TurnRoverRight",
            "fingerprint": "anything",
            "first_version": 1,
            "last_version": 1,
            "occurred_at": datetime.now(UTC).isoformat(),
        }
        await esdb.append_to_stream(
            request_stream(grid, "fresh"),
            current_version=StreamState.ANY,
            events=NewEvent(type=REQUEST_EVENT_TYPE, data=json.dumps(body).encode()),
        )
        before = await stored_count(esdb, grid)
        applied = await stub.TurnRoverRight(turn(grid, "fresh"))  # not a retry of version 1
        assert applied.version == before + 1
