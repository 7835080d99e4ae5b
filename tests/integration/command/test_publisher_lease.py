"""One publisher at a time among command instances: the checkpoint stream is its lease."""

from __future__ import annotations

import asyncio
import contextlib
import json

import grpc
from esdbclient import AsyncEventStoreDBClient
from structlog.testing import capture_logs

from protos.rover.v1 import command_pb2, common_pb2
from services.command.bootstrap import CommandApp
from tests.integration.command.conftest import ServiceFactory, integration_events, new_id
from tests.support.stubs import command_stub


async def active(apps: list[CommandApp], within: float = 15.0) -> CommandApp:
    """The one instance publishing, once exactly one is."""
    for _ in range(round(within / 0.05)):
        publishing = [app for app in apps if app.parts.publisher.active]
        if len(publishing) == 1:
            return publishing[0]
        assert len(publishing) < 2, "two instances publish at once"
        await asyncio.sleep(0.05)
    raise AssertionError(f"no instance became active within {within} s")


async def walk(app: CommandApp, grid: str, turns: int) -> int:
    """Create the grid (once) and a rover, then ``turns`` turns; the last version."""
    async with grpc.aio.insecure_channel(app.address) as channel:
        stub = command_stub(channel)
        with contextlib.suppress(grpc.aio.AioRpcError):  # ALREADY_EXISTS the second time
            await stub.CreateGrid(command_pb2.CreateGridRequest(grid_id=grid, width=5, height=5))
            await stub.CreateRover(
                command_pb2.CreateRoverRequest(
                    grid_id=grid,
                    rover_id="r",
                    position=common_pb2.Position(x=1, y=1),
                    facing=common_pb2.DIRECTION_NORTH,
                )
            )
        version = 0
        for _ in range(turns):
            reply = await stub.TurnRoverLeft(
                command_pb2.TurnRoverLeftRequest(grid_id=grid, rover_id="r")
            )
            version = reply.version
        return version


async def published(esdb: AsyncEventStoreDBClient, grid: str, version: int) -> None:
    for _ in range(400):
        if len(await integration_events(esdb, grid)) >= version:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{grid} was not published up to {version}")


async def checkpoints(esdb: AsyncEventStoreDBClient, stream: str, seen: list[int]) -> None:
    """Every checkpoint written to the stream, as written (it keeps only the last one)."""
    subscription = await esdb.subscribe_to_stream(stream)
    async for event in subscription:
        position = json.loads(event.data)["commit_position"]
        if position is not None:
            seen.append(position)


async def test_two_instances_publish_once_and_the_standby_takes_over(
    start_service: ServiceFactory, esdb: AsyncEventStoreDBClient
) -> None:
    stream = f"publisher-{new_id()}"
    seen: list[int] = []
    watcher = asyncio.create_task(checkpoints(esdb, stream, seen))
    with capture_logs() as logs:
        apps = [
            await start_service(
                publisher_checkpoint_stream=stream, publisher_checkpoint_seconds=0.1
            )
            for _ in range(2)
        ]
        first = await active(apps)
        standby = next(app for app in apps if app is not first)
        grids = [new_id(), new_id()]
        versions = await asyncio.gather(
            *(walk(app, g, 30) for app, g in zip(apps, grids, strict=True))
        )
        for grid, version in zip(grids, versions, strict=True):
            await published(esdb, grid, version)
        assert not standby.parts.publisher.active
        await first.stop()  # releases the lease on the way out
        assert await active([standby], within=10.0) is standby
        more = await walk(standby, grids[0], 10)
        await published(esdb, grids[0], more)
    watcher.cancel()
    for grid in grids:  # each event published exactly once, in order
        envelopes = await integration_events(esdb, grid)
        assert [e.sequence for e in envelopes] == list(range(1, len(envelopes) + 1))
    assert len(seen) > 3
    assert seen == sorted(seen), "the checkpoint moved backwards"
    replays = [log for log in logs if log["event"] == "republished events were already there"]
    assert replays == []  # nothing was published twice
