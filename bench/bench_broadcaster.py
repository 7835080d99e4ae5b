"""Broadcaster benchmark: 1,000 watchers over 100 grids, against bare grpc.aio fan-outs.

``python -m bench broadcaster`` (or ``python -m bench.bench_broadcaster [--quick]``).

Every party runs in a process of its own, as in production (bench/broadcaster/parties.py):
the event store, the broadcaster (``python -m services.broadcaster``, configured by
``ROVER_*`` variables), the appender (the command service's EsdbIntegrationLog: paced at
100 events/s round-robin over the grids, or at full speed with one appender per grid), one
watchers process per measurement, and two baselines:

- the bare fan-out (the issue's baseline): grpc.aio with one queue per stream that produces
  the same GridUpdate bytes itself, without a store;
- the store-fed bare fan-out: the same, fed by one esdbclient subscription to the same store
  and the same appender, as the broadcaster is (no hub, no cache, no checks, unbounded
  queues). It is a reference for a fan-out fed by this store with nothing of ours in it, and
  tells how much of the gap to the bare fan-out is ours and how much comes with the feed.

Phase 1 measures the broadcaster (paced, then full-speed runs alternating with the bare
fan-out); phase 2 stops it and measures the store-fed bare fan-out the same way. Ratios are
medians of the per-pair ratios. Every watcher's sequences are checked: lost or duplicated
updates are counted. Each run prints the CPU seconds every party used during it (server,
watchers, store, appender): on a small machine they share the same cores. ``--quick`` (or
BENCH_BROADCASTER_QUICK=1) runs a fifth of the events and three pairs.
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
from collections.abc import Awaitable, Callable

from bench.broadcaster.measure import Result, Target, measure, median_cpu
from bench.broadcaster.parties import (
    BARE_METHOD,
    GRIDS,
    RATE,
    WATCHERS,
    appender_process,
    bare_process,
    store_fed_process,
)
from bench.pairs import alternate
from bench.servers import wait_serving
from services.common.logs import configure_logging
from standins.eventstore.process import EventStoreProcess

__all__ = ["free_port", "main", "start_broadcaster", "start_service"]

PACED_EVENTS = 1_500
FULL_EVENTS = 4_000
PAIRS = 5  # full-speed runs of each contender, alternating with the bare fan-out
_WATCH_METHOD = "/rover.v1.RoverLiveService/WatchGrid"


def _say(text: str) -> None:
    print(text, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_service(module: str, variables: dict[str, str]) -> subprocess.Popen[bytes]:
    """``python -m module`` with these ``ROVER_*`` variables, logging warnings only."""
    env = {**os.environ, "ROVER_LOG_LEVEL": "WARNING", **variables}
    return subprocess.Popen([sys.executable, "-m", module], env=env, stdout=subprocess.DEVNULL)


def start_broadcaster(uri: str, port: int) -> subprocess.Popen[bytes]:
    return start_service(
        "services.broadcaster",
        {
            "ROVER_BROADCASTER_ADDRESS": f"127.0.0.1:{port}",
            "ROVER_EVENTSTORE_URI": uri,
            "ROVER_BROADCASTER_HEARTBEAT_SECONDS": "60",
        },
    )


async def _pairs(contender: Target, bare: Target, count: int, pairs: int) -> list[Result]:
    """Full-speed runs of ``contender`` and ``bare``, alternating: [c, b, b, c, c, b, ...]."""

    def run(target: Target) -> Callable[[], Awaitable[Result]]:
        return lambda: measure(f"{target.name}, full speed", target, "full", count)

    return [result for pair in await alternate(pairs, run(contender), run(bare)) for result in pair]


def _ratios(results: list[Result], per_cpu: bool = False) -> list[float]:
    """Contender / bare for each pair of ``_pairs``' results."""
    pairs = zip(results[::2], results[1::2], strict=True)
    if per_cpu:
        return [mine.per_cpu / base.per_cpu for mine, base in pairs]
    return [mine.rate / base.rate for mine, base in pairs]


def _figures(ratios: list[float]) -> str:
    return f"median of {len(ratios)} pairs: " + " ".join(f"{r:.2f}" for r in ratios)


def _switches(results: list[Result]) -> float:
    return statistics.median(r.switches / max(1, r.deliveries) for r in results)


def _budget(results: list[Result]) -> str:
    cpu = median_cpu(results)
    return " + ".join(f"{party} {seconds:.2f}" for party, seconds in cpu.items()) + (
        f" = {sum(cpu.values()):.2f}"
    )


