"""Command service benchmark: commands/s and latency through gRPC vs raw esdbclient appends.

Runs the embedded event store and the command service (with integration publishing) as child
processes, then from this process: the raw single-event append rate (1 and 16 concurrent
appenders), commands/s with p50/p99 through gRPC (1 and 16 concurrent clients, one grid each),
the p99 of a command on a grid with 100,000 events against one on a fresh grid (the median of
five alternating rounds), and the publisher's latency: commands sent open-loop at 200/s
round-robin over 20 grids, each timed from its acknowledgement until its integration event is
readable (a subscription to $all filtered by ``integration-.*`` in this process), against the
raw append rate as the baseline of the store.
The publisher is measured on a durable (file) store and on the in-memory one.
``BENCH_COMMAND_QUICK=1`` measures only the publisher and its baselines.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import grpc
from esdbclient import AsyncEventStoreDBClient

from bench.command.publication import (
    PUBLISH_COMMANDS,
    PUBLISH_GRIDS,
    PUBLISH_RATE,
    publication,
    wait_published,
)
from bench.command.service import Service
from bench.command.timing import ms, percentile
from bench.command.workloads import (
    LATENCY_SAMPLES,
    SECONDS,
    command_rate,
    create_grid,
    raw_appends,
    turn_latencies,
)
from protos.rover.v1 import command_pb2
from standins.eventstore.process import EventStoreProcess
from tests.support.stubs import command_stub

__all__ = ["main"]


CONCURRENCY = (1, 16)
BIG_HISTORY = 100_000
SEQUENCE = 1_000  # events per ExecuteRoverCommands while building the big grid
ROUNDS = 5  # rounds of LATENCY_SAMPLES commands per grid; the ratio is their median
TARGET_RATIO = 0.4
TARGET_BIG_P99 = 1.5
QUICK = os.environ.get("BENCH_COMMAND_QUICK", "") not in ("", "0")
REQUEST_WINDOW = 1  # the service's request window: a request id beyond it is looked up


def _say(text: str) -> None:
    print(text, flush=True)


async def _run_publication(store_uri: str, service: Service, label: str) -> str:
    """The raw single-appender rate, then the publisher's latency, on one store."""
    client = AsyncEventStoreDBClient(store_uri)
    await client.connect()
    try:
        _say(f"{label}: raw esdbclient appends, 1 appender, {SECONDS:.0f} s ...")
        raw = await raw_appends(client, 1)
        _say(f"  {raw:>8,.0f} appends/s")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            stub = command_stub(channel)
            _say(
                f"{label}: {PUBLISH_COMMANDS:,} commands at {PUBLISH_RATE}/s over "
                f"{PUBLISH_GRIDS} grids ..."
            )
            delays, missing, commands = await publication(client, stub)
    finally:
        await client.close()
    line = (
        f"{label}: {_publication_line(delays, missing, raw)}; the commands themselves: "
        f"p50 {ms(statistics.median(commands))}, p99 {ms(percentile(commands, 0.99))}"
    )
    _say(f"  {line}")
    return line


