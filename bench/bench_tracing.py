"""Tracing benchmark (``python -m bench tracing``): what tracing costs, off and on.

Each service runs in a child process, as in production, with tracing off (no ``OTEL_*``
variable: the default), on at 100% sampling and on at 10% (``parentbased_traceidratio``),
every span exported to an exporter that drops it (bench/tracing/child.py), so the figures are
the instrumentation's cost, not an exporter's I/O. A round runs off, 100%, 10%, off again;
ratios are against the mean of the round's two off runs, medians over the rounds. Each run
also reads the service's own CPU time per call (/proc), steadier than a rate on a shared
machine (the store, Redis and the clients share its cores):

- commands/s, 16 clients of MoveRoverForward, one grid each (bench/command/workloads.py), the
  command service's publisher included (target at 100%: >= 0.85, i.e. under 15%);
- GetGridDetails/s on a 100-rover grid, 32 clients (target at 100%: >= 0.85);
- the noise floor: the second off run / the first, the same code twice;
- what tracing off adds at all: the helpers a command calls when it is off, timed in this
  process, against the command service's CPU per command (target: nothing measurable).

``BENCH_TRACING_QUICK=1``: 3 rounds of shorter runs.
"""

from __future__ import annotations

import statistics
import timeit
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import grpc

from bench.broadcaster.measure import cpu_seconds
from bench.command.workloads import command_rate
from bench.service_load import (
    COMMAND_CLIENTS,
    QUERY_CLIENTS,
    ROVERS,
    projected,
    query_load,
    run_lengths,
    seed_grid,
)
from bench.tracing.parties import Child
from protos.rover.v1 import query_pb2_grpc
from services.common import tracing
from standins.eventstore.process import EventStoreProcess
from tests.support.redis_server import RedisServer
from tests.support.stubs import command_stub

__all__ = ["main"]

ROUNDS, COMMAND_SECONDS, QUERY_SECONDS = run_lengths("BENCH_TRACING_QUICK")
TARGET_ON = 0.85  # on at 100% costs under 15%
# A round: off, on (share of traces sampled), off again; drift cancels, the offs give noise.
MODES: tuple[float | None, ...] = (None, 1.0, 0.1, None)
SAMPLED = tuple(m for m in MODES if m is not None)


def _say(text: str) -> None:
    print(text, flush=True)


def _mode(sampled: float | None) -> str:
    return "off      " if sampled is None else f"on, {sampled:>4.0%}"


@dataclass(frozen=True)
class Run:
    """One run: calls/s, the service's CPU-us per call, spans exported per call."""

    rate: float
    cpu_us: float
    spans: float


async def _commands(uri: str, sampled: float | None) -> Run:
    child = Child("command", sampled=sampled, env={
        "ROVER_COMMAND_ADDRESS": "127.0.0.1:0", "ROVER_EVENTSTORE_URI": uri})  # fmt: skip
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{child.port}") as channel:
            stub = command_stub(channel)
            before = cpu_seconds(child.process.pid)
            rate, latencies = await command_rate(stub, COMMAND_CLIENTS, COMMAND_SECONDS)
            used = cpu_seconds(child.process.pid) - before
    finally:
        spans = child.stop()
    commands = len(latencies) + 2 * COMMAND_CLIENTS  # each client's grid and rover first
    return Run(rate, used * 1e6 / len(latencies), spans / commands)


async def _queries(uri: str, redis_url: str, version: int, sampled: float | None) -> Run:
    child = Child("query", sampled=sampled, env={
        "ROVER_QUERY_ADDRESS": "127.0.0.1:0", "ROVER_EVENTSTORE_URI": uri,
        "ROVER_REDIS_URL": redis_url})  # fmt: skip
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{child.port}") as channel:
            stub: query_pb2_grpc.RoverQueryServiceAsyncStub = query_pb2_grpc.RoverQueryServiceStub(
                channel
            )
            await projected(stub, version)  # (the first child projects it)
            before = cpu_seconds(child.process.pid)
            rate, latencies = await query_load(stub, QUERY_SECONDS)
            used = cpu_seconds(child.process.pid) - before
    finally:
        spans = child.stop()
    return Run(rate, used * 1e6 / len(latencies), spans / (len(latencies) + 1))