async def _phases(quick: bool) -> None:
    scale = 0.2 if quick else 1.0
    paced, full = int(PACED_EVENTS * scale), int(FULL_EVENTS * scale)
    pairs = 3 if quick else PAIRS
    _say(
        f"{WATCHERS:,} watchers over {GRIDS} grids; paced {paced:,} events at {RATE:.0f}/s, "
        f"full speed {full:,} events x {pairs} alternating pairs per contender"
        f"{' (--quick: scaled down)' if quick else ''}; every party in its own process, "
        f"{len(os.sched_getaffinity(0))} cores"
    )
    context = multiprocessing.get_context("spawn")
    loop = asyncio.get_running_loop()
    with EventStoreProcess(db_path=None) as store:
        to_appender, appender_end = context.Pipe()
        appender = context.Process(
            target=appender_process, args=(appender_end, store.uri), daemon=True
        )
        to_bare, bare_end = context.Pipe()
        bare_server = context.Process(target=bare_process, args=(bare_end,), daemon=True)
        store_fed: multiprocessing.process.BaseProcess | None = None
        appender.start()
        bare_server.start()
        assert appender.pid is not None
        assert bare_server.pid is not None
        grids: list[str] = await loop.run_in_executor(None, to_appender.recv)
        bare_port, bare_grids = await loop.run_in_executor(None, to_bare.recv)
        bare_address = f"127.0.0.1:{bare_port}"
        bare = Target(
            "bare fan-out", bare_address, BARE_METHOD, bare_grids, to_bare, bare_server.pid
        )
        feeders = {"store": store.pid, "appender": appender.pid}
        port = free_port()
        broadcaster = start_broadcaster(store.uri, port)
        try:
            await wait_serving(f"127.0.0.1:{port}", broadcaster, "the broadcaster")
            ours = Target(
                "broadcaster",
                f"127.0.0.1:{port}",
                _WATCH_METHOD,
                grids,
                to_appender,
                broadcaster.pid,
                feeders,
            )
            _say("phase 1: the broadcaster")
            ours_paced = await measure("broadcaster, 100/s", ours, "paced", paced)
            bare_paced = await measure("bare fan-out, 100/s", bare, "paced", paced)
            ours_full = await _pairs(ours, bare, full, pairs)
            broadcaster.send_signal(signal.SIGTERM)
            broadcaster.wait(30)

            _say("phase 2: the store-fed bare fan-out (the broadcaster stopped)")
            to_fed, fed_end = context.Pipe()
            store_fed = context.Process(
                target=store_fed_process,
                args=(fed_end, store.uri, grids, ours.versions),
                daemon=True,
            )
            store_fed.start()
            assert store_fed.pid is not None
            fed_port: int = await loop.run_in_executor(None, to_fed.recv)
            fed = Target(
                "store-fed bare fan-out",
                f"127.0.0.1:{fed_port}",
                BARE_METHOD,
                grids,
                to_appender,
                store_fed.pid,
                feeders,
                versions=ours.versions,
            )
            fed_full = await _pairs(fed, bare, full, pairs)
        finally:
            if broadcaster.poll() is None:
                broadcaster.send_signal(signal.SIGTERM)
                broadcaster.wait(30)
            if store_fed is not None:
                store_fed.terminate()
                store_fed.join(10)
            for conn in (to_appender, to_bare):
                conn.send(("stop", 0))
            appender.join(30)
            bare_server.join(30)
    _report(ours_paced, bare_paced, ours_full, fed_full)


def _report(
    ours_paced: Result, bare_paced: Result, ours_full: list[Result], fed_full: list[Result]
) -> None:
    rates, fed_rates = _ratios(ours_full), _ratios(fed_full)
    rate, fed_rate = statistics.median(rates), statistics.median(fed_rates)
    cpu = _ratios(ours_full, per_cpu=True)
    p99 = ours_paced.percentile(0.99) / bare_paced.percentile(0.99)
    p50 = ours_paced.percentile(0.5) / bare_paced.percentile(0.5)
    wrong = sum(r.lost + r.duplicated for r in [ours_paced, *ours_full, *fed_full])
    _say("  targets:")
    _say(f"    delivered/s vs bare at full speed   {rate:5.2f}x  (>= 0.70)  {_figures(rates)}")
    _say(f"    p99 vs bare at 100/s                {p99:5.2f}x  (<= 1.50)  p50 {p50:.2f}x")
    _say(f"    lost or duplicated updates          {wrong}  (0)")
    _say("  where the gap is:")
    _say(
        f"    store-fed bare vs bare              {fed_rate:5.2f}x  {_figures(fed_rates)}  "
        "(a fan-out fed by this store, nothing of ours in it)"
    )
    _say(f"    broadcaster vs store-fed bare       {rate / fed_rate:5.2f}x  (ratio of the medians)")
    _say(f"    deliveries per server CPU-s vs bare {statistics.median(cpu):5.2f}x  {_figures(cpu)}")
    _say(
        "    server context switches per delivery (medians): "
        f"broadcaster {_switches(ours_full[::2]):.2f}, store-fed {_switches(fed_full[::2]):.2f}, "
        f"bare {_switches(ours_full[1::2] + fed_full[1::2]):.2f}"
    )
    _say("    CPU-s per full-speed run (medians):")
    _say(f"      broadcaster run   {_budget(ours_full[::2])}")
    _say(f"      store-fed run     {_budget(fed_full[::2])}")
    _say(f"      bare run          {_budget(ours_full[1::2] + fed_full[1::2])}")


async def main() -> None:
    """Run the measurements and compare them with the targets."""
    quick = "--quick" in sys.argv or os.environ.get("BENCH_BROADCASTER_QUICK") == "1"
    configure_logging(level="WARNING", fmt="console")
    await _phases(quick)


if __name__ == "__main__":
    asyncio.run(main())
