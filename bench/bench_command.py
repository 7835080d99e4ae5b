"""Command service benchmark: commands/s and latency through gRPC vs raw esdbclient appends.

Runs the embedded event store and the command service (with integration publishing) as child
processes, then from this process: the raw single-event append rate (1 and 16 concurrent
appenders), commands/s with p50/p99 through gRPC (1 and 16 concurrent clients, one grid each),
the p99 of a command on a grid with 100,000 events against one on a fresh grid, and the
publisher's latency: commands sent open-loop at 200/s round-robin over 20 grids, each timed from
its acknowledgement until its integration event is readable (a subscription to $all filtered by
``integration-.*`` in this process), against the raw append rate as the baseline of the store.
The publisher is measured on a durable (file) store and on the in-memory one.
``BENCH_COMMAND_QUICK=1`` measures only the publisher and its baselines.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
from esdbclient import AsyncEventStoreDBClient, NewEvent, StreamState
from esdbclient.exceptions import NotFound

from protos.rover.v1 import command_pb2, common_pb2
from services.eventstore.process import EventStoreProcess
from tests.support.stubs import CommandStub, command_stub

__all__ = ["main"]


SECONDS = 6.0  # per throughput phase
CONCURRENCY = (1, 16)
BIG_HISTORY = 100_000
SEQUENCE = 1_000  # events per ExecuteRoverCommands while building the big grid
LATENCY_SAMPLES = 400
TARGET_RATIO = 0.4
TARGET_BIG_P99 = 1.5
PUBLISH_RATE = 200  # commands/s, open loop
PUBLISH_GRIDS = 20
PUBLISH_COMMANDS = int(os.environ.get("BENCH_COMMAND_PUBLISH_COMMANDS", "2000"))
QUICK = os.environ.get("BENCH_COMMAND_QUICK", "") not in ("", "0")
_ROOT = Path(__file__).resolve().parents[1]


def _say(text: str) -> None:
    print(text, flush=True)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:6.2f} ms"


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class _Service:
    """``python -m services.command`` in a child process."""

    def __init__(self, uri: str) -> None:
        handle, name = tempfile.mkstemp(prefix="bench-command-", suffix=".log")
        os.close(handle)
        self.log = Path(name)
        env = {
            **os.environ,
            "ROVER_COMMAND_ADDRESS": "127.0.0.1:0",
            "ROVER_EVENTSTORE_URI": uri,
            "ROVER_LOG_FORMAT": "json",
            "ROVER_LOG_LEVEL": "INFO",  # the listening record is at INFO
        }
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.command"],
                cwd=_ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=out,
            )
        self.port = self._wait_port()

    def _wait_port(self) -> int:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for line in self.log.read_bytes().splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("event") == "command service listening":
                    return int(record["port"])
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"command service did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


async def _timed(
    workers: int, seconds: float, make: Callable[[int], Callable[[], Awaitable[object]]]
) -> tuple[float, list[float]]:
    """Run ``workers`` loops of their operation for ``seconds``; rate and latencies."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def loop(index: int) -> None:
        operation = make(index)
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await operation()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(loop(i) for i in range(workers)))
    return len(latencies) / (time.perf_counter() - started), latencies


async def _raw_appends(client: AsyncEventStoreDBClient, workers: int) -> float:
    def make(index: int) -> Callable[[], Awaitable[object]]:
        stream = f"rawbench-{uuid.uuid4().hex}"
        version: list[int | StreamState] = [StreamState.NO_STREAM]

        async def append() -> None:
            event = NewEvent(type="RoverTurnedLeft.v1", data=b'{"rover_id":"r"}')
            await client.append_to_stream(stream, current_version=version[0], events=[event])
            current = version[0]
            version[0] = 0 if isinstance(current, StreamState) else current + 1

        return append

    rate, _ = await _timed(workers, SECONDS, make)
    return rate


async def _grid(stub: CommandStub, grid_id: str) -> None:
    await stub.CreateGrid(
        command_pb2.CreateGridRequest(
            grid_id=grid_id, width=1000, height=1000, topology=common_pb2.TOPOLOGY_TOROIDAL
        )
    )
    await stub.CreateRover(
        command_pb2.CreateRoverRequest(
            grid_id=grid_id,
            rover_id="r",
            position=common_pb2.Position(x=1, y=1),
            facing=common_pb2.DIRECTION_NORTH,
        )
    )


async def _commands(stub: CommandStub, workers: int) -> tuple[float, list[float]]:
    grids = [f"bench-{uuid.uuid4().hex[:10]}" for _ in range(workers)]
    await asyncio.gather(*(_grid(stub, g) for g in grids))

    def make(index: int) -> Callable[[], Awaitable[object]]:
        request = command_pb2.MoveRoverForwardRequest(grid_id=grids[index], rover_id="r")

        async def move() -> None:
            await stub.MoveRoverForward(request)

        return move

    return await _timed(workers, SECONDS, make)