@dataclass
class Rounds:
    """Per sampling share: rate and CPU ratios to the round's off runs; the offs' noise."""

    rate: dict[float, list[float]] = field(default_factory=dict)
    cpu: dict[float, list[float]] = field(default_factory=dict)
    spans: dict[float, list[float]] = field(default_factory=dict)
    noise: list[float] = field(default_factory=list)
    off_rates: list[float] = field(default_factory=list)
    off_cpu: list[float] = field(default_factory=list)


async def _rounds(what: str, measure: Callable[[float | None], Awaitable[Run]]) -> Rounds:
    found = Rounds()
    for round_ in range(ROUNDS):
        runs = []
        for sampled in MODES:
            run = await measure(sampled)
            runs.append((sampled, run))
            _say(
                f"  round {round_ + 1}, tracing {_mode(sampled)}: {run.rate:>8,.0f} {what}/s, "
                f"{run.cpu_us:>5,.0f} us of service CPU per call, {run.spans:.2f} spans"
            )
        offs = [run for sampled, run in runs if sampled is None]
        rate = statistics.mean(r.rate for r in offs)
        cpu = statistics.mean(r.cpu_us for r in offs)
        for sampled, run in runs:
            if sampled is not None:
                found.rate.setdefault(sampled, []).append(run.rate / rate)
                found.cpu.setdefault(sampled, []).append(run.cpu_us / cpu)
                found.spans.setdefault(sampled, []).append(run.spans)
        found.noise.append(offs[-1].rate / offs[0].rate)
        found.off_rates += [r.rate for r in offs]
        found.off_cpu += [r.cpu_us for r in offs]
    return found


def _off_path_seconds() -> float:
    """The tracing helpers a command on a cached grid calls when tracing is off."""
    assert not tracing.enabled()
    grid_id = "bench"

    def one_command() -> None:
        tracing.annotate("rover.grid.cached", True)
        with tracing.span(
            "rover.grid.append",
            {"rover.grid_id": grid_id, "rover.grid.expected_version": 7},
            kind=tracing.SpanKind.CLIENT,
        ):
            tracing.current_parent()
        with tracing.consumer_span(
            "rover.publish",
            (None for _ in ()),
            {"rover.grid_id": grid_id, "messaging.batch.message_count": 1},
            kind=tracing.SpanKind.PRODUCER,
        ):
            tracing.continuing(None)

    runs = 200_000
    return min(timeit.repeat(one_command, number=runs, repeat=5)) / runs


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def _summary(what: str, found: Rounds) -> list[str]:
    lines = [
        f"{what}, tracing off: {statistics.median(found.off_rates):,.0f}/s, "
        f"{statistics.median(found.off_cpu):,.0f} us of service CPU per call; off / off "
        f"(the noise floor) {_spread(found.noise)}"
    ]
    for sampled in SAMPLED:
        ratio = statistics.median(found.rate[sampled])
        verdict = ""
        if sampled == 1.0:
            met = "met" if ratio >= TARGET_ON else "MISSED"
            verdict = f"; target >= {TARGET_ON}: {met}"
        lines.append(
            f"{what}, tracing on at {sampled:.0%}: on / off {_spread(found.rate[sampled])}"
            f"{verdict}; service CPU per call on / off {_spread(found.cpu[sampled])}; "
            f"{statistics.median(found.spans[sampled]):.2f} spans per call"
        )
    return lines


async def main() -> None:
    with EventStoreProcess(db_path=None) as store, RedisServer() as redis_server:
        version = await seed_grid(store.uri)

        _say(f"commands: {COMMAND_CLIENTS} clients, {COMMAND_SECONDS:.0f} s a run, "
             f"{ROUNDS} rounds of off, on 100%, on 10%, off ...")  # fmt: skip
        commands = await _rounds("commands", lambda sampled: _commands(store.uri, sampled))
        _say(f"GetGridDetails ({ROVERS} rovers): {QUERY_CLIENTS} clients, "
             f"{QUERY_SECONDS:.0f} s a run, {ROUNDS} rounds ...")  # fmt: skip
        queries = await _rounds(
            "queries", lambda sampled: _queries(store.uri, redis_server.url, version, sampled)
        )
    off_path = _off_path_seconds()
    command_cpu = statistics.median(commands.off_cpu) / 1e6
    for line in [*_summary("commands/s", commands), *_summary("GetGridDetails/s", queries)]:
        _say(line)
    _say(
        f"tracing off: {off_path * 1e9:,.0f} ns of tracing helpers per command (timed in this "
        f"process) = {off_path / command_cpu:.2%} of the command service's CPU per command; "
        "GetGridDetails calls none"
    )
