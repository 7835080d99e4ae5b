"""Reading never-ending async iterators in tests: until a condition, with a hang guard.

The guard is generous and only stops a broken test from hanging; no test asserts on time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

__all__ = ["GUARD_SECONDS", "read_until"]

T = TypeVar("T")

GUARD_SECONDS = 30.0


async def read_until(
    items: AsyncIterator[T], done: Callable[[list[T]], bool], *, guard: float = GUARD_SECONDS
) -> list[T]:
    """Items read from ``items`` until ``done(read so far)`` holds (at least one is read)."""
    read: list[T] = []
    async with asyncio.timeout(guard):
        async for item in items:
            read.append(item)
            if done(read):
                return read
    raise AssertionError(f"the iterator ended after {len(read)} items")
