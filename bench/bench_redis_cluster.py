"""Read model on Redis Cluster vs one Redis (``python -m bench redis_cluster``).

In one run, against the same events, alternating pairs (median of the ratios):
- catch-up projection (events/s) into a 3-master Redis Cluster (the tagged key layout,
  commits split per grid) vs into one redis-server (target >= 0.9x);
- GetGridDetails q/s with 32 concurrent clients over every grid, from a query service on the
  cluster vs one on the single server (target >= 0.9x), with each one's p99;
- the per-node key spread of the cluster (keys per master, DBSIZE).
All servers are child processes on this machine, so the cluster's three nodes share its
cores with everything else: the figure is the cost of the cluster protocol, not a scale-out.
``BENCH_REDIS_CLUSTER_EVENTS`` (default 30000) and ``BENCH_REDIS_CLUSTER_PAIRS`` (5) size it.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from esdbclient import AsyncEventStoreDBClient
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from bench.bench_query import projection
from bench.pairs import alternate
from protos.rover.v1 import query_pb2, query_pb2_grpc
from services.query.adapters.esdb_feed import EsdbEventFeed
from services.query.adapters.redis_cluster_model import RedisClusterReadModel
from services.query.adapters.redis_connect import connect
from services.query.adapters.redis_read_model import RedisReadModel
from standins.eventstore.process import EventStoreProcess
from tests.integration.query.conftest import publish
from tests.support.redis_cluster import RedisClusterGroup
from tests.support.redis_server import RedisServer, free_port
from tests.unit.query.seed import rover_walk

EVENTS = int(os.environ.get("BENCH_REDIS_CLUSTER_EVENTS", "30000"))
PAIRS = int(os.environ.get("BENCH_REDIS_CLUSTER_PAIRS", "5"))
GRIDS = 60  # of 5 rovers each, spread over the cluster's slots
CLIENTS = 32
SECONDS = float(os.environ.get("BENCH_REDIS_CLUSTER_SECONDS", "3"))


async def populate(client: AsyncEventStoreDBClient) -> list[str]:
    per_grid = EVENTS // GRIDS
    grids = [f"bench{g:03d}" for g in range(GRIDS)]
    for grid_id in grids:
        history = rover_walk(grid_id, rovers=5, moves=max(1, per_grid - 6))
        for start in range(0, len(history), 1000):
            await publish(client, history[start : start + 1000])
    return grids


def model_on(url: str) -> RedisReadModel:
    clients = connect(url)
    if isinstance(clients.text, RedisCluster):
        assert isinstance(clients.raw, RedisCluster)
        return RedisClusterReadModel(clients.text, raw=clients.raw)
    assert isinstance(clients.text, Redis)
    assert isinstance(clients.raw, Redis)
    return RedisReadModel(clients.text, raw=clients.raw)


async def load(call: Callable[..., Awaitable[Any]], grids: list[str]) -> tuple[float, float]:
    """q/s and p99 (ms) of GetGridDetails by CLIENTS workers, each going round the grids."""
    latencies: list[float] = []
    stop = time.perf_counter() + SECONDS

    async def worker(offset: int) -> None:
        n = offset
        while time.perf_counter() < stop:
            request = query_pb2.GetGridDetailsRequest(grid_id=grids[n % len(grids)])
            t = time.perf_counter()
            await call(request)
            latencies.append(time.perf_counter() - t)
            n += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(CLIENTS)))
    rate = len(latencies) / (time.perf_counter() - started)
    latencies.sort()
    return rate, latencies[int(len(latencies) * 0.99)] * 1000


def start_query(store_uri: str, redis_url: str, port: int) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "ROVER_EVENTSTORE_URI": store_uri,
        "ROVER_REDIS_URL": redis_url,
        "ROVER_QUERY_ADDRESS": f"127.0.0.1:{port}",
        "ROVER_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen([sys.executable, "-m", "services.query"], env=env)


async def queries(store_uri: str, urls: dict[str, str], grids: list[str]) -> None:
    ports = {name: free_port() for name in urls}
    processes = [start_query(store_uri, urls[n], ports[n]) for n in urls]
    channels = {n: grpc.aio.insecure_channel(f"127.0.0.1:{ports[n]}") for n in urls}
    try:
        stubs = {n: query_pb2_grpc.RoverQueryServiceStub(c) for n, c in channels.items()}
        for name, stub in stubs.items():  # both have every grid before the load
            await channels[name].channel_ready()
            for grid_id in grids:
                request = query_pb2.GetGridDetailsRequest(grid_id=grid_id, min_version=1)
                await stub.GetGridDetails(request, timeout=120)
        results = await alternate(
            PAIRS,
            lambda: load(stubs["cluster"].GetGridDetails, grids),
            lambda: load(stubs["single"].GetGridDetails, grids),
        )
        for pair, (mine, base) in enumerate(results, start=1):
            print(f"  pair {pair}: cluster {mine[0]:,.0f} q/s p99 {mine[1]:.1f} ms; "
                  f"single {base[0]:,.0f} q/s p99 {base[1]:.1f} ms", flush=True)  # fmt: skip
        ratio = statistics.median(mine[0] / base[0] for mine, base in results)
        p99s = [statistics.median(r[k][1] for r in results) for k in (0, 1)]
        print(f"GetGridDetails ({GRIDS} grids, {CLIENTS} clients): cluster / single = "
              f"{ratio:.2f}x (target >= 0.9x); p99 cluster {p99s[0]:.1f} ms, single "
              f"{p99s[1]:.1f} ms", flush=True)  # fmt: skip
    finally:
        for channel in channels.values():
            await channel.close()
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


async def main() -> None:
    with (
        EventStoreProcess(db_path=None) as store,
        RedisServer() as single,
        RedisClusterGroup() as cluster,
    ):
        client = AsyncEventStoreDBClient(store.uri)
        await client.connect()
        print(f"populating {EVENTS:,} events in {GRIDS} grids ...", flush=True)
        grids = await populate(client)
        head = await EsdbEventFeed(client).head()
        assert head is not None
        models = {"cluster": model_on(cluster.url), "single": model_on(single.url)}
        results = await alternate(
            PAIRS,
            lambda: projection(client, models["cluster"], head.position),
            lambda: projection(client, models["single"], head.position),
        )
        for pair, (mine, base) in enumerate(results, start=1):
            print(f"  pair {pair}: cluster {mine:,.0f} ev/s, single {base:,.0f} ev/s", flush=True)
        ratio = statistics.median(mine / base for mine, base in results)
        print(f"catch-up projection: cluster {statistics.median(r[0] for r in results):,.0f} "
              f"ev/s vs single {statistics.median(r[1] for r in results):,.0f} ev/s: "
              f"cluster / single = {ratio:.2f}x (target >= 0.9x)", flush=True)  # fmt: skip
        for model in models.values():
            await model.close()
        await client.close()
        await queries(store.uri, {"cluster": cluster.url, "single": single.url}, grids)
        spread = cluster.keys_per_node()
        share = ", ".join(f"{count:,} ({count / max(1, sum(spread)):.0%})" for count in spread)
        print(f"cluster key spread over its {len(spread)} masters: {share}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
