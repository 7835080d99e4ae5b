"""Memory soak (``python -m bench soak --minutes 30``): does every process's RSS level off?

Starts the whole system as ``make run`` does (``python -m services.up`` on free ports in a
temporary folder), then drives it at a fixed rate for the given minutes: commands (moves and
turns on a fixed set of grids, plus a new grid now and then), GetGridDetails reads, and one
watcher per grid, a few of them reconnecting each sample period. Every process's VmRSS is read
from /proc once a sample period (a minute by default). The report gives each process's RSS at
the start and the end and its growth rate over the first and the last third of the run: a
process levels off when its last-third rate is at most half its first-third rate or under
1 MiB/min. The event store keeps its data in memory, so it grows with the events (compare its
rate with the events/min printed). ``--minutes 2 --sample-seconds 10`` is a quick check.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import grpc

from protos.rover.v1 import (
    command_pb2,
    command_pb2_grpc,
    common_pb2,
    live_pb2,
    live_pb2_grpc,
    query_pb2,
    query_pb2_grpc,
)
from tests.e2e.system import System

ONLY_WHEN_NAMED = True  # 30 minutes: not part of ``make bench``
GRIDS = 20
ROVERS = 3
MiB = 1024 * 1024


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench soak", add_help=False)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--sample-seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=50.0, help="commands (and reads) a second")
    known, _ = parser.parse_known_args(argv)
    return known


def rss_bytes(pid: int) -> int:
    """A process's resident set size now (VmRSS), 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def slope(samples: Sequence[tuple[float, int]]) -> float:
    """Least-squares growth of ``(minute, bytes)`` samples, in MiB per minute."""
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_v = sum(v for _, v in samples) / n
    spread = sum((t - mean_t) ** 2 for t, _ in samples)
    if spread == 0:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in samples) / spread / MiB


