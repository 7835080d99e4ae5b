"""Command inbox benchmark: commands/s through the inbox against gRPC in the same run, and the
acknowledged -> reply latency of queued commands at a fixed open-loop rate.

Runs the in-memory embedded event store and the command service (inbox on) as child processes.
From this process: gRPC commands/s with 16 closed-loop clients (one grid each); inbox commands/s
with 16 closed-loop appenders (one grid's inbox stream each: append, wait for the reply, next);
then commands sent open-loop at ``--rate`` per second for ``--seconds`` round-robin over
``--grids`` grids, through the inbox (timed from the append's acknowledgement until the reply
is readable, seen by a subscription to ``$all`` filtered to the reply streams) and, at the same
rate, through gRPC (the call's round trip). Ratios inbox/gRPC are printed for each figure.

Flags (or ``BENCH_INBOX_RATE``, ``BENCH_INBOX_SECONDS``, ``BENCH_INBOX_GRIDS``)::

    python -m bench.bench_inbox --rate 200 --seconds 10 --grids 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import grpc
from esdbclient import AsyncEventStoreDBClient, NewEvent, StreamState

from bench.command.service import Service
from bench.command.timing import ms, percentile, timed
from bench.command.workloads import command_rate, create_grid
from protos.rover.v1 import command_pb2
from standins.eventstore.process import EventStoreProcess
from tests.support.stubs import CommandStub, command_stub

__all__ = ["main"]

WORKERS = 16
_REPLIES = "bench-answers-"  # reply streams: one per grid, named in each command's metadata


def _say(text: str) -> None:
    print(text, flush=True)


class Replies:
    """When each reply became readable (request_id -> perf_counter), from one subscription."""

    def __init__(self, client: AsyncEventStoreDBClient) -> None:
        self._client = client
        self.seen: dict[str, float] = {}
        self._waiters: dict[str, asyncio.Future[float]] = {}
        self._ready = asyncio.Event()

    async def run(self) -> None:
        subscription = await self._client.subscribe_to_all(
            from_end=True, filter_include=[f"{_REPLIES}.*"], filter_by_stream_name=True
        )
        self._ready.set()
        async with subscription:
            async for event in subscription:
                request_id = json.loads(event.metadata)["request_id"]
                now = time.perf_counter()
                self.seen.setdefault(request_id, now)
                waiter = self._waiters.pop(request_id, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(now)

    async def ready(self) -> None:
        await self._ready.wait()

    async def wait(self, request_id: str) -> float:
        """When the reply to ``request_id`` arrived (waits for it)."""
        if request_id in self.seen:
            return self.seen[request_id]
        future = self._waiters.setdefault(request_id, asyncio.get_running_loop().create_future())
        return await future


async def _enqueue(client: AsyncEventStoreDBClient, grid_id: str, request_id: str) -> float:
    """Append one MoveRoverForward to the grid's inbox; when the append was acknowledged."""
    request = command_pb2.MoveRoverForwardRequest(
        request_id=request_id, grid_id=grid_id, rover_id="r"
    )
    event = NewEvent(
        type=request.DESCRIPTOR.full_name,
        data=request.SerializeToString(),
        metadata=json.dumps({"reply_stream": f"{_REPLIES}{grid_id}"}).encode(),
        content_type="application/octet-stream",
    )
    await client.append_to_stream(
        f"rover-inbox-{grid_id}", current_version=StreamState.ANY, events=event
    )
    return time.perf_counter()


async def _inbox_rate(
    client: AsyncEventStoreDBClient, stub: CommandStub, replies: Replies, seconds: float
) -> tuple[float, list[float]]:
    grids = [f"inbox-{uuid.uuid4().hex[:10]}" for _ in range(WORKERS)]
    await asyncio.gather(*(create_grid(stub, g) for g in grids))

    def make(index: int) -> Callable[[], Awaitable[object]]:
        async def queued() -> None:
            request_id = uuid.uuid4().hex
            await _enqueue(client, grids[index], request_id)
            await replies.wait(request_id)

        return queued

    return await timed(WORKERS, seconds, make)


