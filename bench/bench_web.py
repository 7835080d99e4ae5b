"""Web benchmark: browser-style live clients (Server-Sent Events) vs gRPC WatchGrid, one run.

``python -m bench web`` (or ``python -m bench.bench_web [--clients N] [--pairs N] [--quick]``;
``BENCH_WEB_CLIENTS=N`` likewise). The event store, the appender (the command service's
EsdbIntegrationLog), the broadcaster (``python -m services.broadcaster``) and the web
front-end (``python -m services.web``, a WatchGrid client of that broadcaster) each run in a
process of their own; one client process per measurement opens N streams over 100 grids:
either SSE through the web front-end (EventSource clients: bench/web_clients.py) or WatchGrid
straight to the broadcaster (the gRPC baseline, bench/broadcaster/parties.py). Paced runs
(100 events/s) give the p99 latency from append acknowledged to client received, full-speed
runs the deliveries/s; both alternate SSE and gRPC in pairs, and each ratio is the median of
the per-pair ratios (one stall of the shared machine in a paced run otherwise decides its
p99). Every client's sequences are checked (lost, duplicated).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
from collections.abc import Awaitable, Callable

import httpx

from bench.bench_broadcaster import free_port, start_broadcaster, start_service
from bench.broadcaster.measure import Result, Target, measure, median_cpu
from bench.broadcaster.parties import (
    GRIDS,
    RATE,
    WATCHERS,
    appender_process,
    watchers_process,
)
from bench.pairs import alternate
from bench.servers import wait_serving
from bench.web_clients import sse_watchers_process
from services.common.logs import configure_logging
from standins.eventstore.process import EventStoreProcess

__all__ = ["main"]

PACED_EVENTS = 1_500
FULL_EVENTS = 4_000
PAIRS = 3
_WATCH_METHOD = "/rover.v1.RoverLiveService/WatchGrid"


def _say(text: str) -> None:
    print(text, flush=True)


def _option(name: str, default: int) -> int:
    if name in sys.argv:
        return int(sys.argv[sys.argv.index(name) + 1])
    return default


def _start_web(broadcaster: str, port: int) -> subprocess.Popen[bytes]:
    return start_service(
        "services.web",
        {"ROVER_WEB_ADDRESS": f"127.0.0.1:{port}", "ROVER_BROADCASTER_ADDRESS": broadcaster},
    )


async def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(base_url=url) as client:
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError("the web front-end exited at start-up")
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the web front-end never became ready")


async def _run(clients: int, paced: int, full: int, pairs: int) -> None:
    context = multiprocessing.get_context("spawn")
    loop = asyncio.get_running_loop()
    with EventStoreProcess(db_path=None) as store:
        to_appender, appender_end = context.Pipe()
        appender = context.Process(
            target=appender_process, args=(appender_end, store.uri), daemon=True
        )
        appender.start()
        assert appender.pid is not None
        grids: list[str] = await loop.run_in_executor(None, to_appender.recv)
        feeders = {"store": store.pid, "appender": appender.pid}
        live = f"127.0.0.1:{free_port()}"
        web_port = free_port()
        broadcaster = start_broadcaster(store.uri, int(live.rsplit(":", 1)[1]))
        web = _start_web(live, web_port)
        try:
            await wait_serving(live, broadcaster, "the broadcaster")
            await _wait_ready(f"http://127.0.0.1:{web_port}", web)
            grpc_target = Target(
                "gRPC WatchGrid", live, _WATCH_METHOD, grids, to_appender, broadcaster.pid, feeders
            )
            sse_target = Target(
                "SSE via the web front-end",
                f"http://127.0.0.1:{web_port}",
                "sse",
                grids,
                to_appender,
                web.pid,
                {**feeders, "broadcaster": broadcaster.pid},
            )

            def run(target: Target, kind: str, count: int) -> Callable[[], Awaitable[Result]]:
                client = sse_watchers_process if target is sse_target else watchers_process
                label = f"{target.name}, {'100/s' if kind == 'paced' else 'full speed'}"
                return lambda: measure(label, target, kind, count, watchers=clients, client=client)

            paced_pairs = await alternate(
                pairs, run(sse_target, "paced", paced), run(grpc_target, "paced", paced)
            )
            full_pairs = await alternate(
                pairs, run(sse_target, "full", full), run(grpc_target, "full", full)
            )
        finally:
            for process in (web, broadcaster):
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                    process.wait(30)
            to_appender.send(("stop", 0))
            appender.join(30)
    _report(paced_pairs, full_pairs)


def _report(paced: list[tuple[Result, Result]], pairs: list[tuple[Result, Result]]) -> None:
    rates = [mine.rate / base.rate for mine, base in pairs]
    p99s = [mine.percentile(0.99) / base.percentile(0.99) for mine, base in paced]
    p50s = [mine.percentile(0.5) / base.percentile(0.5) for mine, base in paced]
    wrong = sum(r.lost + r.duplicated for r in sum([*paced, *pairs], ()))
    figures = " ".join(f"{r:.2f}" for r in rates)
    _say("  targets (SSE through the web front-end vs gRPC WatchGrid, same run; medians of pairs):")
    _say(f"    delivered/s at full speed   {statistics.median(rates):5.2f}x  (>= 0.70)  {figures}")
    _say(f"    p99 at 100/s                {statistics.median(p99s):5.2f}x  (<= 1.50)  "
         + " ".join(f"{r:.2f}" for r in p99s)
         + f"; p50 {statistics.median(p50s):.2f}x")  # fmt: skip
    _say(f"    lost or duplicated updates  {wrong}  (0)")
    sse_cpu = median_cpu([mine for mine, _ in pairs])
    grpc_cpu = median_cpu([base for _, base in pairs])
    _say("  CPU-s per full-speed run (medians; 'server' is the web process for SSE):")
    _say("    SSE   " + " ".join(f"{k} {v:.2f}" for k, v in sse_cpu.items()))
    _say("    gRPC  " + " ".join(f"{k} {v:.2f}" for k, v in grpc_cpu.items()))


async def main() -> None:
    """Run the measurements and compare them with the targets."""
    quick = "--quick" in sys.argv
    clients = _option("--clients", int(os.environ.get("BENCH_WEB_CLIENTS", WATCHERS)))
    pairs = _option("--pairs", 2 if quick else PAIRS)
    scale = 0.2 if quick else 1.0
    paced, full = int(PACED_EVENTS * scale), int(FULL_EVENTS * scale)
    configure_logging(level="WARNING", fmt="console")
    _say(
        f"{clients:,} live clients of each kind over {GRIDS} grids; paced {paced:,} events at "
        f"{RATE:.0f}/s, full speed {full:,} events x {pairs} alternating pairs; "
        f"{len(os.sched_getaffinity(0))} cores"
    )
    await _run(clients, paced, full, pairs)


if __name__ == "__main__":
    asyncio.run(main())
