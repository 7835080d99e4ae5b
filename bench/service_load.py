"""The load the service benchmarks share: a 100-rover grid to read, and the GetGridDetails load
on it (bench_tracing, bench_security). Commands are bench/command/workloads.py's."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

from esdbclient import AsyncEventStoreDBClient

from bench.command.timing import timed
from protos.rover.v1 import query_pb2, query_pb2_grpc
from tests.integration.query.conftest import publish
from tests.unit.query.seed import rover_walk

__all__ = [
    "COMMAND_CLIENTS",
    "QUERY_CLIENTS",
    "ROVERS",
    "projected",
    "query_load",
    "run_lengths",
    "seed_grid",
]

COMMAND_CLIENTS = 16
QUERY_CLIENTS = 32
ROVERS = 100
GRID = "bench000"


def run_lengths(quick_variable: str) -> tuple[int, float, float]:
    """(rounds, seconds of a command run, seconds of a query run): 5, 6 and 3, or with
    ``quick_variable`` set (not 0) 3, 3 and 2."""
    if os.environ.get(quick_variable, "") not in ("", "0"):
        return 3, 3.0, 2.0
    return 5, 6.0, 3.0


async def seed_grid(uri: str) -> int:
    """Append :data:`GRID`'s integration events (ROVERS rovers, 400 moves) through ``uri``;
    returns its last version."""
    client = AsyncEventStoreDBClient(uri)
    await client.connect()
    try:
        history = rover_walk(GRID, rovers=ROVERS, moves=400)
        for start in range(0, len(history), 500):
            await publish(client, history[start : start + 500])
    finally:
        await client.close()
    return len(history)


async def projected(stub: query_pb2_grpc.RoverQueryServiceAsyncStub, version: int) -> None:
    """Return once the query service has projected :data:`GRID` up to ``version``."""
    ready = query_pb2.GetGridDetailsRequest(grid_id=GRID, min_version=version)
    await stub.GetGridDetails(ready, timeout=120)


async def query_load(
    stub: query_pb2_grpc.RoverQueryServiceAsyncStub, seconds: float
) -> tuple[float, list[float]]:
    """QUERY_CLIENTS loops of GetGridDetails of :data:`GRID` for ``seconds``: calls/s and
    latencies."""
    request = query_pb2.GetGridDetailsRequest(grid_id=GRID)

    def make(_: int) -> Callable[[], Awaitable[object]]:
        return lambda: stub.GetGridDetails(request)

    return await timed(QUERY_CLIENTS, seconds, make)
