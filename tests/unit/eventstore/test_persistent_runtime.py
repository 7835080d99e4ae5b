"""The persistent-subscription runtime: push delivery, durability, administration."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from standins.eventstore.persistent.errors import (
    GroupDroppedError,
    GroupExistsError,
    GroupFailedError,
    GroupNotFoundError,
    MaxSubscribersError,
)
from standins.eventstore.persistent.messages import Delivery, NackAction
from standins.eventstore.persistent.runtime import ConsumerSession, SubscriptionRuntime
from standins.eventstore.persistent.settings import (
    ALL,
    GroupKey,
    GroupSettings,
    StartKind,
    StartPoint,
)
from tests.unit.eventstore.fake_log import FakeEventLog

KEY = GroupKey("orders", "g")
START = StartPoint(StartKind.START)


@pytest.fixture
def log() -> FakeEventLog:
    return FakeEventLog()


@pytest.fixture
async def runtime(log: FakeEventLog) -> AsyncIterator[SubscriptionRuntime]:
    # An hour-long tick: anything delivered in these tests was pushed, not polled.
    started = SubscriptionRuntime(log, None, tick_interval=3600)
    await started.start()
    yield started
    await started.stop()


async def next_item(session: ConsumerSession) -> Delivery:
    item = await asyncio.wait_for(session.queue.get(), timeout=5)
    assert isinstance(item, Delivery)
    return item


async def test_live_events_are_pushed_on_commit(
    runtime: SubscriptionRuntime, log: FakeEventLog
) -> None:
    runtime.create(KEY, GroupSettings(), START)
    session = runtime.connect(KEY, 10)
    assert session.queue.empty()
    event = log.append("orders")
    assert (await next_item(session)).message.event == event


async def test_end_is_fixed_at_creation(runtime: SubscriptionRuntime, log: FakeEventLog) -> None:
    log.append("orders")
    runtime.create(KEY, GroupSettings(), StartPoint(StartKind.END))
    log.append("other")
    after = log.append("orders")
    session = runtime.connect(KEY, 10)
    assert (await next_item(session)).message.event == after
    runtime.create(GroupKey(ALL, "g"), GroupSettings(), StartPoint(StartKind.END))
    on_all = log.append("other")
    session = runtime.connect(GroupKey(ALL, "g"), 10)
    assert (await next_item(session)).message.event == on_all


async def test_a_disconnected_consumer_hands_its_messages_to_another(
    runtime: SubscriptionRuntime, log: FakeEventLog
) -> None:
    event = log.append("orders")
    runtime.create(KEY, GroupSettings(), START)
    first = runtime.connect(KEY, 10)
    await next_item(first)
    second = runtime.connect(KEY, 10)
    runtime.disconnect(first)
    again = await next_item(second)
    assert (again.message.event, again.retry_count) == (event, 1)


async def test_administration_errors(runtime: SubscriptionRuntime) -> None:
    with pytest.raises(GroupFailedError):
        runtime.create(KEY, GroupSettings(history_buffer_size=100), START)
    with pytest.raises(GroupNotFoundError):
        runtime.connect(KEY, 1)
    runtime.create(KEY, GroupSettings(max_subscriber_count=1), START)
    with pytest.raises(GroupExistsError):
        runtime.create(KEY, GroupSettings(), START)
    with pytest.raises(GroupFailedError):
        runtime.update(KEY, GroupSettings(read_batch_size=500), START)
    runtime.connect(KEY, 1)
    with pytest.raises(MaxSubscribersError):
        runtime.connect(KEY, 1)
    assert [e.record.key for e in runtime.entries("orders")] == [KEY]
    assert runtime.entries("elsewhere") == []


async def test_update_drops_consumers_and_keeps_progress(
    runtime: SubscriptionRuntime, log: FakeEventLog
) -> None:
    first, second = log.append("orders"), log.append("orders")
    runtime.create(KEY, GroupSettings(), START)
    session = runtime.connect(KEY, 10)
    delivered = await next_item(session)
    await next_item(session)
    runtime.ack(session, [delivered.message.ack_id])
    runtime.update(KEY, GroupSettings(max_retry_count=3), StartPoint(StartKind.END))
    assert isinstance(session.queue.get_nowait(), GroupDroppedError)
    assert runtime.entry(KEY).record.start == StartPoint(StartKind.END)
    resumed = runtime.connect(KEY, 10)
    assert (await next_item(resumed)).message.event == second
    assert first != second


async def test_delete_ends_consumers_with_not_found(runtime: SubscriptionRuntime) -> None:
    runtime.create(KEY, GroupSettings(), START)
    session = runtime.connect(KEY, 10)
    runtime.delete(KEY)
    assert isinstance(session.queue.get_nowait(), GroupNotFoundError)
    with pytest.raises(GroupNotFoundError):
        runtime.entry(KEY)
    runtime.create(KEY, GroupSettings(), START)  # a fresh group of the same name


async def test_restart_subsystem_drops_consumers(runtime: SubscriptionRuntime) -> None:
    runtime.create(KEY, GroupSettings(), START)
    session = runtime.connect(KEY, 10)
    runtime.restart()
    assert isinstance(session.queue.get_nowait(), GroupDroppedError)
    assert runtime.entry(KEY).sessions == {}


async def test_groups_checkpoints_and_parked_messages_survive_a_restart(
    log: FakeEventLog, tmp_path: Path
) -> None:
    db = str(tmp_path / "es.sqlite")
    events = [log.append("orders") for _ in range(4)]
    before = SubscriptionRuntime(log, db, tick_interval=3600)
    await before.start()
    before.create(KEY, GroupSettings(message_timeout_ms=1234), START)
    session = before.connect(KEY, 10)
    for _ in events:
        await next_item(session)
    before.ack(session, [events[0].event_id, events[2].event_id])
    before.nack(session, [events[1].event_id], NackAction.PARK)
    await before.stop()

    after = SubscriptionRuntime(log, db, tick_interval=3600)
    await after.start()
    try:
        entry = after.entry(KEY)
        assert entry.record.settings.message_timeout_ms == 1234
        assert (entry.group.last_checkpoint, entry.group.parked_count) == (2, 1)
        session = after.connect(KEY, 10)
        assert (await next_item(session)).message.event == events[3]
        after.replay_parked(KEY)
        assert (await next_item(session)).message.event == events[1]
    finally:
        await after.stop()


async def test_message_timeouts_are_ticked(log: FakeEventLog) -> None:
    ticking = SubscriptionRuntime(log, None, tick_interval=0.01)
    await ticking.start()
    try:
        event = log.append("orders")
        ticking.create(KEY, GroupSettings(message_timeout_ms=10), START)
        session = ticking.connect(KEY, 1)
        assert (await next_item(session)).retry_count == 0
        again = await next_item(session)
        assert (again.message.event, again.retry_count) == (event, 1)
    finally:
        await ticking.stop()