def levels_off(samples: Sequence[tuple[float, int]]) -> tuple[float, float, bool]:
    """First-third and last-third growth (MiB/min) and whether the process levelled off."""
    third = max(2, len(samples) // 3)
    first, last = slope(samples[:third]), slope(samples[-third:])
    return first, last, last <= max(1.0, first / 2)


class _Load:
    """Commands, reads and watchers at a fixed rate against the running system."""

    def __init__(self, system: System, rate: float) -> None:
        env = system.env
        self.command = command_pb2_grpc.RoverCommandServiceStub(
            grpc.aio.insecure_channel(env["ROVER_COMMAND_ADDRESS"])
        )
        self.query = query_pb2_grpc.RoverQueryServiceStub(
            grpc.aio.insecure_channel(env["ROVER_QUERY_ADDRESS"])
        )
        self.live_channel = grpc.aio.insecure_channel(env["ROVER_BROADCASTER_ADDRESS"])
        self.live = live_pb2_grpc.RoverLiveServiceStub(self.live_channel)
        self.rate = rate
        self.grids: list[str] = []
        self.watchers: dict[str, asyncio.Task[None]] = {}
        self.commands = self.reads = self.updates = self.failures = 0

    def _id(self) -> str:
        return str(uuid.uuid4())

    async def new_grid(self) -> str:
        grid = f"soak-{uuid.uuid4().hex[:10]}"
        await self.command.CreateGrid(
            command_pb2.CreateGridRequest(
                request_id=self._id(),
                grid_id=grid,
                width=40,
                height=40,
                topology=common_pb2.TOPOLOGY_TOROIDAL,
                obstacles=[common_pb2.Position(x=20, y=y) for y in range(0, 40, 4)],
            ),
            timeout=30,
        )
        for rover in range(ROVERS):
            result = await self.command.CreateRover(
                command_pb2.CreateRoverRequest(
                    request_id=self._id(),
                    grid_id=grid,
                    rover_id=f"r{rover}",
                    position=common_pb2.Position(x=rover * 3, y=1),
                    facing=common_pb2.DIRECTION_NORTH,
                ),
                timeout=30,
            )
        await self.query.GetGridDetails(
            query_pb2.GetGridDetailsRequest(grid_id=grid, min_version=result.version), timeout=30
        )
        self.grids.append(grid)
        self.watch(grid)
        return grid

    def watch(self, grid: str) -> None:
        old = self.watchers.pop(grid, None)
        if old is not None:
            old.cancel()
        self.watchers[grid] = asyncio.create_task(self._watch(grid))

    async def _watch(self, grid: str) -> None:
        call = self.live.WatchGrid(live_pb2.WatchGridRequest(grid_id=grid))
        try:
            async for _ in call:
                self.updates += 1
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.CANCELLED:
                self.failures += 1
        finally:
            call.cancel()

    async def _one(self, n: int) -> None:
        grid = self.grids[n % len(self.grids)]
        ids = {"request_id": self._id(), "grid_id": grid, "rover_id": f"r{n % ROVERS}"}
        try:
            if n % 3 == 2:
                await self.command.TurnRoverLeft(
                    command_pb2.TurnRoverLeftRequest(**ids), timeout=30
                )
            else:
                await self.command.ExecuteRoverCommands(
                    command_pb2.ExecuteRoverCommandsRequest(**ids, commands="FFRFFL"), timeout=30
                )
            self.commands += 1
            await self.query.GetGridDetails(
                query_pb2.GetGridDetailsRequest(grid_id=grid), timeout=30
            )
            self.reads += 1
        except grpc.aio.AioRpcError:
            self.failures += 1

    async def run(self, seconds: float, on_sample: float, sample: Callable[[], None]) -> None:
        """Open loop at ``rate``: a command and a read every 1/rate s; a new grid and watcher
        reconnections once every sample period."""
        started = time.monotonic()
        pending: set[asyncio.Task[None]] = set()
        next_sample = started + on_sample
        n = 0
        while (now := time.monotonic()) < started + seconds:
            if now >= next_sample:
                next_sample += on_sample
                sample()
                await self.new_grid()
                for grid in random.sample(self.grids, 3):
                    self.watch(grid)
            task = asyncio.create_task(self._one(n))
            pending.add(task)
            task.add_done_callback(pending.discard)
            n += 1
            delay = started + n / self.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await asyncio.gather(*pending)

    async def close(self) -> None:
        for task in self.watchers.values():
            task.cancel()
        await asyncio.gather(*self.watchers.values(), return_exceptions=True)


async def _soak(options: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="rover-soak-") as folder:
        data = Path(folder) / "data"
        data.mkdir()
        system = System(data)
        system.start()
        try:
            assert system.process is not None
            pids = {"services.up": system.process.pid, **system.pids()}
            print(f"system up: {', '.join(f'{k} pid {v}' for k, v in pids.items())}", flush=True)
            load = _Load(system, options.rate)
            for _ in range(GRIDS):
                await load.new_grid()
            began = time.monotonic()
            samples: dict[str, list[tuple[float, int]]] = {name: [] for name in pids}

            def sample() -> None:
                minute = (time.monotonic() - began) / 60
                for name, pid in pids.items():
                    samples[name].append((minute, rss_bytes(pid)))
                line = ", ".join(f"{n} {s[-1][1] / MiB:.0f}" for n, s in samples.items())
                print(f"  {minute:5.1f} min: RSS MiB {line}; {load.commands:,} commands, "
                      f"{load.reads:,} reads, {load.updates:,} updates, {load.failures} failed",
                      flush=True)  # fmt: skip

            sample()
            await load.run(options.minutes * 60, options.sample_seconds, sample)
            sample()
            await load.close()
            minutes = (time.monotonic() - began) / 60
            print(f"soak: {minutes:.1f} min at {options.rate:g} commands/s and reads/s, "
                  f"{len(load.grids)} grids, {load.commands / minutes:,.0f} commands/min, "
                  f"{load.failures} failures", flush=True)  # fmt: skip
            for name, points in samples.items():
                first, last, flat = levels_off(points)
                verdict = "levels off" if flat else "STILL GROWING"
                print(f"  {name:12} RSS {points[0][1] / MiB:6.1f} -> {points[-1][1] / MiB:6.1f} "
                      f"MiB; growth first third {first:+.2f} MiB/min, last third {last:+.2f} "
                      f"MiB/min: {verdict}", flush=True)  # fmt: skip
        finally:
            with contextlib.suppress(Exception):
                system.stop()


async def main() -> None:
    await _soak(_options(sys.argv[1:]))
