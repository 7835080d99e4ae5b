"""The hub and WatchGrid with in-memory fakes: fan-out, bounded queues, the gapless handover."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import pytest

from domain import replay
from domain.errors import GridNotFoundError
from domain.fast_fold import GridFold
from domain.values import GridId
from services.broadcaster.adapters.memory import InMemoryIntegrationLog
from services.broadcaster.adapters.wire import StoredIntegrationEvent
from services.broadcaster.application.hub import Hub, HubClosedError
from services.broadcaster.application.ports import FeedEvent, StoreUnavailableError
from services.broadcaster.application.subscription import EndReason, SubscriptionEndedError
from services.broadcaster.application.watch import (
    FellBehind,
    FromVersionInvalidError,
    Heartbeat,
    Snapshot,
)
from services.common.parked import BROADCASTER
from tests.unit.broadcaster.rig import Rig, next_update, sequences
from tests.unit.broadcaster.scripts import GridScript


async def test_publish_reaches_only_the_grids_watchers_and_encodes_once() -> None:
    async with Rig() as rig:
        a, b = GridScript("a"), GridScript("b")
        subs_a = [rig.hub.subscribe(a.grid_id) for _ in range(5)]
        sub_b = rig.hub.subscribe(b.grid_id)
        rig.append(a, 3)
        await rig.settle()
        assert rig.encoded == a.version
        for sub in subs_a:
            assert [p.sequence for p in sub.pending()] == list(range(1, a.version + 1))
        assert len(sub_b) == 0


async def test_overflow_ends_only_the_slow_subscription_and_frees_its_queue() -> None:
    async with Rig(queue_size=3) as rig:
        script = GridScript("g")
        slow = rig.hub.subscribe(script.grid_id)
        fast = rig.hub.subscribe(script.grid_id)
        rig.append(script)  # GridCreated
        rig.append(script, 2)  # two rovers land
        await rig.settle()
        assert await fast.get() is not None
        rig.append(script)
        await rig.settle()
        assert slow.ended is EndReason.OVERFLOW
        assert len(slow) == 0
        assert rig.hub.watcher_count == 1
        assert rig.hub.dropped == 1
        assert fast.ended is None
        assert len(fast) == 3
        with pytest.raises(SubscriptionEndedError):
            await slow.get()


async def test_snapshot_then_live_changes_in_order() -> None:
    async with Rig() as rig:
        script = GridScript("g")
        rig.append(script, 5)
        await rig.settle()
        watch = rig.watch.watch(script.grid_id, None)
        first = await anext(watch)
        assert isinstance(first, Snapshot)
        assert first.sequence == script.version
        assert first.snapshot.state == replay(e.event for e in script.history)
        start = script.version
        rig.append(script, 10)
        assert await sequences(watch, script.version) == list(range(start + 1, script.version + 1))
        await watch.aclose()
        assert rig.hub.watcher_count == 0


async def test_cached_snapshot_matches_the_store() -> None:
    async with Rig() as rig:
        script = GridScript("g")
        rig.append(script, 4)
        await rig.settle()
        first = rig.watch.watch(script.grid_id, None)
        await anext(first)  # loads the cache
        rig.append(script, 20)
        await rig.settle()
        second = rig.watch.watch(script.grid_id, None)
        snap = await anext(second)
        assert isinstance(snap, Snapshot)
        assert snap.sequence == script.version
        assert snap.snapshot.state == replay(e.event for e in script.history)
        await first.aclose()
        await second.aclose()


async def test_handover_while_the_feed_lags_the_store_is_exact() -> None:
    async with Rig(queue_size=1024) as rig:
        script = GridScript("g")
        batches = [script.next() for _ in range(70)]
        for batch in batches[:30]:  # stored; not yet delivered by the feed
            for envelope in batch:
                rig.log.append(envelope)
        watch = rig.watch.watch(script.grid_id, 7)

        async def writer() -> None:
            for batch in batches[30:]:
                for envelope in batch:
                    rig.log.append(envelope)
                await asyncio.sleep(0)

        task = asyncio.create_task(writer())
        got = await sequences(watch, script.version)
        await task
        assert got == list(range(8, script.version + 1))
        await watch.aclose()


async def test_from_version_zero_replays_everything_and_equal_to_version_sends_nothing() -> None:
    async with Rig(heartbeat=0.01) as rig:
        script = GridScript("g")
        rig.append(script, 3)
        await rig.settle()
        watch = rig.watch.watch(script.grid_id, 0)
        assert await sequences(watch, script.version) == list(range(1, script.version + 1))
        await watch.aclose()
        idle = rig.watch.watch(script.grid_id, script.version)
        beat = await anext(idle)
        assert beat == Heartbeat(script.version)
        await idle.aclose()


async def test_unknown_grid_and_bad_from_versions() -> None:
    async with Rig() as rig:
        script = GridScript("g")
        rig.append(script, 2)
        with pytest.raises(GridNotFoundError):
            await anext(rig.watch.watch(GridId("nope"), None))
        with pytest.raises(GridNotFoundError):
            await anext(rig.watch.watch(GridId("nope"), 0))
        with pytest.raises(FromVersionInvalidError):
            await anext(rig.watch.watch(script.grid_id, -1))
        with pytest.raises(FromVersionInvalidError):
            await anext(rig.watch.watch(script.grid_id, script.version + 1))
        assert rig.hub.watcher_count == 0


async def test_a_watcher_that_falls_behind_gets_fell_behind_with_its_last_sequence() -> None:
    async with Rig(queue_size=4) as rig:
        script = GridScript("g")
        rig.append(script)
        await rig.settle()
        watch = rig.watch.watch(script.grid_id, 0)
        assert await sequences(watch, 1) == [1]
        rig.append(script, 10)  # more than 4 events while the watcher does not read
        await rig.settle()
        last = await anext(watch)
        assert last == FellBehind(1, last.reason) if isinstance(last, FellBehind) else False
        with pytest.raises(StopAsyncIteration):
            await anext(watch)
        assert rig.hub.watcher_count == 0


async def test_close_ends_every_watch_with_hub_closed() -> None:
    async with Rig() as rig:
        script = GridScript("g")
        rig.append(script)
        await rig.settle()
        watch = rig.watch.watch(script.grid_id, 0)
        await anext(watch)
        pending = asyncio.create_task(next_update(watch))
        await asyncio.sleep(0)
        rig.hub.close()
        with pytest.raises(HubClosedError):
            await pending
        with pytest.raises(HubClosedError):
            await anext(rig.watch.watch(script.grid_id, 0))


async def test_a_cancelled_watch_unsubscribes_at_once() -> None:
    async with Rig() as rig:
        script = GridScript("g")
        rig.append(script)
        await rig.settle()
        watch = rig.watch.watch(script.grid_id, None)
        await anext(watch)
        task = asyncio.create_task(next_update(watch))
        await asyncio.sleep(0)
        assert rig.hub.watcher_count == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await watch.aclose()
        assert rig.hub.watcher_count == 0


def test_the_hub_reports_each_change_of_the_feeds_connection_once() -> None:
    hub: Hub[bytes] = Hub(lambda e: b"", queue_size=4)
    seen: list[bool] = []
    hub.on_connected(seen.append)
    assert not hub.connected
    hub.set_down()  # already down: nothing to report
    hub.set_live()
    hub.set_live()
    hub.set_down()
    hub.set_down()
    hub.set_live()
    assert seen == [True, False, True]
    assert hub.connected


async def test_a_watch_on_a_hub_that_is_not_live_is_refused_within_a_heartbeat() -> None:
    rig = Rig(heartbeat=0.05)  # its feed is never started: the hub never becomes live
    with pytest.raises(StoreUnavailableError, match="not following the event store"):
        async with asyncio.timeout(10):  # a hang guard: without the refusal it waits forever
            await anext(rig.watch.watch(GridId("a"), None))


async def test_an_event_the_cache_cannot_fold_is_parked_and_the_feed_goes_on() -> None:
    async with Rig() as rig:
        g, h = GridScript("g"), GridScript("h")
        rig.append(g, 2)  # the grid and its first rover
        await rig.settle()
        fold = GridFold.start(g.history[0].event)
        for envelope in g.history[1:]:
            fold.apply(envelope.event)
        rig.hub.cache.install(g.grid_id, fold, g.version)
        landed = g.history[-1]  # the same rover landing again: the fold refuses it
        g.version += 1
        rig.log.append(dataclasses.replace(landed, event_id=uuid.uuid4(), sequence=g.version))
        rig.append(h, 2)
        await rig.settle()
        assert rig.hub.cache.snapshot(g.grid_id) is None  # dropped: the next reader reloads
        for _ in range(1_000):  # parking runs beside the feed
            if await rig.hub.count_parked():
                break
            await asyncio.sleep(0)
        [record] = await rig.hub.parked.unresolved(BROADCASTER)
        assert record.event.grid_id == "g"
        assert record.event.sequence == g.version
        assert "cannot fold" in record.event.reason
        assert rig.hub.parked_count == 1
        assert rig.hub.published == g.version + h.version


async def test_an_event_that_cannot_be_encoded_is_parked_and_its_watchers_see_a_gap() -> None:
    script = GridScript("g")
    events = [StoredIntegrationEvent.of(e) for e in script.next() + script.next()]

    def encode(event: FeedEvent) -> int:
        if event.sequence == 1:
            raise ValueError("an enum value this release does not know")
        return event.sequence

    hub: Hub[int] = Hub(encode, queue_size=8)
    watcher = hub.subscribe(script.grid_id)
    feed = InMemoryIntegrationLog()
    pump = asyncio.create_task(hub.pump(feed))
    await hub.wait_live()
    for envelope in script.history:
        feed.append(envelope)
    for _ in range(1_000):
        if await hub.count_parked():
            break
        await asyncio.sleep(0)
    pump.cancel()
    await asyncio.gather(pump, return_exceptions=True)
    assert [p.sequence for p in watcher.pending()] == [e.sequence for e in events[1:]]
    [record] = await hub.parked.unresolved(BROADCASTER)
    assert record.event.sequence == 1
    assert "cannot be sent to watchers" in record.event.reason
