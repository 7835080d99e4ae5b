"""The command benchmark's closed-loop workloads: raw appends, commands, per-command latency."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

from esdbclient import AsyncEventStoreDBClient, NewEvent, StreamState

from bench.command.timing import timed
from protos.rover.v1 import command_pb2, common_pb2
from tests.support.stubs import CommandStub

__all__ = [
    "LATENCY_SAMPLES",
    "SECONDS",
    "appender",
    "command_rate",
    "create_grid",
    "raw_appends",
    "turn_latencies",
]

SECONDS = 6.0  # per throughput phase
LATENCY_SAMPLES = 400


def appender(client: AsyncEventStoreDBClient) -> Callable[[], Awaitable[None]]:
    """One raw appender: single-event appends to a stream of its own, at the expected version
    (as the command service appends a command's event)."""
    stream = f"rawbench-{uuid.uuid4().hex}"
    version: list[int | StreamState] = [StreamState.NO_STREAM]

    async def append() -> None:
        event = NewEvent(type="RoverTurnedLeft.v1", data=b'{"rover_id":"r"}')
        await client.append_to_stream(stream, current_version=version[0], events=[event])
        current = version[0]
        version[0] = 0 if isinstance(current, StreamState) else current + 1

    return append


async def raw_appends(client: AsyncEventStoreDBClient, workers: int) -> float:
    rate, _ = await timed(workers, SECONDS, lambda _: appender(client))
    return rate


async def create_grid(stub: CommandStub, grid_id: str) -> None:
    await stub.CreateGrid(
        command_pb2.CreateGridRequest(
            grid_id=grid_id, width=1000, height=1000, topology=common_pb2.TOPOLOGY_TOROIDAL
        )
    )
    await stub.CreateRover(
        command_pb2.CreateRoverRequest(
            grid_id=grid_id,
            rover_id="r",
            position=common_pb2.Position(x=1, y=1),
            facing=common_pb2.DIRECTION_NORTH,
        )
    )


async def command_rate(
    stub: CommandStub, workers: int, seconds: float = SECONDS, *, request_ids: bool = False
) -> tuple[float, list[float]]:
    """Commands/s of ``workers`` clients, one grid each; ``request_ids``: each command with a
    fresh request_id (deduplicated: the window, and the request log behind it)."""
    grids = [f"bench-{uuid.uuid4().hex[:10]}" for _ in range(workers)]
    await asyncio.gather(*(create_grid(stub, g) for g in grids))

    def make(index: int) -> Callable[[], Awaitable[object]]:
        request = command_pb2.MoveRoverForwardRequest(grid_id=grids[index], rover_id="r")

        async def move() -> None:
            if request_ids:
                request.request_id = uuid.uuid4().hex
            await stub.MoveRoverForward(request)

        return move

    return await timed(workers, seconds, make)


async def turn_latencies(stub: CommandStub, grid_id: str) -> list[float]:
    request = command_pb2.TurnRoverLeftRequest(grid_id=grid_id, rover_id="r")
    samples = []
    for _ in range(LATENCY_SAMPLES):
        started = time.perf_counter()
        await stub.TurnRoverLeft(request)
        samples.append(time.perf_counter() - started)
    return samples
