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
    workers: int,
    seconds: float,
    make: Callable[[int], Callable[[], Awaitable[object]]],
    *,
    start_at: float | None = None,
) -> tuple[float, list[float]]:
    """Run ``workers`` loops of their operation for ``seconds``; rate and latencies.

    ``start_at`` (a ``time.perf_counter()`` instant, CLOCK_MONOTONIC and so the same in every
    process on Linux) starts the loops then instead of now: several processes share a window.
    """
    latencies: list[float] = []
    operations = [make(i) for i in range(workers)]
    if start_at is not None:
        await asyncio.sleep(max(0.0, start_at - time.perf_counter()))
    deadline = time.perf_counter() + seconds

    async def loop(operation: Callable[[], Awaitable[object]]) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await operation()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(loop(o) for o in operations))
    return len(latencies) / (time.perf_counter() - started), latencies
