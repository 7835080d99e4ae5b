"""One measurement: a fresh watchers process, one production run, what every party spent.

Latency = append acknowledged (or, for the bare fan-out, message queued) -> watcher received
(CLOCK_MONOTONIC is system-wide). CPU is read from /proc for the server, the watchers'
process and the processes that feed the server (the store and the appender), from the start
of production until the watchers have everything (their teardown is not counted), so that a
run shows where the machine's cores went.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench.broadcaster.parties import WATCHERS, Acked, watchers_process

__all__ = [
    "Result",
    "Target",
    "context_switches",
    "cpu_seconds",
    "machine_busy",
    "measure",
    "median_cpu",
]


@dataclass
class Target:
    """A server to watch, the process that produces its events and who else works for it."""

    name: str
    address: str
    method: str
    grids: list[str]
    producer: Connection
    pid: int  # the server's process
    feeders: dict[str, int] = field(default_factory=dict)  # e.g. the store, the appender
    versions: list[int] = field(default_factory=list)  # every grid's version after the last run
    connections: int = 0  # the watchers' own connections (0: 10 channels sharing one)

    async def produce(self, kind: str, count: int) -> Acked:
        """Have the producer publish ``count`` events; when each was acknowledged."""
        loop = asyncio.get_running_loop()
        self.producer.send((kind, count))
        outcome: tuple[Acked, list[int]] = await loop.run_in_executor(None, self.producer.recv)
        acked, self.versions = outcome
        return acked


@dataclass
class Result:
    """What one run delivered, how fast, and the CPU seconds each party used meanwhile."""

    name: str
    events: int
    deliveries: int
    seconds: float
    latencies: list[float]
    lost: int
    duplicated: int
    cpu: dict[str, float]  # "server", "watchers" and the target's feeders
    switches: int  # context switches of the server's threads

    @property
    def rate(self) -> float:
        """Deliveries per second, from the start of production to the last delivery."""
        return self.deliveries / self.seconds

    @property
    def per_cpu(self) -> float:
        """Deliveries per CPU second of the server process."""
        server = self.cpu["server"]
        return self.deliveries / server if server > 0 else 0.0

    def percentile(self, q: float) -> float:
        """The latency at quantile ``q``, in milliseconds."""
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def line(self) -> str:
        """One line of figures."""
        return (
            f"  {self.name:<34} {self.events:>6,} events {self.deliveries:>8,} deliveries "
            f"{self.rate:>9,.0f}/s  p50 {self.percentile(0.5):7.2f} ms  "
            f"p99 {self.percentile(0.99):7.2f} ms  lost {self.lost} dup {self.duplicated}  "
            "CPU-s "
            + " ".join(f"{k} {v:.2f}" for k, v in self.cpu.items())
            + f"  server switches/delivery {self.switches / max(1, self.deliveries):.2f}"
        )


def context_switches(pid: int) -> int:
    """Voluntary + involuntary context switches of all the threads of a process so far."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        total += sum(
            int(line.split()[1]) for line in status.splitlines() if "ctxt_switches" in line
        )
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """CPU seconds all the machine's cores have been busy so far, whoever's (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


async def measure(
    name: str,
    target: Target,
    kind: str,
    count: int,
    *,
    other: bool = False,
    watchers: int = WATCHERS,
    client: Callable[..., None] = watchers_process,
) -> Result:
    """Start ``watchers`` watchers (1,000) on ``target``, produce ``count`` events, collect the
    figures. ``client``: the watchers' process (``watchers_process``: gRPC streams; its
    arguments: the pipe, the target's address, method, grids, connections and the count).

    ``other``: also count, as party "other", what the rest of the machine spent meanwhile.
    """
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(
        target=client,
        args=(child, target.address, target.method, target.grids, target.connections, watchers),
        daemon=True,
    )
    process.start()
    child.close()  # the child's now: its exit ends our recv (EOFError) instead of hanging it
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, parent.recv) == "ready"
    assert process.pid is not None
    parties = {"server": target.pid, "watchers": process.pid, **target.feeders}
    before = {party: cpu_seconds(pid) for party, pid in parties.items()}
    machine = machine_busy()
    switches = context_switches(target.pid)
    started = time.monotonic()
    acked = await target.produce(kind, count)
    parent.send(dict(enumerate(target.versions)))
    assert await loop.run_in_executor(None, parent.recv) == "done"
    cpu = {party: cpu_seconds(pid) - before[party] for party, pid in parties.items()}
    if other:
        cpu["other"] = max(0.0, machine_busy() - machine - sum(cpu.values()))
    switches = context_switches(target.pid) - switches
    outcome: dict[str, Any] = await loop.run_in_executor(None, parent.recv)
    process.join(timeout=2)
    if process.is_alive():
        process.kill()
        process.join()
    deliveries = outcome["deliveries"]
    last = max(t for _, _, t in deliveries)
    latencies = [t - acked[(g, s)] for g, s, t in deliveries if (g, s) in acked]
    result = Result(
        name,
        len(acked),
        len(deliveries),
        last - started,
        latencies,
        outcome["lost"],
        outcome["duplicated"],
        cpu,
        switches,
    )
    produced = len(acked) / max(1e-9, max(acked.values()) - started)
    print(result.line() + f"  (produced at {produced:,.0f}/s)", flush=True)
    return result


def median_cpu(results: list[Result]) -> dict[str, float]:
    """The median CPU seconds of each party over ``results``."""
    return {party: statistics.median(r.cpu[party] for r in results) for party in results[0].cpu}
