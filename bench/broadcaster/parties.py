"""The processes of the broadcaster benchmark, each driven over a pipe.

- ``watchers``: one client process per measurement, 1,000 WatchGrid streams (or the bare
  equivalent) over 10 channels that share one connection (or over ``connections`` channels
  of their own, which SO_REUSEPORT spreads over instances sharing a port); it says "done"
  once every stream has its last update, then cancels them and checks every stream's
  sequences (lost, duplicated).
- ``appender``: appends the grids' integration events to the store through the command
  service's own adapter (EsdbIntegrationLog: pooled BatchAppend calls), paced or full speed.
- ``bare``: a grpc.aio fan-out with one unbounded queue per stream that produces the same
  GridUpdate bytes itself: the floor of any fan-out.
- ``store_fed``: the same bare fan-out, fed by one esdbclient subscription to the store
  (filtered to the integration streams) instead of producing: a reference for a fan-out fed
  by the store, as the broadcaster is, with nothing of ours in it.

A producer answers ``(kind, count)`` with ``(acked, versions)``: when each event was
acknowledged (or queued) and every grid's version after the run; ``("stop", 0)`` ends it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from multiprocessing.connection import Connection
from typing import Any

import grpc
from esdbclient import AsyncEventStoreDBClient

from bench.broadcaster.events import Grids
from bench.channels import connection
from protos.rover.v1 import common_pb2, live_pb2
from services.broadcaster.adapters.esdb import INTEGRATION_STREAM_FILTER
from services.broadcaster.adapters.fast_wire import encode_change
from services.broadcaster.adapters.wire import StoredIntegrationEvent
from services.command.adapters.esdb_publishing import EsdbIntegrationLog
from services.command.adapters.pooled_appends import PooledAppender

__all__ = [
    "BARE_METHOD",
    "GRIDS",
    "RATE",
    "WATCHERS",
    "Acked",
    "Updates",
    "appender_process",
    "bare_process",
    "run_watchers",
    "store_fed_process",
    "watchers_process",
]

WATCHERS = 1_000
GRIDS = 100
RATE = 100.0  # events/s in the paced runs
BATCH = 4  # events per append at full speed (a short ExecuteRoverCommands)
BARE_METHOD = "/bench.BareFanout/Watch"

Acked = dict[tuple[int, int], float]


# --- the watchers ----------------------------------------------------------------------------


def watchers_process(
    conn: Connection,
    target: str,
    method: str,
    grids: list[str],
    connections: int = 0,
    count: int = WATCHERS,
) -> None:
    """Watch every grid with ``count`` streams; report what each received."""
    asyncio.run(_grpc_watchers(conn, target, method, grids, connections, count))


# One stream's updates as (case, sequence): "snapshot", "event", "heartbeat", "resume".
Updates = AsyncIterator[tuple[str, int]]


async def _grpc_watchers(
    conn: Connection, target: str, method: str, grids: list[str], connections: int, count: int
) -> None:
    if connections:
        channels = [connection(target) for _ in range(connections)]
    else:
        channels = [grpc.aio.insecure_channel(target) for _ in range(10)]

    async def updates(index: int, grid_id: str) -> Updates:
        stream = channels[index % len(channels)].unary_stream(
            method,
            request_serializer=lambda r: r,
            response_deserializer=live_pb2.GridUpdate.FromString,
        )
        request = live_pb2.WatchGridRequest(grid_id=grid_id).SerializeToString()
        async for update in stream(request):
            yield update.WhichOneof("update") or "", update.sequence

    try:
        await run_watchers(conn, grids, count, updates)
    finally:
        for channel in channels:
            await channel.close()


async def run_watchers(
    conn: Connection,
    grids: list[str],
    count: int,
    updates: Callable[[int, str], Updates],
) -> None:
    """``count`` streams over ``grids`` (``updates(index, grid_id)`` opens one), driven over
    ``conn``: "ready" once each has its snapshot, then the grids' final versions in, "done"
    when each stream has its grid's last event, then what each received (lost, duplicated)."""
    received: list[list[tuple[int, float]]] = [[] for _ in range(count)]
    starts = [0] * count
    ready = asyncio.Event()
    subscribed = 0
    finals: dict[int, int] = {}
    done = asyncio.Event()
    remaining = count

    async def watch(index: int) -> None:
        nonlocal subscribed, remaining
        grid = index % len(grids)
        got = received[index]
        finished = False
        async for kind, sequence in updates(index, grids[grid]):
            if kind == "snapshot":
                starts[index] = sequence
                subscribed += 1
                if subscribed == count:
                    ready.set()
                continue
            if kind != "event":
                continue
            got.append((sequence, time.monotonic()))
            final = finals.get(grid)
            if not finished and final is not None and sequence >= final:
                finished = True
                remaining -= 1
                if remaining == 0:
                    done.set()

    tasks = [asyncio.create_task(watch(i)) for i in range(count)]
    await ready.wait()
    conn.send("ready")
    loop = asyncio.get_running_loop()
    expected: dict[int, int] = await loop.run_in_executor(None, conn.recv)
    finals.update(expected)
    for index in range(count):  # those already complete before the finals were known
        got = received[index]
        if got and got[-1][0] >= finals[index % len(grids)]:
            remaining -= 1
    if remaining <= 0:
        done.set()
    await done.wait()
    conn.send("done")  # everything delivered: the measurement window closes before teardown
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    lost = duplicated = 0
    deliveries: list[tuple[int, int, float]] = []
    for index, got in enumerate(received):
        grid = index % len(grids)
        sequences = [s for s, _ in got]
        wanted = range(starts[index] + 1, finals[grid] + 1)
        duplicated += len(sequences) - len(set(sequences))
        lost += len(set(wanted) - set(sequences))
        deliveries.extend((grid, s, t) for s, t in got)
    conn.send({"lost": lost, "duplicated": duplicated, "deliveries": deliveries})


