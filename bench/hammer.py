"""The hammering clients of ``python -m bench fairness``, in a process of their own.

``python -m bench.hammer query ADDRESS CLIENTS SECONDS TOKEN GRID``: CLIENTS clients, each on
a connection of its own, call GetGridDetails back to back with ``authorization: Bearer TOKEN``
(none when TOKEN is ``-``). Prints ``ready`` once every client has had an answer, then
``done CALLS REFUSED SECONDS`` at the end.

``python -m bench.hammer watch ADDRESS WATCHERS SECONDS TOKEN GRID``: WATCHERS WatchGrid calls
over BENCH_WATCHERS_CONNECTIONS (20) connections (no window growth) that never read. Prints
``ready`` once all are open (each has its headers back), then ``done OPEN ENDED SECONDS``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import grpc

from protos.rover.v1 import live_pb2, live_pb2_grpc, query_pb2, query_pb2_grpc


async def _run(address: str, clients: int, seconds: float, token: str, grid_id: str) -> None:
    metadata = [] if token == "-" else [("authorization", f"Bearer {token}")]
    request = query_pb2.GetGridDetailsRequest(grid_id=grid_id)
    channels = [
        grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(clients)
    ]
    answered = 0
    all_answered = asyncio.Event()
    stop = asyncio.Event()
    calls = refused = 0

    async def client(channel: grpc.aio.Channel) -> None:
        nonlocal answered, calls, refused
        stub = query_pb2_grpc.RoverQueryServiceStub(channel)
        first = True
        while not stop.is_set():
            try:
                await stub.GetGridDetails(request, metadata=metadata, timeout=30)
                calls += 1
            except grpc.aio.AioRpcError:
                refused += 1
            if first:
                first = False
                answered += 1
                if answered == clients:
                    all_answered.set()

    tasks = [asyncio.create_task(client(channel)) for channel in channels]
    await all_answered.wait()
    print("ready", flush=True)
    calls = refused = 0
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    stop.set()
    elapsed = time.perf_counter() - started
    print(f"done {calls} {refused} {elapsed:.3f}", flush=True)
    await asyncio.gather(*tasks)
    for channel in channels:
        await channel.close()


async def _watch(address: str, watchers: int, seconds: float, token: str, grid_id: str) -> None:
    metadata = [] if token == "-" else [("authorization", f"Bearer {token}")]
    options = [("grpc.use_local_subchannel_pool", 1), ("grpc.http2.bdp_probe", 0)]
    connections = int(os.environ.get("BENCH_WATCHERS_CONNECTIONS", "20"))
    channels = [grpc.aio.insecure_channel(address, options=options) for _ in range(connections)]
    request = live_pb2.WatchGridRequest(grid_id=grid_id)
    calls = []
    for n in range(watchers):
        stub = live_pb2_grpc.RoverLiveServiceStub(channels[n % len(channels)])
        calls.append(stub.WatchGrid(request, metadata=metadata))
    # Open: each has sent its headers back (the server took it); nothing is ever read.
    await asyncio.gather(*(call.initial_metadata() for call in calls))
    print("ready", flush=True)
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    ended = sum(call.done() for call in calls)
    print(f"done {len(calls) - ended} {ended} {time.perf_counter() - started:.3f}", flush=True)
    for call in calls:
        call.cancel()
    for channel in channels:
        await channel.close()


async def start(
    mode: str, address: str, count: int, seconds: float, token: str, grid_id: str
) -> subprocess.Popen[bytes]:
    """This module as a child process, once it printed ``ready``; read ``done`` from its stdout."""
    argv = [mode, address, str(count), str(seconds), token, grid_id]
    # Lowest CPU priority: it stands for clients on other machines (see bench/bench_fairness.py).
    command = ["nice", "-n", "19", sys.executable, "-m", "bench.hammer", *argv]
    child = subprocess.Popen(command, stdout=subprocess.PIPE)  # noqa: ASYNC220 - lives on
    assert child.stdout is not None
    line = await asyncio.to_thread(child.stdout.readline)
    if line.strip() != b"ready":
        child.kill()
        child.wait()
        raise RuntimeError(f"bench.hammer {mode} did not start: {line!r}")
    return child


def main(argv: list[str]) -> None:
    mode, address, clients, seconds, token, grid_id = argv
    run = _watch if mode == "watch" else _run
    asyncio.run(run(address, int(clients), float(seconds), token, grid_id))


if __name__ == "__main__":
    main(sys.argv[1:])
