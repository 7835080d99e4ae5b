"""Timing helpers of the command benchmark: closed-loop rates, percentiles, milliseconds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["ms", "percentile", "timed"]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:6.2f} ms"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def timed(
    workers: int, seconds: float, make: Callable[[int], Callable[[], Awaitable[object]]]
) -> tuple[float, list[float]]:
    """Run ``workers`` loops of their operation for ``seconds``; rate and latencies."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def loop(index: int) -> None:
        operation = make(index)
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await operation()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(loop(i) for i in range(workers)))
    return len(latencies) / (time.perf_counter() - started), latencies