async def _open_loop(
    rate: float, seconds: float, send: Callable[[int], Coroutine[Any, Any, float]]
) -> list[float]:
    """Start ``send(i)`` every 1/rate s for ``seconds``; each returns its own latency."""
    tasks: list[asyncio.Task[float]] = []
    started = time.perf_counter()
    for index in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, started + index / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(send(index)))
    return list(await asyncio.gather(*tasks))


async def _latencies(
    client: AsyncEventStoreDBClient, stub: CommandStub, replies: Replies, args: argparse.Namespace
) -> tuple[list[float], list[float]]:
    grids = [f"lat-{uuid.uuid4().hex[:10]}" for _ in range(args.grids)]
    await asyncio.gather(*(create_grid(stub, g) for g in grids))

    async def queued(index: int) -> float:
        request_id = uuid.uuid4().hex
        acknowledged = await _enqueue(client, grids[index % len(grids)], request_id)
        return await replies.wait(request_id) - acknowledged

    async def direct(index: int) -> float:
        request = command_pb2.MoveRoverForwardRequest(
            request_id=uuid.uuid4().hex, grid_id=grids[index % len(grids)], rover_id="r"
        )
        sent = time.perf_counter()
        await stub.MoveRoverForward(request)
        return time.perf_counter() - sent

    _say(f"inbox: {args.rate:g} commands/s for {args.seconds:g} s over {args.grids} grids ...")
    inbox = await _open_loop(args.rate, args.seconds, queued)
    _say(f"gRPC: {args.rate:g} commands/s for {args.seconds:g} s over {args.grids} grids ...")
    grpc_calls = await _open_loop(args.rate, args.seconds, direct)
    return inbox, grpc_calls


def _figures(samples: list[float]) -> tuple[float, float]:
    return statistics.median(samples), percentile(samples, 0.99)


async def _measure(uri: str, port: int, args: argparse.Namespace) -> None:
    client = AsyncEventStoreDBClient(uri)
    await client.connect()
    replies = Replies(client)
    watcher = asyncio.create_task(replies.run())
    await replies.ready()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = command_stub(channel)
            _say(f"gRPC: {WORKERS} closed-loop clients, {args.seconds:g} s ...")
            grpc_rate, _ = await command_rate(stub, WORKERS, args.seconds)
            _say(f"inbox: {WORKERS} closed-loop appenders (append, await reply), ...")
            inbox_rate, round_trips = await _inbox_rate(client, stub, replies, args.seconds)
            inbox, direct = await _latencies(client, stub, replies, args)
    finally:
        watcher.cancel()
        await client.close()
    (inbox_p50, inbox_p99), (grpc_p50, grpc_p99) = _figures(inbox), _figures(direct)
    _say("\nresults")
    _say(
        f"  throughput, {WORKERS} closed loops: inbox {inbox_rate:,.0f} commands/s, gRPC "
        f"{grpc_rate:,.0f} commands/s (ratio inbox/gRPC {inbox_rate / grpc_rate:.2f}); inbox "
        f"append -> reply p50 {ms(statistics.median(round_trips))}"
    )
    _say(
        f"  at {args.rate:g} commands/s: inbox acknowledged -> reply p50 {ms(inbox_p50)}, "
        f"p99 {ms(inbox_p99)}; gRPC round trip p50 {ms(grpc_p50)}, p99 {ms(grpc_p99)} "
        f"(ratios {inbox_p50 / grpc_p50:.2f} and {inbox_p99 / grpc_p99:.2f})"
    )


def _arguments(argv: list[str]) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m bench.bench_inbox", description=__doc__)
    parser.add_argument("--rate", type=float, default=float(env("BENCH_INBOX_RATE", "200")))
    parser.add_argument("--seconds", type=float, default=float(env("BENCH_INBOX_SECONDS", "10")))
    parser.add_argument("--grids", type=int, default=int(env("BENCH_INBOX_GRIDS", "20")))
    return parser.parse_args(argv)


async def main(argv: list[str] | None = None) -> None:
    """Start the store and the service, measure, stop them."""
    args = _arguments([] if argv is None else argv)
    _say("starting the in-memory embedded event store and the command service (inbox on)")
    with EventStoreProcess(db_path=None) as store:
        service = Service(store.uri)
        try:
            await _measure(store.uri, service.port, args)
        finally:
            service.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