async def _latencies(stub: CommandStub, grid_id: str) -> list[float]:
    request = command_pb2.TurnRoverLeftRequest(grid_id=grid_id, rover_id="r")
    samples = []
    for _ in range(LATENCY_SAMPLES):
        started = time.perf_counter()
        await stub.TurnRoverLeft(request)
        samples.append(time.perf_counter() - started)
    return samples


async def _published(client: AsyncEventStoreDBClient, grid_id: str) -> int:
    try:
        found = await client.get_stream(f"integration-{grid_id}", backwards=True, limit=1)
    except NotFound:
        return 0
    return found[0].stream_position + 1 if found else 0


async def _wait_published(client: AsyncEventStoreDBClient, grid_id: str, count: int) -> None:
    """Follow the integration stream until the publisher has caught up with the grid."""
    if await _published(client, grid_id) >= count:
        return
    subscription = await client.subscribe_to_stream(
        f"integration-{grid_id}", stream_position=count - 2
    )
    async with subscription:
        async for event in subscription:
            if event.stream_position + 1 >= count:
                return


async def _watch_published(
    client: AsyncEventStoreDBClient, seen: dict[tuple[str, int], float], arrived: asyncio.Event
) -> None:
    """When each integration event becomes readable: (grid id, sequence) -> perf_counter."""
    subscription = await client.subscribe_to_all(
        from_end=True, filter_include=["integration-.*"], filter_by_stream_name=True
    )
    arrived.set()  # subscribed
    async with subscription:
        async for event in subscription:
            grid_id = event.stream_name.removeprefix("integration-")
            seen[(grid_id, event.stream_position + 1)] = time.perf_counter()
            arrived.set()


async def _publication(
    client: AsyncEventStoreDBClient, stub: CommandStub
) -> tuple[list[float], int, list[float]]:
    """Acknowledged -> integration event readable at PUBLISH_RATE commands/s, the misses, and
    the commands' own latencies (sent -> acknowledged)."""
    grids = [f"pub-{uuid.uuid4().hex[:10]}" for _ in range(PUBLISH_GRIDS)]
    await asyncio.gather(*(_grid(stub, g) for g in grids))
    seen: dict[tuple[str, int], float] = {}
    arrived = asyncio.Event()
    watcher = asyncio.create_task(_watch_published(client, seen, arrived))
    await arrived.wait()
    acknowledged: dict[tuple[str, int], float] = {}
    commands: list[float] = []

    async def one(grid_id: str) -> None:
        sent = time.perf_counter()
        reply = await stub.TurnRoverLeft(
            command_pb2.TurnRoverLeftRequest(grid_id=grid_id, rover_id="r")
        )
        acknowledged[(grid_id, reply.version)] = time.perf_counter()
        commands.append(acknowledged[(grid_id, reply.version)] - sent)

    tasks = []
    started = time.perf_counter()
    for n in range(PUBLISH_COMMANDS):  # open loop: one command every 1/rate s
        delay = started + n / PUBLISH_RATE - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(grids[n % PUBLISH_GRIDS])))
    await asyncio.gather(*tasks)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(60):
            while any(k not in seen for k in acknowledged):
                arrived.clear()
                await arrived.wait()
    watcher.cancel()
    await asyncio.gather(watcher, return_exceptions=True)
    delays = [seen[k] - t for k, t in acknowledged.items() if k in seen]
    return delays, len(acknowledged) - len(delays), commands


async def _run_publication(store_uri: str, service: _Service, label: str) -> str:
    """The raw single-appender rate, then the publisher's latency, on one store."""
    client = AsyncEventStoreDBClient(store_uri)
    await client.connect()
    try:
        _say(f"{label}: raw esdbclient appends, 1 appender, {SECONDS:.0f} s ...")
        raw = await _raw_appends(client, 1)
        _say(f"  {raw:>8,.0f} appends/s")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            stub = command_stub(channel)
            _say(
                f"{label}: {PUBLISH_COMMANDS:,} commands at {PUBLISH_RATE}/s over "
                f"{PUBLISH_GRIDS} grids ..."
            )
            delays, missing, commands = await _publication(client, stub)
    finally:
        await client.close()
    line = (
        f"{label}: {_publication_line(delays, missing, raw)}; the commands themselves: "
        f"p50 {_ms(statistics.median(commands))}, p99 {_ms(_p(commands, 0.99))}"
    )
    _say(f"  {line}")
    return line


