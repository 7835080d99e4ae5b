"""Query service benchmark (``python -m bench query``): projection, queries and rebuild.

Figures, each against a baseline measured in the same run (median of alternating pairs):
- catch-up projection of N integration events (events/s) vs the store's own catch-up read
  of the same events through esdbclient (target >= 0.6x);
- GetGridDetails q/s on a 100-rover grid with 32 concurrent clients vs a bare grpc.aio
  unary echo served the same way (target >= 0.6x, p99 within 1.5x);
- rebuild time of the N events;
- end-to-end visibility: commands sent open-loop at 200/s to the command service (in this
  process, against the same store); for each, the time from its acknowledgement until a
  GetGridDetails(min_version = the acknowledged version) answers (target p99 < 50 ms).
The store and the servers run as child processes; Redis is a private redis-server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

import grpc
from esdbclient import AsyncEventStoreDBClient
from redis.asyncio import Redis

from bench.servers import ECHO_METHOD, start_echo
from protos.rover.v1 import command_pb2, command_pb2_grpc, common_pb2, query_pb2, query_pb2_grpc
from services.command.bootstrap import build
from services.command.settings import CommandSettings
from services.common.integration_signing import IntegrationKeys
from services.query.adapters.esdb_feed import INTEGRATION_FILTER, EsdbEventFeed
from services.query.adapters.redis_read_model import RedisReadModel
from services.query.application.projector import Projector, projected
from services.query.application.rebuild import rebuild
from standins.eventstore.process import EventStoreProcess
from tests.integration.query.conftest import publish
from tests.support.redis_server import RedisServer, free_port
from tests.unit.query.seed import rover_walk

EVENTS = int(os.environ.get("BENCH_QUERY_EVENTS", "100000"))
PAIRS = int(os.environ.get("BENCH_QUERY_PAIRS", "5"))
GRIDS = 100  # of 10 rovers each; the query grid gets 100 rovers below
CLIENTS = 32
SECONDS = 3.0
VISIBILITY_RATE = 200  # commands/s
VISIBILITY_COMMANDS = int(os.environ.get("BENCH_QUERY_VISIBILITY_COMMANDS", "2000"))
VISIBILITY_GRIDS = 20  # one rover each; commands go round-robin over them
# BENCH_QUERY_ONLY=projection: only the catch-up projection pairs (quick iterations)
ONLY = os.environ.get("BENCH_QUERY_ONLY", "")
KEYS = IntegrationKeys([b"the-benchmark-integration-key"])  # events signed as in production


async def populate(client: AsyncEventStoreDBClient) -> None:
    per_grid = EVENTS // GRIDS
    done = 0
    for g in range(GRIDS):
        rovers = 100 if g == 0 else 10  # bench000 is the query benchmark's grid
        history = rover_walk(f"bench{g:03d}", rovers=rovers, moves=per_grid - rovers - 1)
        for start in range(0, len(history), 1000):
            await publish(client, history[start : start + 1000], keys=KEYS)
        done += len(history)
        if g % 10 == 9:
            print(f"  appended {done:,} / {EVENTS:,}", flush=True)


async def store_read(client: AsyncEventStoreDBClient, total: int) -> float:
    started = time.perf_counter()
    seen = 0
    subscription = await client.subscribe_to_all(
        filter_include=INTEGRATION_FILTER, filter_by_stream_name=True
    )
    async for _ in subscription:
        seen += 1
        if seen >= total:
            break
    await subscription.stop()
    return total / (time.perf_counter() - started)


async def projection(
    client: AsyncEventStoreDBClient, model: RedisReadModel, head: int, keys: IntegrationKeys = KEYS
) -> float:
    """Events/s of a catch-up projection; ``keys``: those the feed verifies signatures with."""
    generation = await model.new_generation()
    feed = EsdbEventFeed(client, keys=keys)
    projector = Projector(feed, model, batch_size=500, generation=generation)
    started = time.perf_counter()
    await projector.run(until=lambda cp: cp.position >= head)
    elapsed = time.perf_counter() - started
    events = projector.checkpoint.events if projector.checkpoint else 0
    await model.drop_generation(generation)
    return events / elapsed


async def load(call: object, request: object) -> tuple[float, float]:
    latencies: list[float] = []
    stop = time.perf_counter() + SECONDS

    async def worker() -> None:
        while time.perf_counter() < stop:
            t = time.perf_counter()
            await call(request)  # type: ignore[operator]
            latencies.append(time.perf_counter() - t)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    rate = len(latencies) / (time.perf_counter() - started)
    latencies.sort()
    return rate, latencies[int(len(latencies) * 0.99)] * 1000


async def _watch_integration(
    client: AsyncEventStoreDBClient, seen: dict[tuple[str, int], float]
) -> None:
    """When each integration event becomes readable in the store (the publisher's share)."""
    feed = EsdbEventFeed(client, linger_seconds=0)
    head = await feed.head()
    async for batch in feed.subscribe(head.position if head else None, 500):
        now = time.perf_counter()
        for update in map(projected, batch):
            if update is not None:
                seen[(str(update.grid_id), update.sequence)] = now


def _p50_p99(values: list[float]) -> tuple[float, float]:
    values = sorted(values)
    return values[len(values) // 2] * 1000, values[int(len(values) * 0.99)] * 1000


async def visibility(
    store_uri: str, query: object
) -> tuple[tuple[float, float], tuple[float, float], int]:
    """p50/p99 (ms) of command acknowledged -> visible to GetGridDetails, and of acknowledged
    -> its integration event readable in the store (upstream of the query service); failures.
    """
    service = build(CommandSettings(command_address="127.0.0.1:0", eventstore_uri=store_uri))
    await service.start()
    probe = AsyncEventStoreDBClient(store_uri)
    await probe.connect()
    seen: dict[tuple[str, int], float] = {}
    watcher = asyncio.create_task(_watch_integration(probe, seen))
    channel = grpc.aio.insecure_channel(service.address)
    command = command_pb2_grpc.RoverCommandServiceStub(channel)
    get: Any = query
    try:
        grids = [f"vis{n:02d}" for n in range(VISIBILITY_GRIDS)]
        for grid_id in grids:
            await command.CreateGrid(
                command_pb2.CreateGridRequest(
                    request_id=str(uuid.uuid4()),
                    grid_id=grid_id,
                    width=10,
                    height=10,
                    topology=common_pb2.TOPOLOGY_TOROIDAL,
                )
            )
            await command.CreateRover(
                command_pb2.CreateRoverRequest(
                    request_id=str(uuid.uuid4()),
                    grid_id=grid_id,
                    rover_id="r1",
                    position=common_pb2.Position(x=0, y=0),
                    facing=common_pb2.DIRECTION_NORTH,
                )
            )
        await get(query_pb2.GetGridDetailsRequest(grid_id=grids[-1], min_version=2), timeout=30)
        latencies: list[float] = []
        published: list[float] = []
        failures = 0

        async def one(grid_id: str) -> None:
            nonlocal failures
            try:
                ack = await command.TurnRoverLeft(
                    command_pb2.TurnRoverLeftRequest(
                        request_id=str(uuid.uuid4()), grid_id=grid_id, rover_id="r1"
                    )
                )
                acknowledged = time.perf_counter()
                await get(
                    query_pb2.GetGridDetailsRequest(grid_id=grid_id, min_version=ack.version),
                    timeout=5,
                )
                latencies.append(time.perf_counter() - acknowledged)
                if (grid_id, ack.version) in seen:
                    published.append(seen[grid_id, ack.version] - acknowledged)
            except grpc.aio.AioRpcError:
                failures += 1

        tasks = []
        started = time.perf_counter()
        for n in range(VISIBILITY_COMMANDS):  # open loop: one command every 1/rate s
            delay = started + n / VISIBILITY_RATE - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(grids[n % len(grids)])))
        await asyncio.gather(*tasks)
        return _p50_p99(latencies), _p50_p99(published), failures
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await probe.close()
        await channel.close()
        await service.stop()


