"""A watcher's subscription: the idle clock's heartbeats, and nothing left behind on close."""

from __future__ import annotations

import asyncio
import gc
import time

from services.broadcaster.adapters.wire import StoredIntegrationEvent
from services.broadcaster.application.subscription import Published, Subscription
from tests.unit.broadcaster.rig import Rig, next_update
from tests.unit.broadcaster.scripts import GridScript


async def test_a_heartbeat_comes_only_after_a_whole_idle_interval() -> None:
    heartbeat = 0.05
    async with Rig(heartbeat=heartbeat) as rig:
        script = GridScript("g")
        subscription = rig.hub.subscribe(script.grid_id, heartbeat_seconds=heartbeat)
        loop = asyncio.get_running_loop()
        returns: list[tuple[float, float, bool]] = []  # (waited since, returned at, beat)

        async def reader() -> None:
            last = loop.time()
            while True:
                item = await subscription.get()
                now = loop.time()
                returns.append((last, now, item is None))
                last = now

        task = asyncio.create_task(reader())
        try:
            for gap in (0.01, 0.03, 0.02, 0.04, 0.15, 0.01, 0.12, 0.02):  # two long pauses
                await asyncio.sleep(gap)
                rig.append(script)
            await rig.settle()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            rig.hub.unsubscribe(subscription)
        beats = [(since, at) for since, at, beat in returns if beat]
        assert beats, "an idle stream got no heartbeat"
        assert all(at - since >= heartbeat for since, at in beats), beats


async def test_an_update_that_lands_with_a_due_heartbeat_cancels_it() -> None:
    heartbeat = 0.05
    async with Rig(heartbeat=heartbeat) as rig:
        script = GridScript("g")
        subscription = rig.hub.subscribe(script.grid_id, heartbeat_seconds=heartbeat)
        update = rig.hub.wrap(StoredIntegrationEvent.of(script.next()[0]))
        got: list[Published[int] | None] = []

        async def reader() -> None:
            while True:
                got.append(await subscription.get())

        task = asyncio.create_task(reader())
        try:
            await asyncio.sleep(0)  # the reader waits; its idle clock fires in 50 ms
            loop = asyncio.get_running_loop()
            loop.call_later(heartbeat + 0.01, subscription.offer, update)
            # Block the loop past both: the clock's tick and the offer run in the same turn,
            # before the reader resumes. The update is what the reader gets, and no heartbeat
            # follows it (one is due only after another whole idle interval).
            time.sleep(heartbeat * 2)  # noqa: ASYNC251 - blocking the loop is the point
            await asyncio.sleep(heartbeat / 2)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            rig.hub.unsubscribe(subscription)
        assert got == [update]


async def test_a_closed_watch_is_freed_at_once_idle_clock_included() -> None:
    async with Rig(heartbeat=60) as rig:
        script = GridScript("g")
        rig.append(script)
        await rig.settle()
        gc.collect()
        before = _subscriptions()  # other tests' garbage, if any
        watch = rig.watch.watch(script.grid_id, None)
        await anext(watch)
        pending = asyncio.create_task(next_update(watch))
        await asyncio.sleep(0)  # the watcher waits: its idle clock is armed for a minute
        rig.append(script)
        assert isinstance(await pending, Published)
        assert _subscriptions() == before + 1
        await watch.aclose()  # as grpc does when the call is cancelled
        del watch, pending
        gc.collect()
        assert _subscriptions() == before


def _subscriptions() -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, Subscription))
