"""Broadcaster benchmark: 1,000 watchers over 100 grids, against a bare grpc.aio fan-out.

``python -m bench broadcaster`` (or ``python -m bench.bench_broadcaster [--quick]``).

Every party runs in a process of its own, as in production, so that no two share an event
loop (the box's cores are shared, as they would be):

- the event store (``python -m services.eventstore``);
- the broadcaster (``python -m services.broadcaster``, configured by ``ROVER_*`` variables);
- the appender: appends integration events to the store, paced at 100/s (round-robin over
  the grids) or at full speed (one appender per grid, as fast as the store takes them);
- the watchers: one client process per measurement;
- the bare fan-out: a grpc.aio server with one queue per stream and nothing else, which
  produces the same serialized GridUpdate messages itself (no store: the floor of a fan-out).

Latency = append acknowledged (or, for the bare fan-out, message queued) -> watcher received
(CLOCK_MONOTONIC is system-wide). The full-speed runs alternate ours and bare in pairs and
report the median of the per-pair ratios. Every watcher's sequences are checked: lost or
duplicated updates are counted. ``--quick`` (or BENCH_BROADCASTER_QUICK=1) runs a fifth of
the events and three pairs.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import grpc
from esdbclient import AsyncEventStoreDBClient, NewEvent, StreamState
from grpc_health.v1 import health_pb2, health_pb2_grpc

from domain import Direction, Grid, Position, RoverId, Topology
from protos.rover.v1 import common_pb2, live_pb2
from services.broadcaster.grpc.mapping import encode_change
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
BATCH = 4  # events per append at full speed (a short ExecuteRoverCommands)
PAIRS = 5  # full-speed runs, ours and bare alternating
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


# --- producers (each in its own process, driven over a pipe) ---------------------------------

Acked = dict[tuple[int, int], float]


def _paced_indices(count: int) -> list[int]:
    return [n % GRIDS for n in range(count)]


async def _pace(count: int, publish: Callable[[int], Coroutine[Any, Any, None]]) -> None:
    started = time.monotonic()
    tasks: list[asyncio.Task[None]] = []
    for n, index in enumerate(_paced_indices(count)):
        delay = started + n / RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(publish(index)))
    await asyncio.gather(*tasks)


async def _serve_requests(
    conn: Connection,
    paced: Callable[[int], Awaitable[None]],
    full: Callable[[int], Awaitable[None]],
    grids: _Grids,
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


def _appender_process(conn: Connection, uri: str) -> None:
    asyncio.run(_appender(conn, uri))


async def _appender(conn: Connection, uri: str) -> None:
    client = AsyncEventStoreDBClient(uri)
    await client.connect()
    grids = _Grids(GRIDS)
    for index, grid_id in enumerate(grids.ids):
        await client.append_to_stream(
            integration_stream(grid_id),
            current_version=StreamState.NO_STREAM,
            events=_new_events(grids._envelopes(index) + grids.create(index)),
        )
    conn.send(grids.ids)
    locks = [asyncio.Lock() for _ in range(GRIDS)]
    acked: Acked = {}

    async def append(index: int, turns: int = 1) -> None:
        async with locks[index]:  # one append at a time per grid keeps versions in order
            envelopes = [e for _ in range(turns) for e in grids.turn(index)]
            await client.append_to_stream(
                integration_stream(grids.ids[index]),
                current_version=envelopes[0].sequence - 2,
                events=_new_events(envelopes),
            )
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


def _bare_process(conn: Connection) -> None:
    asyncio.run(_bare(conn))


async def _bare(conn: Connection) -> None:
    grids = _Grids(GRIDS)
    for index in range(GRIDS):
        grids._envelopes(index)
        grids.create(index)
    fanout = _BareFanout(grids.ids, grids.version)
    await fanout.server.start()
    conn.send((fanout.port, grids.ids))
    acked: Acked = {}

    async def publish(index: int) -> None:
        for envelope in grids.turn(index):
            acked[(index, envelope.sequence)] = time.monotonic()
            fanout.publish(index, encode_change(envelope))

    async def full(count: int) -> None:
        for n in range(count):
            await publish(n % GRIDS)

    await _serve_requests(conn, lambda n: _pace(n, publish), full, grids, acked)
    await fanout.server.stop(0.5)


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
    cpu: float  # CPU seconds the server process used during the run

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds

    @property
    def per_cpu(self) -> float:
        """Deliveries per CPU second of the server process (core contention aside)."""
        return self.deliveries / self.cpu if self.cpu > 0 else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def line(self) -> str:
        return (
            f"  {self.name:<28} {self.events:>6,} events {self.deliveries:>8,} deliveries "
            f"{self.rate:>9,.0f}/s  p50 {self.percentile(0.5):7.2f} ms  "
            f"p99 {self.percentile(0.99):7.2f} ms  lost {self.lost} dup {self.duplicated}  "
            f"server CPU {self.cpu:5.2f} s ({self.per_cpu:,.0f} deliveries/CPU-s)"
        )


@dataclass
class _Target:
    """A server to watch and the process that produces its events."""

    name: str
    address: str
    method: str
    grids: list[str]
    producer: Connection
    pid: int  # the server's process, whose CPU time is measured

    async def produce(self, kind: str, count: int) -> tuple[Acked, list[int]]:
        loop = asyncio.get_running_loop()
        self.producer.send((kind, count))
        outcome: tuple[Acked, list[int]] = await loop.run_in_executor(None, self.producer.recv)
        return outcome


async def _measure(name: str, target: _Target, kind: str, count: int) -> _Result:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(
        target=_client_process,
        args=(child, target.address, target.method, target.grids),
        daemon=True,
    )
    process.start()
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, parent.recv) == "ready"
    cpu_before = _cpu_seconds(target.pid)
    started = time.monotonic()
    acked, versions = await target.produce(kind, count)
    parent.send(dict(enumerate(versions)))
    outcome: dict[str, Any] = await loop.run_in_executor(None, parent.recv)
    cpu = _cpu_seconds(target.pid) - cpu_before
    process.join(timeout=2)
    if process.is_alive():
        process.kill()
        process.join()
    deliveries = outcome["deliveries"]
    last = max(t for _, _, t in deliveries)
    latencies = [t - acked[(g, s)] for g, s, t in deliveries if (g, s) in acked]
    result = _Result(
        name,
        len(acked),
        len(deliveries),
        last - started,
        latencies,
        outcome["lost"],
        outcome["duplicated"],
        cpu,
    )
    _say(result.line() + f"  (produced at {len(acked) / (max(acked.values()) - started):,.0f}/s)")
    return result


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _wait_serving(address: str, process: subprocess.Popen[bytes]) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError("the broadcaster exited at start-up")
            try:
                response = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                if response.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the broadcaster never reported SERVING")


def _start_broadcaster(uri: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ROVER_BROADCASTER_ADDRESS": f"127.0.0.1:{port}",
        "ROVER_EVENTSTORE_URI": uri,
        "ROVER_BROADCASTER_HEARTBEAT_SECONDS": "60",
        "ROVER_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "services.broadcaster"], env=env, stdout=subprocess.DEVNULL
    )


async def main() -> None:
    """Run the measurements and compare them with the targets."""
    quick = "--quick" in sys.argv or os.environ.get("BENCH_BROADCASTER_QUICK") == "1"
    scale = 0.2 if quick else 1.0
    paced, full = int(PACED_EVENTS * scale), int(FULL_EVENTS * scale)
    pairs = 3 if quick else PAIRS
    configure_logging(level="WARNING", fmt="console")
    _say(
        f"{WATCHERS:,} watchers over {GRIDS} grids; paced {paced:,} events at {RATE:.0f}/s, "
        f"full speed {full:,} events x {pairs} alternating pairs"
        f"{' (--quick: scaled down)' if quick else ''}; every party in its own process"
    )
    context = multiprocessing.get_context("spawn")
    with EventStoreProcess(db_path=None) as store:
        to_appender, appender_end = context.Pipe()
        appender = context.Process(
            target=_appender_process, args=(appender_end, store.uri), daemon=True
        )
        to_bare, bare_end = context.Pipe()
        bare = context.Process(target=_bare_process, args=(bare_end,), daemon=True)
        appender.start()
        bare.start()
        loop = asyncio.get_running_loop()
        ours_grids: list[str] = await loop.run_in_executor(None, to_appender.recv)
        bare_port, bare_grids = await loop.run_in_executor(None, to_bare.recv)
        port = _free_port()
        broadcaster = _start_broadcaster(store.uri, port)
        try:
            await _wait_serving(f"127.0.0.1:{port}", broadcaster)
            _say(f"  broadcaster pid {broadcaster.pid} on 127.0.0.1:{port}")
            ours = _Target(
                "broadcaster",
                f"127.0.0.1:{port}",
                "/rover.v1.RoverLiveService/WatchGrid",
                ours_grids,
                to_appender,
                broadcaster.pid,
            )
            floor = _Target(
                "bare fan-out",
                f"127.0.0.1:{bare_port}",
                _BARE_METHOD,
                bare_grids,
                to_bare,
                bare.pid or 0,
            )
            ours_paced = await _measure("broadcaster, 100/s", ours, "paced", paced)
            bare_paced = await _measure("bare fan-out, 100/s", floor, "paced", paced)
            ratios: list[float] = []
            cpu_ratios: list[float] = []
            results: list[_Result] = [ours_paced]
            for pair in range(pairs):
                first, second = (ours, floor) if pair % 2 == 0 else (floor, ours)
                one = await _measure(f"{first.name}, full speed", first, "full", full)
                two = await _measure(f"{second.name}, full speed", second, "full", full)
                mine, base = (one, two) if first is ours else (two, one)
                results.append(mine)
                ratios.append(mine.rate / base.rate)
                cpu_ratios.append(mine.per_cpu / base.per_cpu)
        finally:
            broadcaster.send_signal(signal.SIGTERM)
            broadcaster.wait(30)
            for conn in (to_appender, to_bare):
                conn.send(("stop", 0))
            appender.join(30)
            bare.join(30)
    rate_ratio = statistics.median(ratios)
    p99_ratio = ours_paced.percentile(0.99) / bare_paced.percentile(0.99)
    p50_ratio = ours_paced.percentile(0.5) / bare_paced.percentile(0.5)
    lost = sum(r.lost + r.duplicated for r in results)
    _say("  targets:")
    _say(
        f"    delivered/s vs bare at full speed  {rate_ratio:5.2f}x  (>= 0.70)  "
        f"median of {len(ratios)} pairs: " + " ".join(f"{r:.2f}" for r in ratios)
    )
    _say(
        f"    deliveries per server CPU-s vs bare {statistics.median(cpu_ratios):5.2f}x  "
        "median of pairs: " + " ".join(f"{r:.2f}" for r in cpu_ratios)
    )
    _say(
        f"    p99 vs bare at 100/s               {p99_ratio:5.2f}x  (<= 1.50)  p50 {p50_ratio:.2f}x"
    )
    _say(f"    lost or duplicated updates         {lost}  (0)")


if __name__ == "__main__":
    asyncio.run(main())