async def main() -> None:
    with EventStoreProcess(db_path=None) as store, RedisServer() as redis_server:
        client = AsyncEventStoreDBClient(store.uri)
        await client.connect()
        print(f"populating {EVENTS:,} events in {GRIDS} grids ...", flush=True)
        await populate(client)
        feed = EsdbEventFeed(client)
        head = await feed.head()
        assert head is not None
        total = (EVENTS // GRIDS) * GRIDS
        model = RedisReadModel(Redis.from_url(redis_server.url, decode_responses=True))
        reads, projections, unverified = [], [], []
        for pair in range(PAIRS):
            reads.append(await store_read(client, total))
            projections.append(await projection(client, model, head.position))
            unverified.append(await projection(client, model, head.position, IntegrationKeys()))
            print(f"  pair {pair + 1}: store read {reads[-1]:,.0f} ev/s, "
                  f"projection {projections[-1]:,.0f} ev/s "
                  f"(unverified: {unverified[-1]:,.0f} ev/s)", flush=True)  # fmt: skip
        read_rate, project_rate = statistics.median(reads), statistics.median(projections)
        print(f"catch-up projection: {project_rate:,.0f} ev/s vs store read {read_rate:,.0f} "
              f"ev/s = {project_rate / read_rate:.2f}x (target >= 0.6x)", flush=True)  # fmt: skip
        unverified_rate = statistics.median(unverified)
        ratio = project_rate / unverified_rate
        print(f"signature checks: projection verifying {project_rate:,.0f} ev/s vs not "
              f"{unverified_rate:,.0f} ev/s = {ratio:.2f}x", flush=True)  # fmt: skip
        if ONLY == "projection":
            await model.close()
            await client.close()
            return

        print("rebuild ...", flush=True)
        result = await rebuild(feed, model, batch_size=500)
        print(f"rebuild of {result.events:,} events: {result.seconds:.1f} s", flush=True)
        await model.close()
        await client.close()

        query_port, echo_port = free_port(), free_port()
        env = os.environ | {
            "ROVER_EVENTSTORE_URI": store.uri,
            "ROVER_REDIS_URL": redis_server.url,
            "ROVER_QUERY_ADDRESS": f"127.0.0.1:{query_port}",
            "ROVER_LOG_LEVEL": "WARNING",
        }
        echo = start_echo(echo_port)
        query = subprocess.Popen([sys.executable, "-m", "services.query"], env=env)  # noqa: ASYNC220
        try:
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{query_port}")
            stub = query_pb2_grpc.RoverQueryServiceStub(channel)
            grid_request = query_pb2.GetGridDetailsRequest(grid_id="bench000")
            await channel.channel_ready()
            first = await stub.GetGridDetails(
                query_pb2.GetGridDetailsRequest(grid_id="bench000", min_version=1), timeout=120
            )
            print(f"query grid: {len(first.rovers)} rovers, version {first.version}", flush=True)
            echo_channel = grpc.aio.insecure_channel(f"127.0.0.1:{echo_port}")
            echo_call: object = echo_channel.unary_unary(ECHO_METHOD)
            payload = grid_request.SerializeToString()
            query_figures, echo_figures = [], []
            for pair in range(PAIRS):
                echo_figures.append(await load(echo_call, payload))
                query_figures.append(await load(stub.GetGridDetails, grid_request))
                print(f"  pair {pair + 1}: echo {echo_figures[-1][0]:,.0f} q/s "
                      f"p99 {echo_figures[-1][1]:.1f} ms; GetGridDetails "
                      f"{query_figures[-1][0]:,.0f} q/s p99 {query_figures[-1][1]:.1f} ms",
                      flush=True)  # fmt: skip
            q_rate = statistics.median(f[0] for f in query_figures)
            e_rate = statistics.median(f[0] for f in echo_figures)
            q_p99 = statistics.median(f[1] for f in query_figures)
            e_p99 = statistics.median(f[1] for f in echo_figures)
            print(f"GetGridDetails (100 rovers, {CLIENTS} clients): {q_rate:,.0f} q/s vs echo "
                  f"{e_rate:,.0f} q/s = {q_rate / e_rate:.2f}x (target >= 0.6x); p99 "
                  f"{q_p99:.1f} ms vs {e_p99:.1f} ms = {q_p99 / e_p99:.2f}x (target <= 1.5x)",
                  flush=True)  # fmt: skip
            await echo_channel.close()
            print(f"end-to-end visibility at {VISIBILITY_RATE} commands/s ...", flush=True)
            (p50, p99), (up50, up99), failures = await visibility(store.uri, stub.GetGridDetails)
            print(f"end-to-end command acknowledged -> visible to GetGridDetails: p50 "
                  f"{p50:.1f} ms, p99 {p99:.1f} ms over {VISIBILITY_COMMANDS:,} commands, "
                  f"{failures} failed (target p99 < 50 ms); of which acknowledged -> "
                  f"integration event readable in the store (command service publisher): "
                  f"p50 {up50:.1f} ms, p99 {up99:.1f} ms", flush=True)  # fmt: skip
            await channel.close()
        finally:
            for process in (query, echo):
                process.terminate()
                process.wait(timeout=10)