async def _run(store_uri: str, service: _Service) -> None:
    client = AsyncEventStoreDBClient(store_uri)
    await client.connect()
    raw: dict[int, float] = {}
    for workers in CONCURRENCY:
        _say(f"raw esdbclient appends, {workers:>2} concurrent, {SECONDS:.0f} s ...")
        raw[workers] = await _raw_appends(client, workers)
        _say(f"  {raw[workers]:>8,.0f} appends/s")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        stub = command_stub(channel)
        results: dict[int, tuple[float, list[float]]] = {}
        for workers in CONCURRENCY:
            _say(f"commands through gRPC, {workers:>2} concurrent clients, {SECONDS:.0f} s ...")
            rate, latencies = await _commands(stub, workers)
            results[workers] = (rate, latencies)
            _say(
                f"  {rate:>8,.0f} commands/s   p50 {_ms(statistics.median(latencies))}   "
                f"p99 {_ms(_p(latencies, 0.99))}   ratio to raw {rate / raw[workers]:.2f}"
            )
        big, fresh = f"big-{uuid.uuid4().hex[:8]}", f"fresh-{uuid.uuid4().hex[:8]}"
        _say(f"building a grid with {BIG_HISTORY:,} events ({SEQUENCE} per command) ...")
        await _grid(stub, big)
        await _grid(stub, fresh)
        built = time.perf_counter()
        for done in range(BIG_HISTORY // SEQUENCE):
            await stub.ExecuteRoverCommands(
                command_pb2.ExecuteRoverCommandsRequest(
                    grid_id=big, rover_id="r", commands="F" * SEQUENCE
                )
            )
            if done % 20 == 19:
                _say(f"  {(done + 1) * SEQUENCE:>7,} events")
        _say(f"  built in {time.perf_counter() - built:.1f} s; waiting for publication ...")
        await _wait_published(client, big, BIG_HISTORY + 2)
        _say(f"measuring {LATENCY_SAMPLES} commands on each grid ...")
        big_samples = await _latencies(stub, big)
        fresh_samples = await _latencies(stub, fresh)
    await client.close()

    _say("\nresults")
    for workers in CONCURRENCY:
        rate, latencies = results[workers]
        _say(
            f"  {workers:>2} clients: {rate:>7,.0f} commands/s "
            f"(raw {raw[workers]:>7,.0f} appends/s, ratio {rate / raw[workers]:.2f}), "
            f"p50 {_ms(statistics.median(latencies))}, p99 {_ms(_p(latencies, 0.99))}"
        )
    ratio = results[16][0] / raw[16]
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    _say(f"  ratio at 16 clients: {ratio:.2f} ({verdict} the {TARGET_RATIO} target)")
    big_p99, fresh_p99 = _p(big_samples, 0.99), _p(fresh_samples, 0.99)
    relative = big_p99 / fresh_p99
    verdict = "meets" if relative <= TARGET_BIG_P99 else "MISSES"
    _say(
        f"  p99 on a {BIG_HISTORY:,}-event grid {_ms(big_p99)} vs fresh {_ms(fresh_p99)}: "
        f"{relative:.2f}x ({verdict} the {TARGET_BIG_P99}x target)"
    )


def _publication_line(delays: list[float], missing: int, raw_rate: float) -> str:
    if not delays:
        return f"publisher: nothing published ({missing} missing)"
    return (
        f"publisher at {PUBLISH_RATE} commands/s over {PUBLISH_GRIDS} grids: acknowledged -> "
        f"integration event readable p50 {_ms(statistics.median(delays))}, "
        f"p99 {_ms(_p(delays, 0.99))}, {missing} not published within 60 s "
        f"(baseline: raw appends {raw_rate:,.0f}/s, one every {1000 / raw_rate:.2f} ms)"
    )


async def main() -> None:
    """Start the store and the service, measure, stop them."""
    lines = []
    _say("starting a durable (file, fsync per commit) embedded store and the command service")
    with (
        tempfile.TemporaryDirectory(prefix="bench-command-") as directory,
        EventStoreProcess(db_path=str(Path(directory) / "store.db")) as store,
    ):
        service = _Service(store.uri)
        try:
            lines.append(await _run_publication(store.uri, service, "durable store"))
        finally:
            service.stop()
    _say("starting the in-memory embedded event store and the command service (publisher on)")
    with EventStoreProcess(db_path=None) as store:
        service = _Service(store.uri)
        try:
            lines.append(await _run_publication(store.uri, service, "in-memory store"))
            if not QUICK:
                await _run(store.uri, service)
        finally:
            service.stop()
    _say("\npublisher results\n" + "\n".join(f"  {line}" for line in lines))