async def _run(store_uri: str, service: Service) -> None:
    client = AsyncEventStoreDBClient(store_uri)
    await client.connect()
    raw: dict[int, float] = {}
    for workers in CONCURRENCY:
        _say(f"raw esdbclient appends, {workers:>2} concurrent, {SECONDS:.0f} s ...")
        raw[workers] = await raw_appends(client, workers)
        _say(f"  {raw[workers]:>8,.0f} appends/s")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        stub = command_stub(channel)
        results: dict[int, tuple[float, list[float]]] = {}
        for workers in CONCURRENCY:
            _say(f"commands through gRPC, {workers:>2} concurrent clients, {SECONDS:.0f} s ...")
            rate, latencies = await command_rate(stub, workers)
            results[workers] = (rate, latencies)
            _say(
                f"  {rate:>8,.0f} commands/s   p50 {ms(statistics.median(latencies))}   "
                f"p99 {ms(percentile(latencies, 0.99))}   ratio to raw {rate / raw[workers]:.2f}"
            )
        workers = CONCURRENCY[-1]
        _say(
            f"commands with a fresh request_id each, {workers:>2} concurrent clients, window "
            f"{REQUEST_WINDOW} (all but the first looked up in the request log) ..."
        )
        rate, latencies = await command_rate(stub, workers, request_ids=True)
        plain = results[workers][0]
        _say(
            f"  {rate:>8,.0f} commands/s   p50 {ms(statistics.median(latencies))}   "
            f"p99 {ms(percentile(latencies, 0.99))}   ratio to no request_id {rate / plain:.2f}"
        )
        big, fresh = f"big-{uuid.uuid4().hex[:8]}", f"fresh-{uuid.uuid4().hex[:8]}"
        _say(f"building a grid with {BIG_HISTORY:,} events ({SEQUENCE} per command) ...")
        await create_grid(stub, big)
        await create_grid(stub, fresh)
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
        await wait_published(client, big, BIG_HISTORY + 2)
        _say(
            f"measuring {LATENCY_SAMPLES} commands on each grid, {ROUNDS} rounds, "
            "alternating which grid goes first ..."
        )
        big_ratios: list[float] = []
        big_samples: list[float] = []
        fresh_samples: list[float] = []
        for round_ in range(ROUNDS):
            if round_ % 2 == 0:
                big_round = await turn_latencies(stub, big)
                fresh_round = await turn_latencies(stub, fresh)
            else:
                fresh_round = await turn_latencies(stub, fresh)
                big_round = await turn_latencies(stub, big)
            big_ratios.append(percentile(big_round, 0.99) / percentile(fresh_round, 0.99))
            big_samples += big_round
            fresh_samples += fresh_round
    await client.close()

    _say("\nresults")
    for workers in CONCURRENCY:
        rate, latencies = results[workers]
        _say(
            f"  {workers:>2} clients: {rate:>7,.0f} commands/s "
            f"(raw {raw[workers]:>7,.0f} appends/s, ratio {rate / raw[workers]:.2f}), "
            f"p50 {ms(statistics.median(latencies))}, p99 {ms(percentile(latencies, 0.99))}"
        )
    ratio = results[16][0] / raw[16]
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    _say(f"  ratio at 16 clients: {ratio:.2f} ({verdict} the {TARGET_RATIO} target)")
    big_p99, fresh_p99 = percentile(big_samples, 0.99), percentile(fresh_samples, 0.99)
    relative = statistics.median(big_ratios)
    verdict = "meets" if relative <= TARGET_BIG_P99 else "MISSES"
    _say(
        f"  p99 on a {BIG_HISTORY:,}-event grid {ms(big_p99)} vs fresh {ms(fresh_p99)} (pooled); "
        f"median of {ROUNDS} rounds {relative:.2f}x ({verdict} the {TARGET_BIG_P99}x target): "
        + " ".join(f"{r:.2f}" for r in big_ratios)
    )


def _publication_line(delays: list[float], missing: int, raw_rate: float) -> str:
    if not delays:
        return f"publisher: nothing published ({missing} missing)"
    return (
        f"publisher at {PUBLISH_RATE} commands/s over {PUBLISH_GRIDS} grids: acknowledged -> "
        f"integration event readable p50 {ms(statistics.median(delays))}, "
        f"p99 {ms(percentile(delays, 0.99))}, {missing} not published within 60 s "
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
        service = Service(store.uri)
        try:
            lines.append(await _run_publication(store.uri, service, "durable store"))
        finally:
            service.stop()
    _say("starting the in-memory embedded event store and the command service (publisher on)")
    with EventStoreProcess(db_path=None) as store:
        service = Service(store.uri, request_window=REQUEST_WINDOW)
        try:
            lines.append(await _run_publication(store.uri, service, "in-memory store"))
            if not QUICK:
                await _run(store.uri, service)
        finally:
            service.stop()
    _say("\npublisher results\n" + "\n".join(f"  {line}" for line in lines))
