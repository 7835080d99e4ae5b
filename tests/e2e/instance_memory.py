"""What each instance holds in memory: ``make run`` with N instances of each service, some
load through the shared addresses, and every child's VmRSS (and peak, VmHWM) from /proc.

``.venv/bin/python -m tests.e2e.instance_memory --grids 200 --rovers 5 --moves 20``
starts ``python -m services.up`` on free ports in a temporary folder, prints a table after
start and after the load, and stops it (docs/operations.md quotes a run).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import grpc

from protos.rover.v1 import (
    command_pb2,
    common_pb2,
    live_pb2,
    live_pb2_grpc,
    query_pb2,
    query_pb2_grpc,
)
from tests.e2e.system import System, established
from tests.support.stubs import CommandStub, command_stub


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(f"{field} not in /proc/{pid}/status")


def _table(system: System, title: str) -> str:
    ports = {
        service: int(system.env[f"ROVER_{service.upper()}_ADDRESS"].rsplit(":", 1)[1])
        for service in ("command", "query", "broadcaster")
    }
    header = f"  {'child':<14} {'VmRSS MiB':>10} {'VmHWM MiB':>10} {'connections':>12}"
    lines = [f"{title}:", header]
    for name, pid in system.pids().items():
        rss, peak = _status_kib(pid, "VmRSS"), _status_kib(pid, "VmHWM")
        port = ports.get(name.rsplit("-", 1)[0])
        connections = "" if port is None else str(established(pid, port))
        lines.append(f"  {name:<14} {rss / 1024:>10.1f} {peak / 1024:>10.1f} {connections:>12}")
    return "\n".join(lines)


async def _read(query: query_pb2_grpc.RoverQueryServiceAsyncStub, grid: str, version: int) -> None:
    """GetGridDetails at ``version`` or later, retried while the projection catches up."""
    deadline = time.monotonic() + 120
    while True:
        try:
            await query.GetGridDetails(
                query_pb2.GetGridDetailsRequest(grid_id=grid, min_version=version), timeout=30
            )
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                raise
        else:
            return


async def _drive(system: System, args: argparse.Namespace, report: Callable[[], None]) -> str:
    """Grids, rovers and moves through the shared command address, a watcher per grid on
    the shared broadcaster address, and reads on the shared query address."""
    env = system.env

    def connections(setting: str) -> list[grpc.aio.Channel]:
        # A pool of its own per channel: else channels to one target share one connection.
        own = [("grpc.use_local_subchannel_pool", 1)]
        return [grpc.aio.insecure_channel(env[setting], options=own) for _ in range(args.clients)]

    commands = connections("ROVER_COMMAND_ADDRESS")
    lives = connections("ROVER_BROADCASTER_ADDRESS")
    queries = connections("ROVER_QUERY_ADDRESS")
    grids = [f"mem-{n}-{uuid.uuid4().hex[:8]}" for n in range(args.grids)]
    updates = 0
    began = time.monotonic()

    seen: dict[str, int] = {}
    final: dict[str, int] = {}
    reached = {grid: asyncio.Event() for grid in grids}

    async def watch(grid: str, channel: grpc.aio.Channel) -> None:
        nonlocal updates
        stub: live_pb2_grpc.RoverLiveServiceAsyncStub = live_pb2_grpc.RoverLiveServiceStub(channel)
        call = stub.WatchGrid(live_pb2.WatchGridRequest(grid_id=grid))
        calls.append(call)
        try:
            async for update in call:
                updates += 1
                if update.WhichOneof("update") in ("snapshot", "event"):
                    seen[grid] = update.sequence
                    if seen[grid] >= final.get(grid, sys.maxsize):
                        reached[grid].set()
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.CANCELLED:
                raise

    async def drive_grid(index: int, grid: str) -> int:
        stub: CommandStub = command_stub(commands[index % args.clients])
        result = await stub.CreateGrid(
            command_pb2.CreateGridRequest(
                request_id=str(uuid.uuid4()), grid_id=grid, width=50, height=50
            ),
            timeout=30,
        )
        query: query_pb2_grpc.RoverQueryServiceAsyncStub = query_pb2_grpc.RoverQueryServiceStub(
            queries[index % args.clients]
        )
        # Once projected, the grid's integration stream exists: the broadcaster knows it.
        await _read(query, grid, result.version)
        watchers.append(asyncio.create_task(watch(grid, lives[index % args.clients])))
        for rover in range(args.rovers):
            result = await stub.CreateRover(
                command_pb2.CreateRoverRequest(
                    request_id=str(uuid.uuid4()),
                    grid_id=grid,
                    rover_id=f"r{rover}",
                    position=common_pb2.Position(x=3 * rover, y=0),
                    facing=common_pb2.DIRECTION_NORTH,
                ),
                timeout=30,
            )
        for move in range(args.moves):
            for rover in range(args.rovers):
                ids = {"request_id": str(uuid.uuid4()), "grid_id": grid, "rover_id": f"r{rover}"}
                if move % 2 == 0:
                    result = await stub.MoveRoverForward(
                        command_pb2.MoveRoverForwardRequest(**ids), timeout=30
                    )
                else:
                    result = await stub.TurnRoverRight(
                        command_pb2.TurnRoverRightRequest(**ids), timeout=30
                    )
        for _ in range(3):
            await _read(query, grid, result.version)
        final[grid] = int(result.version)
        if seen.get(grid, 0) >= final[grid]:
            reached[grid].set()
        await asyncio.wait_for(reached[grid].wait(), 60)  # its watcher got every event
        return final[grid]

    watchers: list[asyncio.Task[None]] = []
    calls: list[grpc.aio.UnaryStreamCall[live_pb2.WatchGridRequest, live_pb2.GridUpdate]] = []
    lanes = asyncio.Semaphore(args.clients * 2)

    async def lane(index: int, grid: str) -> int:
        async with lanes:
            return await drive_grid(index, grid)

    versions = await asyncio.gather(*(lane(i, g) for i, g in enumerate(grids)))
    events = sum(versions)
    seconds = time.monotonic() - began
    report()  # the clients still connected, every watcher still open
    for call in calls:  # the calls, not their tasks: grpc.aio then closes its channels
        call.cancel()
    await asyncio.gather(*watchers, return_exceptions=True)
    for channel in (*commands, *lives, *queries):
        await channel.close()
    commands_sent = args.grids * (1 + args.rovers + args.moves * args.rovers)
    return (
        f"load: {args.grids} grids x {args.rovers} rovers x {args.moves} moves = "
        f"{commands_sent} commands, {events} events, {len(watchers)} watchers got {updates} "
        f"updates, {4 * args.grids} GetGridDetails, {args.clients} connections a service, "
        f"in {seconds:.1f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.instance_memory")
    parser.add_argument("--instances", default="2", help="of each service (a number or auto)")
    parser.add_argument("--grids", type=int, default=200)
    parser.add_argument("--rovers", type=int, default=5)
    parser.add_argument("--moves", type=int, default=20, help="commands per rover")
    parser.add_argument("--clients", type=int, default=8, help="connections to each service")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="instance-memory-") as folder:
        system = System(Path(folder) / "rover-data")
        for service in ("COMMAND", "QUERY", "BROADCASTER"):
            system.env[f"ROVER_{service}_INSTANCES"] = args.instances
        system.start(timeout=300)

        def report() -> None:
            print(_table(system, "at the end of the load"), flush=True)

        try:
            print(_table(system, "started, idle"), flush=True)
            print(asyncio.run(_drive(system, args, report)), flush=True)
            print(_table(system, "after the load (clients gone)"), flush=True)
        finally:
            assert system.process is not None
            system.process.send_signal(signal.SIGINT)
            code = system.process.wait(timeout=120)
    return code


if __name__ == "__main__":
    sys.exit(main())