# --- producers -------------------------------------------------------------------------------


async def _pace(count: int, publish: Callable[[int], Coroutine[Any, Any, None]]) -> None:
    """``count`` events at RATE per second, round-robin over the grids, without waiting."""
    started = time.monotonic()
    tasks: list[asyncio.Task[None]] = []
    for n in range(count):
        delay = started + n / RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(publish(n % GRIDS)))
    await asyncio.gather(*tasks)


async def _serve_requests(
    conn: Connection,
    paced: Callable[[int], Awaitable[None]],
    full: Callable[[int], Awaitable[None]],
    grids: Grids,
    acked: Acked,
) -> None:
    loop = asyncio.get_running_loop()
    while True:
        request: tuple[str, int] = await loop.run_in_executor(None, conn.recv)
        kind, count = request
        if kind == "stop":
            return
        acked.clear()
        await (paced if kind == "paced" else full)(count)
        conn.send((dict(acked), list(grids.version)))


def appender_process(conn: Connection, uri: str) -> None:
    """Create the grids in the store, then append their turns on request."""
    asyncio.run(_appender(conn, uri))


async def _appender(conn: Connection, uri: str) -> None:
    client = AsyncEventStoreDBClient(uri)
    await client.connect()
    pooled = PooledAppender(client)  # as the command service appends by default
    if not pooled.start():
        raise RuntimeError("esdbclient lacks what the pooled appender needs; see the log")
    log = EsdbIntegrationLog(client, appender=pooled)
    grids = Grids(GRIDS)
    for index, grid_id in enumerate(grids.ids):
        await log.append(grid_id, grids.start(index))
    conn.send(grids.ids)
    locks = [asyncio.Lock() for _ in range(GRIDS)]
    acked: Acked = {}

    async def append(index: int, turns: int = 1) -> None:
        async with locks[index]:  # one append at a time per grid keeps versions in order
            envelopes = [e for _ in range(turns) for e in grids.turn(index)]
            await log.append(grids.ids[index], envelopes)
            now = time.monotonic()
            for e in envelopes:
                acked[(index, e.sequence)] = now

    async def full(count: int) -> None:
        async def one(index: int) -> None:
            for _ in range(count // GRIDS // BATCH):
                await append(index, BATCH)

        await asyncio.gather(*(one(i) for i in range(GRIDS)))

    await _serve_requests(conn, lambda n: _pace(n, append), full, grids, acked)
    await client.close()


# --- the bare fan-outs -----------------------------------------------------------------------


class BareFanout:
    """grpc.aio and one unbounded queue per stream: the floor of any fan-out."""

    def __init__(self, grids: list[str], versions: list[int]) -> None:
        self.versions = versions
        self.index = {g: i for i, g in enumerate(grids)}
        self.streams: list[list[asyncio.Queue[bytes]]] = [[] for _ in grids]
        self.server = grpc.aio.server()
        handler = grpc.method_handlers_generic_handler(
            "bench.BareFanout",
            {"Watch": grpc.unary_stream_rpc_method_handler(self.watch)},
        )
        self.server.add_generic_rpc_handlers((handler,))
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    async def watch(self, request: bytes, context: Any) -> Any:
        """Stream the grid's updates: first its version, shaped like the broadcaster's."""
        grid = self.index[live_pb2.WatchGridRequest.FromString(request).grid_id]
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.streams[grid].append(queue)
        try:
            yield live_pb2.GridUpdate(
                sequence=self.versions[grid], snapshot=common_pb2.GridDetails()
            ).SerializeToString()
            while True:
                yield await queue.get()
        finally:
            self.streams[grid].remove(queue)

    def publish(self, grid: int, message: bytes) -> None:
        """Queue ``message`` for every stream of the grid."""
        for queue in self.streams[grid]:
            queue.put_nowait(message)


def bare_process(conn: Connection) -> None:
    """Serve a bare fan-out that produces its own events on request."""
    asyncio.run(_bare(conn))


async def _bare(conn: Connection) -> None:
    grids = Grids(GRIDS)
    for index in range(GRIDS):
        grids.start(index)
    fanout = BareFanout(grids.ids, grids.version)
    await fanout.server.start()
    conn.send((fanout.port, grids.ids))
    acked: Acked = {}

    async def publish(index: int) -> None:
        for envelope in grids.turn(index):
            acked[(index, envelope.sequence)] = time.monotonic()
            fanout.publish(index, encode_change(StoredIntegrationEvent.of(envelope)))

    async def full(count: int) -> None:
        for n in range(count):
            await publish(n % GRIDS)

    await _serve_requests(conn, lambda n: _pace(n, publish), full, grids, acked)
    await fanout.server.stop(0.5)


def store_fed_process(conn: Connection, uri: str, grids: list[str], versions: list[int]) -> None:
    """Serve a bare fan-out of ``grids`` (at ``versions`` now) fed by the store."""
    asyncio.run(_store_fed(conn, uri, grids, versions))


async def _store_fed(conn: Connection, uri: str, grids: list[str], versions: list[int]) -> None:
    fanout = BareFanout(grids, list(versions))
    await fanout.server.start()
    client = AsyncEventStoreDBClient(uri)
    await client.connect()
    subscription = await client.subscribe_to_all(
        commit_position=await client.get_commit_position() or None,
        filter_include=(INTEGRATION_STREAM_FILTER,),
        filter_by_stream_name=True,
    )
    conn.send(fanout.port)
    async for recorded in subscription:  # until the process is terminated
        event = StoredIntegrationEvent(recorded.data)
        index = fanout.index.get(event.grid_id)
        if index is not None:
            fanout.versions[index] = event.sequence
            fanout.publish(index, encode_change(event))
