"""Broadcaster benchmark: 1,000 watchers over 100 grids, against a bare grpc.aio fan-out.

``python -m bench broadcaster`` (or ``python -m bench.bench_broadcaster [--quick]``).

Four runs, each with the watchers in a separate client process (spawned), so that the server
side and the client side do not share one core:

- broadcaster, paced: events appended to the event store at 100/s (round-robin over the
  grids); latency = append acknowledged -> watcher received (CLOCK_MONOTONIC is system-wide).
- broadcaster, full speed: one appender per grid, as fast as the store takes them.
- bare fan-out, paced and full speed: a grpc.aio server with one queue per stream and nothing
  else, sending the same serialized GridUpdate messages to the same number of streams.

Every watcher's sequences are checked: lost or duplicated updates are counted.
``--quick`` (or BENCH_BROADCASTER_QUICK=1) runs a fifth of the events.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

import grpc
from esdbclient import AsyncEventStoreDBClient, NewEvent, StreamState

from domain import Direction, Grid, Position, RoverId, Topology
from protos.rover.v1 import common_pb2, live_pb2
from services.broadcaster.bootstrap import bootstrap
from services.broadcaster.grpc.mapping import encode_change
from services.broadcaster.settings import BroadcasterSettings
from services.common.envelope import Envelope, integration_stream
from services.common.integration import INTEGRATION_CONTENT_TYPE, integration_event_type, to_proto
from services.common.logs import configure_logging
from services.eventstore.process import EventStoreProcess

__all__ = ["main"]

WATCHERS = 1_000
GRIDS = 100
RATE = 100.0  # events/s in the paced runs
PACED_EVENTS = 1_500
FULL_EVENTS = 4_000
_BARE_METHOD = "/bench.BareFanout/Watch"


def _say(text: str) -> None:
    print(text, flush=True)


# --- events ----------------------------------------------------------------------------------


class _Grids:
    """100 grids with one rover each; every later event is a turn (exactly one event each)."""

    def __init__(self, count: int) -> None:
        self.ids = [f"bench-{uuid.uuid4().hex[:8]}-{i}" for i in range(count)]
        self._grids = [Grid.create(g, 10, 10, Topology.BOUNDED) for g in self.ids]
        self.version = [0] * count

    def _envelopes(self, index: int) -> list[Envelope]:
        out = []
        for event in self._grids[index].clear_changes():
            self.version[index] += 1
            out.append(
                Envelope(
                    event_id=uuid.uuid4(),
                    grid_id=self._grids[index].id,
                    sequence=self.version[index],
                    occurred_at=datetime.now(UTC),
                    event=event,
                )
            )
        return out

    def create(self, index: int) -> list[Envelope]:
        self._grids[index].create_rover(RoverId("r"), Position(5, 5), Direction.N)
        return self._envelopes(index)

    def turn(self, index: int) -> list[Envelope]:
        self._grids[index].turn_left(RoverId("r"))
        return self._envelopes(index)


def _new_events(envelopes: list[Envelope]) -> list[NewEvent]:
    return [
        NewEvent(
            type=integration_event_type(e.event),
            data=to_proto(e).SerializeToString(),
            content_type=INTEGRATION_CONTENT_TYPE,  # type: ignore[arg-type]
            id=e.event_id,
        )
        for e in envelopes
    ]


# --- the client process ----------------------------------------------------------------------


def _client_process(conn: Connection, target: str, method: str, grids: list[str]) -> None:
    asyncio.run(_clients(conn, target, method, grids))


async def _clients(conn: Connection, target: str, method: str, grids: list[str]) -> None:
    channels = [grpc.aio.insecure_channel(target) for _ in range(10)]
    received: list[list[tuple[int, float]]] = [[] for _ in range(WATCHERS)]
    starts = [0] * WATCHERS
    ready = asyncio.Event()
    subscribed = 0
    finals: dict[int, int] = {}
    done = asyncio.Event()
    remaining = WATCHERS

    async def watch(index: int) -> None:
        nonlocal subscribed, remaining
        grid = index % len(grids)
        stream = channels[index % len(channels)].unary_stream(
            method,
            request_serializer=lambda r: r,
            response_deserializer=live_pb2.GridUpdate.FromString,
        )
        request = live_pb2.WatchGridRequest(grid_id=grids[grid]).SerializeToString()
        call = stream(request)
        got = received[index]
        finished = False
        async for update in call:
            if update.WhichOneof("update") == "snapshot":
                starts[index] = update.sequence
                subscribed += 1
                if subscribed == WATCHERS:
                    ready.set()
                continue
            if update.WhichOneof("update") != "event":
                continue
            got.append((update.sequence, time.monotonic()))
            final = finals.get(grid)
            if not finished and final is not None and update.sequence >= final:
                finished = True
                remaining -= 1
                if remaining == 0:
                    done.set()

    tasks = [asyncio.create_task(watch(i)) for i in range(WATCHERS)]
    await ready.wait()
    conn.send("ready")
    loop = asyncio.get_running_loop()
    expected: dict[int, int] = await loop.run_in_executor(None, conn.recv)
    finals.update(expected)
    for index in range(WATCHERS):  # those already complete before the finals were known
        got = received[index]
        if got and got[-1][0] >= finals[index % len(grids)]:
            remaining -= 1
    if remaining <= 0:
        done.set()
    await done.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    lost = duplicated = 0
    deliveries: list[tuple[int, int, float]] = []
    for index, got in enumerate(received):
        grid = index % len(grids)
        sequences = [s for s, _ in got]
        wanted = list(range(starts[index] + 1, finals[grid] + 1))
        duplicated += len(sequences) - len(set(sequences))
        lost += len(set(wanted) - set(sequences))
        deliveries.extend((grid, s, t) for s, t in got)
    conn.send({"lost": lost, "duplicated": duplicated, "deliveries": deliveries})
    for channel in channels:
        await channel.close()


# --- the bare fan-out server -----------------------------------------------------------------


class _BareFanout:
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
        grid = self.index[live_pb2.WatchGridRequest.FromString(request).grid_id]
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.streams[grid].append(queue)
        try:
            # "subscribed", shaped like the broadcaster's first message
            yield live_pb2.GridUpdate(
                sequence=self.versions[grid], snapshot=common_pb2.GridDetails()
            ).SerializeToString()
            while True:
                yield await queue.get()
        finally:
            self.streams[grid].remove(queue)

    def publish(self, grid: int, message: bytes) -> None:
        for queue in self.streams[grid]:
            queue.put_nowait(message)


# --- runs ------------------------------------------------------------------------------------


@dataclass
class _Result:
    name: str
    events: int
    deliveries: int
    seconds: float
    latencies: list[float]
    lost: int
    duplicated: int

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def line(self) -> str:
        return (
            f"  {self.name:<28} {self.events:>6,} events {self.deliveries:>8,} deliveries "
            f"{self.rate:>9,.0f}/s  p50 {self.percentile(0.5):7.2f} ms  "
            f"p99 {self.percentile(0.99):7.2f} ms  lost {self.lost} dup {self.duplicated}"
        )


async def _measure(
    name: str,
    target: str,
    method: str,
    grids: _Grids,
    produce: Callable[[dict[tuple[int, int], float]], Awaitable[None]],
) -> _Result:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(
        target=_client_process, args=(child, target, method, grids.ids), daemon=True
    )
    process.start()
    loop = asyncio.get_running_loop()
    _say(f"  {name}: {WATCHERS:,} watchers connecting ...")
    assert await loop.run_in_executor(None, parent.recv) == "ready"
    before = list(grids.version)
    acked: dict[tuple[int, int], float] = {}
    _say(f"  {name}: all subscribed; producing ...")
    started = time.monotonic()
    await produce(acked)
    events = sum(grids.version) - sum(before)
    parent.send(dict(enumerate(grids.version)))
    outcome: dict[str, Any] = await loop.run_in_executor(None, parent.recv)
    process.join(timeout=30)
    deliveries = outcome["deliveries"]
    last = max(t for _, _, t in deliveries)
    latencies = [t - acked[(g, s)] for g, s, t in deliveries if (g, s) in acked]
    result = _Result(
        name,
        events,
        len(deliveries),
        last - started,
        latencies,
        outcome["lost"],
        outcome["duplicated"],
    )
    _say(result.line())
    if latencies:
        tenth = max(1, len(latencies) // 10)
        ordered = sorted(
            (acked[(g, s)], t - acked[(g, s)]) for g, s, t in deliveries if (g, s) in acked
        )
        worst = [
            max(x for _, x in ordered[i : i + tenth]) * 1000 for i in range(0, len(ordered), tenth)
        ]
        _say("    worst latency per tenth of the run (ms): " + " ".join(f"{w:.0f}" for w in worst))
    return result


def _paced(count: int, publish: Callable[[int], Coroutine[Any, Any, None]]) -> Callable[..., Any]:
    async def produce(_: dict[tuple[int, int], float]) -> None:
        started = time.monotonic()
        tasks: list[asyncio.Task[None]] = []
        for n in range(count):
            delay = started + n / RATE - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(publish(n % GRIDS)))
            if n and n % int(RATE * 5) == 0:
                _say(f"    {n:,}/{count:,} events")
        await asyncio.gather(*tasks)

    return produce


async def _broadcaster_runs(paced: int, full: int) -> list[_Result]:
    with EventStoreProcess(db_path=None) as store:
        client = AsyncEventStoreDBClient(store.uri)
        await client.connect()
        grids = _Grids(GRIDS)
        for index, grid_id in enumerate(grids.ids):
            await client.append_to_stream(
                integration_stream(grid_id),
                current_version=StreamState.NO_STREAM,
                events=_new_events(grids._envelopes(index) + grids.create(index)),
            )
        settings = BroadcasterSettings(
            broadcaster_address="127.0.0.1:0",
            eventstore_uri=store.uri,
            broadcaster_heartbeat_seconds=60.0,
        )
        broadcaster = bootstrap(settings)
        port = await broadcaster.start()
        await broadcaster.wait_live()
        target = f"127.0.0.1:{port}"
        locks = [asyncio.Lock() for _ in range(GRIDS)]
        acked: dict[tuple[int, int], float] = {}

        async def append(index: int) -> None:
            async with locks[index]:  # one append at a time per grid keeps versions in order
                envelopes = grids.turn(index)
                await client.append_to_stream(
                    integration_stream(grids.ids[index]),
                    current_version=envelopes[0].sequence - 2,
                    events=_new_events(envelopes),
                )
                now = time.monotonic()
                for e in envelopes:
                    acked[(index, e.sequence)] = now

        async def paced_produce(record: dict[tuple[int, int], float]) -> None:
            await _paced(paced, append)(record)
            record.update(acked)

        async def full_produce(record: dict[tuple[int, int], float]) -> None:
            per_grid = full // GRIDS

            async def one(index: int) -> None:
                for _ in range(per_grid):
                    await append(index)

            await asyncio.gather(*(one(i) for i in range(GRIDS)))
            record.update(acked)

        method = "/rover.v1.RoverLiveService/WatchGrid"
        results = [
            await _measure("broadcaster, 100/s", target, method, grids, paced_produce),
            await _measure("broadcaster, full speed", target, method, grids, full_produce),
        ]
        await broadcaster.stop(grace=0.5)
        await client.close()
        return results


async def _bare_runs(paced: int, full: int) -> list[_Result]:
    grids = _Grids(GRIDS)
    for index in range(GRIDS):
        grids._envelopes(index)
        grids.create(index)
    fanout = _BareFanout(grids.ids, grids.version)
    await fanout.server.start()
    target = f"127.0.0.1:{fanout.port}"
    acked: dict[tuple[int, int], float] = {}

    async def publish(index: int) -> None:
        for envelope in grids.turn(index):
            acked[(index, envelope.sequence)] = time.monotonic()
            fanout.publish(index, encode_change(envelope))

    async def paced_produce(record: dict[tuple[int, int], float]) -> None:
        await _paced(paced, publish)(record)
        record.update(acked)

    async def full_produce(record: dict[tuple[int, int], float]) -> None:
        for n in range(full):
            await publish(n % GRIDS)
        record.update(acked)

    results = [
        await _measure("bare fan-out, 100/s", target, _BARE_METHOD, grids, paced_produce),
        await _measure("bare fan-out, full speed", target, _BARE_METHOD, grids, full_produce),
    ]
    await fanout.server.stop(0.5)
    return results


async def main() -> None:
    """Run the four measurements and compare them with the targets."""
    quick = "--quick" in sys.argv or os.environ.get("BENCH_BROADCASTER_QUICK") == "1"
    scale = 0.2 if quick else 1.0
    paced, full = int(PACED_EVENTS * scale), int(FULL_EVENTS * scale)
    configure_logging(level="WARNING", fmt="console")
    _say(
        f"{WATCHERS:,} watchers over {GRIDS} grids; paced {paced:,} events at {RATE:.0f}/s, "
        f"full speed {full:,} events{' (--quick: scaled down)' if quick else ''}"
    )
    only = os.environ.get("BENCH_BROADCASTER_ONLY", "")
    if only == "ours":
        await _broadcaster_runs(paced, full)
        return
    bare_paced, bare_full = await _bare_runs(paced, full)
    ours_paced, ours_full = await _broadcaster_runs(paced, full)
    rate_ratio = ours_full.rate / bare_full.rate
    p99_ratio = ours_paced.percentile(0.99) / bare_paced.percentile(0.99)
    lost = sum(r.lost + r.duplicated for r in (ours_paced, ours_full))
    _say("  targets:")
    _say(f"    delivered/s vs bare at full speed  {rate_ratio:5.2f}x  (>= 0.70)")
    _say(f"    p99 vs bare at 100/s               {p99_ratio:5.2f}x  (<= 1.50)")
    _say(f"    lost or duplicated updates         {lost}  (0)")


if __name__ == "__main__":
    asyncio.run(main())
