"""Fairness (``python -m bench fairness``): one well-behaved client among 200 hammering ones.

A well-behaved client calls GetGridDetails (a 100-rover grid) one call at a time; its p99 is
measured alone, then while 200 other clients (a process of their own, a connection each,
sharing one bearer token) call it back to back. The figure is the ratio of the two p99s
(target <= 3x), the median of BENCH_FAIRNESS_PAIRS (3) pairs of the two measured in turn,
for the query service with the default limits, and with the contention limit
(ROVER_CONTENDED_CALLS_IN_FLIGHT_PER_CLIENT, services/common/client_slots.py) off, as every
server was before it, or at 2, or off with a rate limit. The store, Redis and the query
service are child processes. The hammering process runs at the lowest CPU priority (nice 19)
so that it stands for clients on other machines: on a 2-core box it would otherwise take the
well-behaved client's own CPU, and that client's process would measure its own waits.
Environment: BENCH_FAIRNESS_SECONDS (each measurement, default 5), BENCH_FAIRNESS_CLIENTS
(default 200), BENCH_FAIRNESS_PAIRS (default 3).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time

import grpc
from esdbclient import AsyncEventStoreDBClient

from bench import METRICS_OFF
from bench.hammer import start
from bench.servers import wait_serving
from protos.rover.v1 import query_pb2, query_pb2_grpc
from standins.eventstore.process import EventStoreProcess
from tests.integration.query.conftest import publish
from tests.support.redis_server import RedisServer, free_port
from tests.unit.query.seed import rover_walk

SECONDS = float(os.environ.get("BENCH_FAIRNESS_SECONDS", "5"))
CLIENTS = int(os.environ.get("BENCH_FAIRNESS_CLIENTS", "200"))
PAIRS = int(os.environ.get("BENCH_FAIRNESS_PAIRS", "3"))
GRID = "fair000"
ROVERS = 100
PAUSE = 0.001  # between the well-behaved client's calls
TOKENS = {"well-behaved": "viewer", "hammer": "viewer"}
CONFIGS = {
    "default limits": {},
    # As every server was before the contention limit (and the in-flight limit alone).
    "no contention limit": {"ROVER_CONTENDED_CALLS_IN_FLIGHT_PER_CLIENT": "0"},
    "contention limit 2": {"ROVER_CONTENDED_CALLS_IN_FLIGHT_PER_CLIENT": "2"},
    # Above the well-behaved client's own rate (a few hundred calls/s alone).
    "no contention limit, rate limit 500/s per token": {
        "ROVER_CONTENDED_CALLS_IN_FLIGHT_PER_CLIENT": "0",
        "ROVER_RATE_LIMIT_PER_SECOND": "500",
        "ROVER_RATE_LIMIT_BURST": "500",
    },
}


def _say(text: str) -> None:
    print(text, flush=True)


async def _p99_alone(stub: query_pb2_grpc.RoverQueryServiceAsyncStub, seconds: float) -> float:
    """The well-behaved client's p99 (ms) over ``seconds`` of calls, one at a time."""
    metadata = (("authorization", "Bearer well-behaved"),)
    request = query_pb2.GetGridDetailsRequest(grid_id=GRID)
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop:
        started = time.perf_counter()
        await stub.GetGridDetails(request, metadata=metadata, timeout=30)
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(PAUSE)
    latencies.sort()
    return latencies[int(len(latencies) * 0.99)] * 1000


async def _under_hammer(
    stub: query_pb2_grpc.RoverQueryServiceAsyncStub, address: str
) -> tuple[float, str]:
    """The p99 (ms) while the hammer process runs, and the hammer's own figure."""
    hammer = await start("query", address, CLIENTS, SECONDS + 1, "hammer", GRID)
    assert hammer.stdout is not None
    try:
        p99 = await _p99_alone(stub, SECONDS)
        done = (await asyncio.to_thread(hammer.stdout.readline)).split()
        calls, refused, elapsed = int(done[1]), int(done[2]), float(done[3])
        return p99, f"{calls / elapsed:,.0f} q/s answered, {refused / elapsed:,.0f}/s refused"
    finally:
        hammer.wait(timeout=60)


async def main() -> None:
    with EventStoreProcess(db_path=None) as store, RedisServer() as redis_server:
        client = AsyncEventStoreDBClient(store.uri)
        await client.connect()
        history = rover_walk(GRID, rovers=ROVERS, moves=400)
        await publish(client, history)
        await client.close()
        for name, extra in CONFIGS.items():
            port = free_port()
            address = f"127.0.0.1:{port}"
            env = (
                os.environ
                | METRICS_OFF
                | extra
                | {
                    "ROVER_EVENTSTORE_URI": store.uri,
                    "ROVER_REDIS_URL": redis_server.url,
                    "ROVER_QUERY_ADDRESS": address,
                    "ROVER_LOG_LEVEL": "WARNING",
                    "ROVER_AUTH_TOKENS": json.dumps(TOKENS),
                }
            )
            query = subprocess.Popen([sys.executable, "-m", "services.query"], env=env)  # noqa: ASYNC220
            try:
                await wait_serving(address, query, "query service")
                async with grpc.aio.insecure_channel(address) as channel:
                    stub: query_pb2_grpc.RoverQueryServiceAsyncStub = (
                        query_pb2_grpc.RoverQueryServiceStub(channel)
                    )
                    await stub.GetGridDetails(
                        query_pb2.GetGridDetailsRequest(grid_id=GRID, min_version=len(history)),
                        metadata=(("authorization", "Bearer well-behaved"),),
                        timeout=60,
                    )
                    ratios = []
                    for pair in range(PAIRS):
                        alone = await _p99_alone(stub, SECONDS)
                        hammered, hammer = await _under_hammer(stub, address)
                        ratios.append(hammered / alone)
                        _say(f"  {name}, pair {pair + 1}: well-behaved GetGridDetails p99 "
                             f"{alone:.1f} ms alone, {hammered:.1f} ms with {CLIENTS} clients "
                             f"hammering ({hammer}) = {hammered / alone:.1f}x")  # fmt: skip
                figures = " ".join(f"{r:.1f}" for r in ratios)
                _say(f"{name}: {statistics.median(ratios):.1f}x, the median of {PAIRS} pairs "
                     f"({figures}; target <= 3x)")  # fmt: skip
            finally:
                query.terminate()
                query.wait(timeout=10)
