"""Alternating pairs: a contender and its baseline measured turn about, so drift hits both."""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

__all__ = ["alternate", "median_ratio"]

T = TypeVar("T")


async def alternate(
    pairs: int, contender: Callable[[], Awaitable[T]], baseline: Callable[[], Awaitable[T]]
) -> list[tuple[T, T]]:
    """``pairs`` (contender, baseline) results; the contender goes first in even pairs."""
    results: list[tuple[T, T]] = []
    for pair in range(pairs):
        if pair % 2 == 0:
            mine = await contender()
            base = await baseline()
        else:
            base = await baseline()
            mine = await contender()
        results.append((mine, base))
    return results


def median_ratio(pairs: Sequence[tuple[T, T]], rate: Callable[[T], float]) -> float:
    """The median over the pairs of contender rate / baseline rate."""
    return statistics.median(rate(mine) / rate(base) for mine, base in pairs)
