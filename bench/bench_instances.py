"""Throughput with 1, 2 and 4 instances of each service sharing its address (issue 14).

``python -m bench instances``, or ``python -m bench.bench_instances [--instances 1,2,4]
[--quick] [--json PATH]``. One stand-in event store (in memory) and one redis-server serve
the whole run: the store is reused, growing by each round's commands (bench_eventstore shows
appends/s do not depend on its size). Each round starts N processes of every service, each
service's sharing one address (bench/instances/fleet.py), and stops them at its end. Every
contender is measured against a baseline in the same round, in alternating pairs
(bench/instances/rounds.py):

- commands/s (MoveRoverForward) of 64 clients, each on a grid of its own, vs raw esdbclient
  appends of 64 appenders straight to the store (bench_command's); then, once, 64 clients
  on one grid against the same baseline;
- GetGridDetails/s of a 100-rover grid, 64 clients, vs the bare echo server (bench_query's);
- deliveries/s of the broadcaster at full speed, 1,000 watchers over 100 grids, vs the bare
  fan-out (bench_broadcaster's parties and measurement).

The whole system runs in every round: one publisher and one projector (in the first command
and query instance) and every broadcaster follow the commands as they would; after each
window the round waits until they are idle again, and reports how long that took (backlog).
The clients run in worker processes, each gRPC client on a TCP connection of its own (the
watchers on 40), so SO_REUSEPORT spreads them over the instances; the round checks that
every instance held connections and worked (/proc), and reports the CPU seconds of every
process in each window: where the cores went.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.broadcaster.parties import WATCHERS
from bench.instances.fanout import WATCHER_CONNECTIONS, Fanout
from bench.instances.fleet import Fleet
from bench.instances.load import Clients
from bench.instances.report import Round, table, write_json
from bench.instances.rounds import CLIENTS, Bench
from bench.servers import start_echo
from services.common.logs import configure_logging
from standins.eventstore.process import EventStoreProcess
from tests.support.redis_server import RedisServer, free_port

__all__ = ["main"]


def _say(text: str) -> None:
    print(text, flush=True)


@dataclass(frozen=True)
class Options:
    """What to run: instance counts, window and pair counts, the clients' processes."""

    instances: tuple[int, ...]
    seconds: float
    pairs: int
    events: int  # per broadcaster run
    client_processes: int
    json: Path | None


def _options(argv: list[str]) -> Options:
    default_processes = max(1, len(os.sched_getaffinity(0)) // 4)
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_instances",
        description="Throughput with 1, 2 and 4 instances of each service (see the module).",
    )
    parser.add_argument("--instances", default="1,2,4", help="instance counts (1,2,4)")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--seconds", type=float, help="window per run (2.5; --quick 0.5)")
    parser.add_argument("--pairs", type=int, help="alternating pairs per figure (2; --quick 1)")
    parser.add_argument(
        "--client-processes",
        type=int,
        default=default_processes,
        help=f"processes the {CLIENTS} clients are spread over (cores / 4: {default_processes})",
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args(argv)
    return Options(
        instances=tuple(int(n) for n in args.instances.split(",")),
        seconds=args.seconds or (0.5 if args.quick else 2.5),
        pairs=args.pairs or (1 if args.quick else 2),
        events=400 if args.quick else 2_500,
        client_processes=args.client_processes,
        json=args.json,
    )


def _end(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _end_children() -> None:
    """Whatever multiprocessing child still runs (e.g. the watchers of an interrupted run)."""
    for child in multiprocessing.active_children():
        child.terminate()
        child.join(5)


async def run(options: Options) -> list[Round]:
    """Every round; the store, Redis and every process started end however the run ends."""
    cores = len(os.sched_getaffinity(0))
    _say(
        f"{', '.join(map(str, options.instances))} instance(s) of each service; {CLIENTS} "
        f"clients in {options.client_processes} process(es), one connection each (watchers: "
        f"{WATCHERS:,} on {WATCHER_CONNECTIONS}); windows of {options.seconds:g} s, "
        f"{options.pairs} alternating pair(s) per figure; {cores} cores; one in-memory store "
        "and one Redis for the whole run"
    )
    rounds: list[Round] = []
    with contextlib.ExitStack() as stack:
        stack.callback(_end_children)
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-inst-")))
        store = stack.enter_context(EventStoreProcess(db_path=None))
        redis = stack.enter_context(RedisServer())
        clients = Clients(options.client_processes)
        stack.callback(clients.stop)
        echo_port = free_port()
        echo = start_echo(echo_port)
        stack.callback(_end, echo)
        fanout = Fanout(store.uri)
        stack.callback(fanout.stop)
        await fanout.start()
        parties = {
            "store": store.pid,
            "redis": redis.pid,
            "echo": echo.pid,
            "bench": os.getpid(),
            **clients.pids,
            **fanout.pids,
        }
        bench = Bench(
            options.seconds,
            options.pairs,
            options.events,
            store.uri,
            clients,
            f"127.0.0.1:{echo_port}",
            fanout,
            parties,
        )
        for count in options.instances:
            (folder / f"n{count}").mkdir()
            fleet = Fleet(
                count, store_port=store.port, redis_port=redis.port, folder=folder / f"n{count}"
            )
            rounds.append(await bench.round(fleet))
    for line in table(rounds, cores):
        _say(line)
    if options.json is not None:
        write_json(options.json, rounds, {"cores": cores, "options": repr(options)})
    return rounds


async def main(argv: list[str] | None = None) -> None:
    """Run the rounds (``python -m bench`` passes no arguments: the full run)."""
    configure_logging(level="WARNING", fmt="console")
    options = _options(argv or [])
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    await run(options)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
