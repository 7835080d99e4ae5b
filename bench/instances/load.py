"""The benchmark's clients: worker processes that run closed loops in one shared window.

Each worker is a spawned process driven over a pipe: it gets a :class:`Job`, prepares its
clients (every gRPC client on a connection of its own, so SO_REUSEPORT spreads them over the
instances; the raw appenders share one esdbclient, as bench_command's do), answers "ready",
then runs from the instant it is sent until the window ends (``bench.command.timing.timed``).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Literal

import grpc
from esdbclient import AsyncEventStoreDBClient

from bench.broadcaster.measure import machine_busy
from bench.channels import connection
from bench.command.timing import percentile, timed
from bench.command.workloads import appender, create_grid
from bench.instances.usage import OTHER, cpu_of, spent
from bench.servers import ECHO_METHOD
from protos.rover.v1 import command_pb2, query_pb2, query_pb2_grpc
from tests.support.stubs import CommandStub, command_stub

__all__ = ["Clients", "Job", "Outcome"]

Kind = Literal["appends", "commands", "one grid", "details", "echo"]
Operation = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Job:
    """What the clients do: ``clients`` closed loops of ``kind`` on ``target`` for ``seconds``.

    ``target``: an esdb:// URI for appends, else a gRPC address; ``grid``: the grid of
    "one grid" (all clients move its rover "r") and of "details" and "echo" (the request).
    """

    kind: Kind
    target: str
    clients: int
    seconds: float
    grid: str = ""


@dataclass
class Outcome:
    """What one window gave: answered calls per second, refusals, latencies, CPU per process."""

    rate: float
    failed: int
    latencies: list[float]
    cpu: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    backlog: float = 0.0  # how long after the window the services were idle again

    def p(self, q: float) -> float:
        """The latency at quantile ``q``, in milliseconds."""
        return percentile(self.latencies, q) * 1000 if self.latencies else 0.0

    def summary(self) -> str:
        """Rate, p50, p99 and refusals, on one line."""
        refused = f", {self.failed:,} refused" if self.failed else ""
        return (
            f"{self.rate:>9,.0f}/s  p50 {self.p(0.5):6.2f} ms  p99 {self.p(0.99):6.2f} ms{refused}"
        )


# --- in the worker process ------------------------------------------------------------------


def client_process(conn: Connection) -> None:
    """A client worker: run jobs until told to stop (``None``)."""
    asyncio.run(_client(conn))


async def _client(conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    while True:
        job: Job | None = await loop.run_in_executor(None, conn.recv)
        if job is None:
            return
        failures = [0]
        try:
            async with contextlib.AsyncExitStack() as stack:
                operations = await _prepare(job, stack, failures)
                conn.send("ready")
                start_at: float = await loop.run_in_executor(None, conn.recv)
                rate, latencies = await timed(
                    job.clients, job.seconds, operations.__getitem__, start_at=start_at
                )
        except Exception as error:
            conn.send(f"{job.kind} clients failed: {error!r}")
            continue
        answered = len(latencies) - failures[0]
        conn.send((rate * answered / max(1, len(latencies)), failures[0], latencies))


async def _prepare(
    job: Job, stack: contextlib.AsyncExitStack, failures: list[int]
) -> list[Operation]:
    """One operation per client, warmed up (its connection open, its grid created)."""
    if job.kind == "appends":
        client = AsyncEventStoreDBClient(job.target)
        await client.connect()
        stack.push_async_callback(client.close)
        appends = [appender(client) for _ in range(job.clients)]
        await asyncio.gather(*(append() for append in appends))  # creates their streams
        return appends
    channels = [connection(job.target) for _ in range(job.clients)]
    for channel in channels:
        stack.push_async_callback(channel.close)
    if job.kind == "commands":  # a grid of its own for every client
        stubs = [command_stub(channel) for channel in channels]
        grids = [f"inst-{uuid.uuid4().hex[:10]}" for _ in channels]
        await asyncio.gather(*(create_grid(s, g) for s, g in zip(stubs, grids, strict=True)))
        return [_move(s, g, failures) for s, g in zip(stubs, grids, strict=True)]
    if job.kind == "one grid":
        await asyncio.gather(*(channel.channel_ready() for channel in channels))
        return [_move(command_stub(channel), job.grid, failures) for channel in channels]
    request = query_pb2.GetGridDetailsRequest(grid_id=job.grid)
    make = _echo if job.kind == "echo" else _details
    operations = [make(channel, request) for channel in channels]
    await asyncio.gather(*(operation() for operation in operations))
    return operations


def _move(stub: CommandStub, grid: str, failures: list[int]) -> Operation:
    request = command_pb2.MoveRoverForwardRequest(grid_id=grid, rover_id="r")

    async def move() -> None:
        try:
            await stub.MoveRoverForward(request)
        except grpc.aio.AioRpcError:  # e.g. ABORTED: too many conflicts on one grid
            failures[0] += 1

    return move


def _details(channel: grpc.aio.Channel, request: query_pb2.GetGridDetailsRequest) -> Operation:
    stub: query_pb2_grpc.RoverQueryServiceAsyncStub = query_pb2_grpc.RoverQueryServiceStub(channel)

    async def details() -> None:
        await stub.GetGridDetails(request)

    return details


def _echo(channel: grpc.aio.Channel, request: query_pb2.GetGridDetailsRequest) -> Operation:
    """The same request's bytes, answered by the bare echo server (bench_query's baseline)."""
    echo: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(ECHO_METHOD)
    payload = request.SerializeToString()

    async def call() -> None:
        await echo(payload)

    return call


# --- in the benchmark's process -------------------------------------------------------------


class Clients:
    """``count`` client worker processes, labelled ``clients-1`` ...; ``stop`` ends them."""

    def __init__(self, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._workers = []
        for _ in range(count):
            parent, child = context.Pipe()
            process = context.Process(target=client_process, args=(child,), daemon=True)
            process.start()
            child.close()  # the worker's now: its exit ends our recv instead of hanging it
            self._workers.append((process, parent))

    @property
    def pids(self) -> dict[str, int]:
        """label -> process id of every worker."""
        return {
            f"clients-{n}": process.pid or 0
            for n, (process, _) in enumerate(self._workers, start=1)
        }

    async def run(self, job: Job, processes: Mapping[str, int]) -> Outcome:
        """Split the job's clients over the workers, run them in one window; the CPU seconds
        each of ``processes`` spent in that window, and the rest of the machine (OTHER)."""
        loop = asyncio.get_running_loop()
        shares = [
            job.clients // len(self._workers) + (n < job.clients % len(self._workers))
            for n in range(len(self._workers))
        ]
        workers = zip(self._workers, shares, strict=True)
        busy = [(conn, share) for (_, conn), share in workers if share]
        for conn, share in busy:
            conn.send(Job(job.kind, job.target, share, job.seconds, job.grid))
        for reply in await asyncio.gather(*(loop.run_in_executor(None, c.recv) for c, _ in busy)):
            if reply != "ready":
                raise RuntimeError(str(reply))
        start_at = time.perf_counter() + 0.2
        for conn, _ in busy:
            conn.send(start_at)
        await asyncio.sleep(start_at - time.perf_counter())
        before, machine = cpu_of(processes), machine_busy()
        await asyncio.sleep(job.seconds)
        cpu = spent(before, cpu_of(processes))
        cpu[OTHER] = max(0.0, machine_busy() - machine - sum(cpu.values()))
        replies = await asyncio.gather(*(loop.run_in_executor(None, c.recv) for c, _ in busy))
        outcome = Outcome(0.0, 0, [], cpu, job.seconds)
        for reply in replies:
            if isinstance(reply, str):
                raise RuntimeError(reply)
            rate, failed, latencies = reply
            outcome.rate += rate
            outcome.failed += failed
            outcome.latencies += latencies
        return outcome

    def stop(self) -> None:
        """Tell every worker to stop; terminate those that do not."""
        for _, conn in self._workers:
            with contextlib.suppress(OSError):
                conn.send(None)
        for process, _ in self._workers:
            process.join(5)
            if process.is_alive():
                process.terminate()
                process.join(5)
