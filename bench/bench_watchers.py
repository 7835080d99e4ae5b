"""Slow watchers (``python -m bench watchers``): a new WatchGrid's first message, alone and
while 2,000 watchers that never read are open on the same grid.

The broadcaster runs as a child process; events are appended to the grid at a steady rate the
whole time (so the slow watchers' windows fill and their queues overflow). Each probe opens a
connection of its own, calls WatchGrid and times its first message (the snapshot). The figure
is the probes' p50 and max with the slow watchers against the same without them.
Environment: BENCH_WATCHERS (default 2000), BENCH_WATCHERS_PROBES (default 40),
BENCH_WATCHERS_CONNECTIONS (the slow watchers' connections, default 20).
"""

from __future__ import annotations

import asyncio
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
from protos.rover.v1 import live_pb2, live_pb2_grpc
from standins.eventstore.process import EventStoreProcess
from tests.integration.broadcaster.helpers import Appender, new_grid_id
from tests.support.redis_server import free_port
from tests.unit.broadcaster.scripts import GridScript

WATCHERS = int(os.environ.get("BENCH_WATCHERS", "2000"))
PROBES = int(os.environ.get("BENCH_WATCHERS_PROBES", "40"))
EVENTS_PER_SECOND = 20


async def _probes(address: str, grid_id: str) -> list[float]:
    """Seconds from each new WatchGrid call to its first message."""
    firsts: list[float] = []
    request = live_pb2.WatchGridRequest(grid_id=grid_id)
    for _ in range(PROBES):
        own = [("grpc.use_local_subchannel_pool", 1)]
        async with grpc.aio.insecure_channel(address, options=own) as channel:
            await channel.channel_ready()
            started = time.perf_counter()
            call = live_pb2_grpc.RoverLiveServiceStub(channel).WatchGrid(request, timeout=60)
            await call.read()
            firsts.append(time.perf_counter() - started)
            call.cancel()
        await asyncio.sleep(0.05)
    return firsts


def _figure(firsts: list[float]) -> str:
    return f"p50 {statistics.median(firsts) * 1000:.1f} ms, max {max(firsts) * 1000:.1f} ms"


async def _produce(appender: Appender, script: GridScript, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await appender.append(script.bump())
        await asyncio.sleep(1 / EVENTS_PER_SECOND)


async def main() -> None:
    with EventStoreProcess(db_path=None) as store:
        client = AsyncEventStoreDBClient(store.uri)
        await client.connect()
        appender = Appender(client)
        script = GridScript(new_grid_id("slow"), rovers=0)
        await appender.append(script.bump())
        await appender.append(script.bump())
        address = f"127.0.0.1:{free_port()}"
        env = (
            os.environ
            | METRICS_OFF
            | {
                "ROVER_EVENTSTORE_URI": store.uri,
                "ROVER_BROADCASTER_ADDRESS": address,
                "ROVER_LOG_LEVEL": "WARNING",
                "ROVER_MAX_WATCHERS_PER_CLIENT": str(WATCHERS * 2),
            }
        )
        server = subprocess.Popen([sys.executable, "-m", "services.broadcaster"], env=env)  # noqa: ASYNC220
        stop = asyncio.Event()
        producer = asyncio.create_task(_produce(appender, script, stop))
        try:
            await wait_serving(address, server, "broadcaster")
            alone = await _probes(address, script.grid_id)
            hammer = await start("watch", address, WATCHERS, 3600, "-", script.grid_id)
            try:
                await asyncio.sleep(5)  # the events fill their windows and queues meanwhile
                slowed = await _probes(address, script.grid_id)
            finally:
                hammer.terminate()
                hammer.wait(timeout=30)
            print(f"WatchGrid first message: alone {_figure(alone)}; with {WATCHERS:,} "
                  f"watchers that never read {_figure(slowed)} = "
                  f"{statistics.median(slowed) / statistics.median(alone):.1f}x at the median",
                  flush=True)  # fmt: skip
        finally:
            stop.set()
            await asyncio.gather(producer, return_exceptions=True)
            server.terminate()
            server.wait(timeout=30)
            appender.close()
            await client.close()
