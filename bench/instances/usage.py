"""Where the load went (Linux /proc): CPU seconds of labelled processes, and the connections
each instance holds on the port it shares with the others."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from bench.broadcaster.measure import cpu_seconds

__all__ = ["OTHER", "Spread", "cpu_of", "established", "group", "settle", "spent"]

_ESTABLISHED = "01"  # the st column of /proc/net/tcp
OTHER = "other"
"""The label of CPU time the machine spent outside the labelled processes (others' work)."""


def cpu_of(processes: Mapping[str, int]) -> dict[str, float]:
    """label -> user + system CPU seconds of that process so far."""
    return {label: cpu_seconds(pid) for label, pid in processes.items()}


def spent(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """label -> CPU seconds between two :func:`cpu_of` readings."""
    return {label: after[label] - before[label] for label in before}


async def settle(
    processes: Mapping[str, int], *, idle_cores: float = 0.15, longest: float = 120.0
) -> float:
    """Wait until ``processes`` together stay under ``idle_cores`` for two 0.2 s readings in
    a row (work left from the last window is done: the publisher, projector and broadcasters
    catch up after the clients stop); the seconds it took, 0 when already idle."""
    started = time.perf_counter()
    quiet = 0
    while quiet < 2 and time.perf_counter() - started < longest:
        before = cpu_of(processes)
        await asyncio.sleep(0.2)
        quiet = quiet + 1 if sum(spent(before, cpu_of(processes)).values()) < idle_cores / 5 else 0
    waited = time.perf_counter() - started
    return max(0.0, waited - 0.4)


def group(label: str) -> str:
    """The party of a process: ``command-2`` -> ``command``, ``clients-1`` -> ``clients``."""
    name, _, index = label.rpartition("-")
    return name if name and index.isdigit() else label


def _sockets(pid: int) -> set[int]:
    inodes = set()
    with contextlib.suppress(OSError):  # the process ended
        for fd in os.scandir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(fd.path)
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    return inodes


def established(port: int, processes: Mapping[str, int]) -> dict[str, int]:
    """label -> TCP connections that process has accepted on ``port`` and still holds."""
    owner = {inode: label for label, pid in processes.items() for inode in _sockets(pid)}
    counts = dict.fromkeys(processes, 0)
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], int(fields[9])
                if state == _ESTABLISHED and int(local.rsplit(":", 1)[1], 16) == port:
                    label = owner.get(inode)
                    if label is not None:
                        counts[label] += 1
    return counts


class Spread:
    """The most connections each instance held on ``port`` while open (sampled every 0.1 s)."""

    def __init__(self, port: int, instances: Mapping[str, int]) -> None:
        self.port = port
        self.instances = dict(instances)
        self.peak = dict.fromkeys(instances, 0)
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> None:
        """Take one reading now."""
        for label, count in established(self.port, self.instances).items():
            self.peak[label] = max(self.peak[label], count)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            self.sample()

    async def __aenter__(self) -> Spread:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
