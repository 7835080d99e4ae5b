"""The publisher's workload: open-loop commands, each timed until its integration event is read."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid

from esdbclient import AsyncEventStoreDBClient
from esdbclient.exceptions import NotFound

from bench.command.workloads import create_grid
from protos.rover.v1 import command_pb2
from tests.support.stubs import CommandStub

__all__ = ["PUBLISH_COMMANDS", "PUBLISH_GRIDS", "PUBLISH_RATE", "publication", "wait_published"]

PUBLISH_RATE = 200  # commands/s, open loop
PUBLISH_GRIDS = 20
PUBLISH_COMMANDS = int(os.environ.get("BENCH_COMMAND_PUBLISH_COMMANDS", "2000"))


async def _published(client: AsyncEventStoreDBClient, grid_id: str) -> int:
    try:
        found = await client.get_stream(f"integration-{grid_id}", backwards=True, limit=1)
    except NotFound:
        return 0
    return found[0].stream_position + 1 if found else 0


async def wait_published(client: AsyncEventStoreDBClient, grid_id: str, count: int) -> None:
    """Follow the integration stream until the publisher has caught up with the grid."""
    if await _published(client, grid_id) >= count:
        return
    subscription = await client.subscribe_to_stream(
        f"integration-{grid_id}", stream_position=count - 2
    )
    async with subscription:
        async for event in subscription:
            if event.stream_position + 1 >= count:
                return


async def _watch_published(
    client: AsyncEventStoreDBClient, seen: dict[tuple[str, int], float], arrived: asyncio.Event
) -> None:
    """When each integration event becomes readable: (grid id, sequence) -> perf_counter."""
    subscription = await client.subscribe_to_all(
        from_end=True, filter_include=["integration-.*"], filter_by_stream_name=True
    )
    arrived.set()  # subscribed
    async with subscription:
        async for event in subscription:
            grid_id = event.stream_name.removeprefix("integration-")
            seen[(grid_id, event.stream_position + 1)] = time.perf_counter()
            arrived.set()


async def publication(
    client: AsyncEventStoreDBClient, stub: CommandStub
) -> tuple[list[float], int, list[float]]:
    """Acknowledged -> integration event readable at PUBLISH_RATE commands/s, the misses, and
    the commands' own latencies (sent -> acknowledged)."""
    grids = [f"pub-{uuid.uuid4().hex[:10]}" for _ in range(PUBLISH_GRIDS)]
    await asyncio.gather(*(create_grid(stub, g) for g in grids))
    seen: dict[tuple[str, int], float] = {}
    arrived = asyncio.Event()
    watcher = asyncio.create_task(_watch_published(client, seen, arrived))
    await arrived.wait()
    acknowledged: dict[tuple[str, int], float] = {}
    commands: list[float] = []

    async def one(grid_id: str) -> None:
        sent = time.perf_counter()
        reply = await stub.TurnRoverLeft(
            command_pb2.TurnRoverLeftRequest(grid_id=grid_id, rover_id="r")
        )
        acknowledged[(grid_id, reply.version)] = time.perf_counter()
        commands.append(acknowledged[(grid_id, reply.version)] - sent)

    tasks = []
    started = time.perf_counter()
    for n in range(PUBLISH_COMMANDS):  # open loop: one command every 1/rate s
        delay = started + n / PUBLISH_RATE - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(grids[n % PUBLISH_GRIDS])))
    await asyncio.gather(*tasks)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(60):
            while any(k not in seen for k in acknowledged):
                arrived.clear()
                await arrived.wait()
    watcher.cancel()
    await asyncio.gather(watcher, return_exceptions=True)
    delays = [seen[k] - t for k, t in acknowledged.items() if k in seen]
    return delays, len(acknowledged) - len(delays), commands
