"""The per-client counts of services/common/client_slots.py: order, hand-over, cancellation."""

from __future__ import annotations

import asyncio

import pytest

from services.common.client_slots import InFlight, Watchers


def test_watchers_are_capped_per_client_and_forgotten_when_none_is_open() -> None:
    watchers = Watchers(2)
    assert [watchers.acquire("a") for _ in range(3)] == [True, True, False]
    assert watchers.acquire("b")
    watchers.release("a")
    assert watchers.acquire("a")
    for client in ("a", "a", "b"):
        watchers.release(client)
    assert len(watchers) == 0


async def test_calls_beyond_the_limit_wait_in_order_and_the_queue_is_bounded() -> None:
    slots = InFlight(1, 2)
    assert await slots.acquire("a")
    order: list[str] = []

    async def call(name: str) -> None:
        assert await slots.acquire("a")
        order.append(name)
        slots.release("a")

    second, third = asyncio.create_task(call("second")), asyncio.create_task(call("third"))
    await asyncio.sleep(0)
    assert slots.waiting("a") == 2
    assert not await slots.acquire("a")  # the queue holds 2
    assert await slots.acquire("b")  # another client is not behind a's calls
    slots.release("a")
    await asyncio.gather(second, third)
    assert order == ["second", "third"]
    slots.release("b")
    assert len(slots) == 0
    assert slots.waiting("a") == 0


async def test_a_cancelled_waiter_leaves_the_queue_and_a_handed_slot_passes_on() -> None:
    slots = InFlight(1, 5)
    assert await slots.acquire("a")
    gone = asyncio.create_task(slots.acquire("a"))
    handed = asyncio.create_task(slots.acquire("a"))
    last = asyncio.create_task(slots.acquire("a"))
    await asyncio.sleep(0)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert slots.waiting("a") == 2
    slots.release("a")  # hands the slot to ``handed`` ...
    handed.cancel()  # ... which is cancelled before it runs: the slot goes on to ``last``
    with pytest.raises(asyncio.CancelledError):
        await handed
    assert await last
    slots.release("a")
    assert len(slots) == 0
