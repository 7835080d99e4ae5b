"""raise_if_cancelling restores a cancellation that a library swallowed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from services.common.cancellation import raise_if_cancelling


async def _swallowing_stream(started: asyncio.Event) -> AsyncIterator[int]:
    """Behaves like esdbclient: a cancellation ends the iteration quietly."""
    started.set()
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        return
    yield 1  # pragma: no cover


async def _consume(started: asyncio.Event, *, check: bool) -> str:
    async for _ in _swallowing_stream(started):
        pass
    if check:
        raise_if_cancelling()
    return "the stream ended"


async def test_without_the_check_a_cancelled_consumer_carries_on() -> None:
    started = asyncio.Event()
    task = asyncio.create_task(_consume(started, check=False))
    await started.wait()
    task.cancel()
    assert await task == "the stream ended"  # the bug the helper exists for


async def test_with_the_check_the_cancellation_is_raised() -> None:
    started = asyncio.Event()
    task = asyncio.create_task(_consume(started, check=True))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_no_cancellation_no_raise() -> None:
    raise_if_cancelling()
