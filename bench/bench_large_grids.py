"""Large grids (``python -m bench large_grids``): the largest CreateGrid against small commands.

The store and the command service (``python -m services.command``, its publisher included)
run as child processes. One client turns a rover on a grid of its own, one command at a
time, throughout; it is timed while nothing else runs and while a second client (a process of
its own) creates the largest valid grid (``largest_request``: 10,000 obstacles, a fresh grid
id each) back to back. The two phases alternate in pairs; reported per phase: the small
commands' p50, p99 and worst latency, and how long each large CreateGrid took. The issue's
wish: one client never stalls the others (no numeric target); the figure to watch is the
small commands' worst latency during the large ones against their p99 alone.
Environment: BENCH_LARGE_GRIDS_SECONDS (each phase, default 5), BENCH_LARGE_GRIDS_PAIRS (3).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import statistics
import time
import uuid
from multiprocessing.connection import Connection

import grpc

from bench.command.service import Service
from bench.command.workloads import create_grid
from protos.rover.v1 import command_pb2
from services.common.request_limits import largest_request
from standins.eventstore.process import EventStoreProcess
from tests.support.stubs import CommandStub, command_stub

__all__ = ["main"]

SECONDS = float(os.environ.get("BENCH_LARGE_GRIDS_SECONDS", "5"))
PAIRS = int(os.environ.get("BENCH_LARGE_GRIDS_PAIRS", "3"))


def _say(text: str) -> None:
    print(text, flush=True)


def _creator(conn: Connection, address: str, seconds: float) -> None:
    """Create the largest valid grid back to back for ``seconds``; send each one's latency."""

    async def run() -> list[float]:
        request = largest_request("rover.v1.CreateGridRequest")
        assert isinstance(request, command_pb2.CreateGridRequest)
        took: list[float] = []
        async with grpc.aio.insecure_channel(address) as channel:
            stub = command_stub(channel)
            conn.send("ready")
            stop = time.perf_counter() + seconds
            while time.perf_counter() < stop:
                request.grid_id = f"large-{uuid.uuid4().hex[:12]}"
                started = time.perf_counter()
                await stub.CreateGrid(request, timeout=120)
                took.append(time.perf_counter() - started)
        return took

    conn.send(asyncio.run(run()))


async def _small(stub: CommandStub, grid_id: str, seconds: float) -> list[float]:
    request = command_pb2.TurnRoverLeftRequest(grid_id=grid_id, rover_id="r")
    samples: list[float] = []
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop:
        started = time.perf_counter()
        await stub.TurnRoverLeft(request)
        samples.append(time.perf_counter() - started)
    return samples


def _figures(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50, p99 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99)]
    return f"p50 {p50 * 1e3:6.1f} ms  p99 {p99 * 1e3:6.1f} ms  worst {ordered[-1] * 1e3:6.1f} ms"


async def main() -> None:
    context = multiprocessing.get_context("spawn")
    with EventStoreProcess(db_path=None) as store:
        service = Service(store.uri)
        address = f"127.0.0.1:{service.port}"
        try:
            async with grpc.aio.insecure_channel(address) as channel:
                stub = command_stub(channel)
                grid_id = f"small-{uuid.uuid4().hex[:10]}"
                await create_grid(stub, grid_id)
                await _small(stub, grid_id, 1.0)  # warm
                worst_ratio: list[float] = []
                for pair in range(PAIRS):
                    alone = await _small(stub, grid_id, SECONDS)
                    mine, theirs = context.Pipe()
                    creator = context.Process(target=_creator, args=(theirs, address, SECONDS))
                    creator.start()
                    theirs.close()  # so that a creator that dies ends recv() (EOFError)
                    await asyncio.to_thread(mine.recv)  # "ready"
                    during = await _small(stub, grid_id, SECONDS)
                    took: list[float] = await asyncio.to_thread(mine.recv)
                    creator.join(60)
                    if creator.is_alive():
                        creator.terminate()
                    p99_alone = sorted(alone)[int(len(alone) * 0.99)]
                    worst_ratio.append(max(during) / p99_alone)
                    _say(f"  pair {pair + 1}: small commands alone   {_figures(alone)}")
                    each = statistics.median(took) * 1e3
                    _say(f"          during large grids {_figures(during)}  ({len(took)} "
                         f"largest CreateGrids, {each:.0f} ms each)")  # fmt: skip
        finally:
            service.stop()
    _say(
        f"small commands' worst latency during the largest CreateGrids / their p99 alone: "
        f"{statistics.median(worst_ratio):.1f}x (pairs {' '.join(f'{r:.1f}' for r in worst_ratio)})"
    )
