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


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_under_contention_a_client_runs_its_shared_number_and_all_again_alone() -> None:
    clock = _Clock()
    slots = InFlight(8, 100, shared=1, window=10.0, clock=clock)
    assert [await slots.acquire("flood") for _ in range(3)] == [True, True, True]  # alone
    assert slots.allowed("flood") == 8
    assert await slots.acquire("other")  # another client: contention from now on
    assert slots.allowed("flood") == 1
    late = asyncio.create_task(slots.acquire("flood"))
    await asyncio.sleep(0)
    assert slots.waiting("flood") == 1  # it had 3 running: it waits, although 3 < 8
    slots.release("flood")
    slots.release("flood")
    await asyncio.sleep(0)
    assert not late.done()  # 1 running: still its share
    slots.release("flood")
    assert await late  # none running: its turn
    slots.release("other")
    clock.now += 11  # the other client has not called for longer than the window
    more = [asyncio.create_task(slots.acquire("flood")) for _ in range(3)]
    await asyncio.sleep(0)
    assert all(task.done() for task in more)  # alone again: up to 8 at once
    assert slots.allowed("flood") == 8


async def test_when_contention_ends_a_release_lets_in_every_call_the_client_may_run() -> None:
    clock = _Clock()
    slots = InFlight(4, 100, shared=1, window=10.0, clock=clock)
    assert await slots.acquire("other")
    slots.release("other")
    assert await slots.acquire("flood")
    queued = [asyncio.create_task(slots.acquire("flood")) for _ in range(4)]
    await asyncio.sleep(0)
    assert slots.waiting("flood") == 4
    clock.now += 11
    slots.release("flood")  # alone now: 4 may run, so 4 are let in at once
    await asyncio.sleep(0)
    assert all(task.done() for task in queued)
    assert slots.waiting("flood") == 0


async def test_clients_the_shared_limit_does_not_apply_to_keep_their_full_limit() -> None:
    slots = InFlight(3, 10, shared=1, shares=lambda client: client.startswith("token:"))
    assert await slots.acquire("token:a")
    assert [await slots.acquire("peer:ipv4:10.0.0.1") for _ in range(3)] == [True] * 3
    assert slots.allowed("token:a") == 1
    assert slots.allowed("peer:ipv4:10.0.0.1") == 3


async def test_a_cancelled_waiter_under_contention_neither_runs_nor_blocks_the_next() -> None:
    slots = InFlight(4, 10, shared=1)
    assert await slots.acquire("b")
    assert await slots.acquire("a")
    gone = asyncio.create_task(slots.acquire("a"))
    nxt = asyncio.create_task(slots.acquire("a"))
    await asyncio.sleep(0)
    gone.cancel()
    slots.release("a")  # the cancelled one is skipped, the next is let in
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert await nxt
    slots.release("a")
    slots.release("b")
    assert len(slots) == 0
    assert slots.waiting("a") == 0
