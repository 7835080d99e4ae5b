"""examples/consumer.py against our event store: ack, retry then park, dedupe by event_id."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from esdbclient import AsyncEventStoreDBClient, RecordedEvent

from protos.rover.v1 import events_pb2
from services.command.consumer_groups import ConsumerGroupSettings, ensure_consumer_groups
from tests.integration.interop.publishing import grid_history, publish

_PATH = Path(__file__).resolve().parents[3] / "examples" / "consumer.py"


@pytest.fixture(scope="module")
def example() -> ModuleType:
    """examples/consumer.py, imported from its path (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location("rover_example_consumer", _PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


class Recorder:
    """A handler that records (grid, sequence) and fails on chosen sequences."""

    def __init__(self, grid: str = "g", *, fail: dict[int, int] | None = None) -> None:
        self.grid = grid  # events of other grids (earlier tests) are accepted and ignored
        self.handled: list[tuple[str, int]] = []
        self.attempts: dict[int, int] = {}
        self.fail = fail or {}  # sequence -> how many attempts fail (-1: always)

    async def __call__(self, message: events_pb2.IntegrationEvent) -> None:
        if message.grid_id != self.grid:
            return
        attempt = self.attempts[message.sequence] = self.attempts.get(message.sequence, 0) + 1
        failures = self.fail.get(message.sequence, 0)
        if failures < 0 or attempt <= failures:
            raise RuntimeError(f"handler failure {attempt} on sequence {message.sequence}")
        self.handled.append((message.grid_id, message.sequence))


def _recorded(data: bytes, *, retry_count: int = 0, stream: str = "integration-g") -> RecordedEvent:
    return RecordedEvent(
        type="rover.v1.GridCreated",
        data=data,
        metadata=b"",
        content_type="application/octet-stream",
        id=uuid.uuid4(),
        stream_name=stream,
        stream_position=0,
        commit_position=0,
        prepare_position=0,
        retry_count=retry_count,
    )


async def test_decide_retries_then_parks_and_parks_poison(example: Any) -> None:
    message = events_pb2.IntegrationEvent(event_id=str(uuid.uuid4()), grid_id="g", sequence=1)
    consumer = example.Consumer(Recorder(fail={1: -1}), example.InMemoryDeduplicator(), 2)
    data = message.SerializeToString()
    assert await consumer.decide(_recorded(data, retry_count=0)) == "retried"
    assert await consumer.decide(_recorded(data, retry_count=1)) == "retried"
    assert await consumer.decide(_recorded(data, retry_count=2)) == "parked"
    assert await consumer.decide(_recorded(b"\xff\xff\xff")) == "parked"
    assert await consumer.decide(_recorded(data, stream="other-g")) == "acked"


async def test_decide_dedupes_by_event_id(example: Any) -> None:
    recorder = Recorder()
    consumer = example.Consumer(recorder, example.InMemoryDeduplicator())
    message = events_pb2.IntegrationEvent(event_id=str(uuid.uuid4()), grid_id="g", sequence=1)
    data = message.SerializeToString()
    assert await consumer.decide(_recorded(data)) == "acked"
    assert await consumer.decide(_recorded(data, retry_count=1)) == "duplicate"
    assert recorder.handled == [("g", 1)]


async def _group(client: AsyncEventStoreDBClient, unique: str, **settings: Any) -> str:
    name = f"example-{unique}"
    group = ConsumerGroupSettings(name=name, start_from="end", **settings)
    await ensure_consumer_groups(client, [group])
    return name


async def _run_until(consumer: Any, client: AsyncEventStoreDBClient, group: str, done: Any) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(client, group, stop=stop))
    try:
        async with asyncio.timeout(15):
            while not done():  # noqa: ASYNC110 - polls state the consumer task changes
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        async with asyncio.timeout(10):
            await task


async def test_acks_and_retries_a_transient_failure(
    example: Any, async_client: AsyncEventStoreDBClient, unique: str
) -> None:
    grid = f"g{unique}"
    group = await _group(async_client, unique, message_timeout=2.0)
    await publish(async_client, grid_history(grid, moves=2))
    recorder = Recorder(grid, fail={3: 1})
    consumer = example.Consumer(recorder, example.InMemoryDeduplicator(), max_retries=3)

    await _run_until(
        consumer, async_client, group, lambda: sum(g == grid for g, _ in recorder.handled) == 4
    )

    mine = [s for g, s in recorder.handled if g == grid]
    assert sorted(mine) == [1, 2, 3, 4]  # each handled once; 3 after its retry
    assert recorder.attempts[3] == 2
    assert consumer.counts["retried"] == 1
    assert consumer.counts["parked"] == 0
    await asyncio.sleep(0.5)  # acks are flushed on stop; give the server a tick
    info = await async_client.get_subscription_info(group)
    assert info.parked_message_count == 0
    assert info.outstanding_messages_count == 0
    await async_client.delete_subscription(group)


async def test_parks_after_the_retries(
    example: Any, async_client: AsyncEventStoreDBClient, unique: str
) -> None:
    grid = f"g{unique}"
    group = await _group(async_client, unique, max_retry_count=10)
    await publish(async_client, grid_history(grid, moves=1))
    recorder = Recorder(grid, fail={2: -1})
    consumer = example.Consumer(recorder, example.InMemoryDeduplicator(), max_retries=2)

    await _run_until(
        consumer,
        async_client,
        group,
        lambda: consumer.counts["parked"] == 1 and len(recorder.handled) >= 2,
    )

    assert recorder.attempts[2] == 3  # first delivery + 2 retries, then parked
    assert [s for g, s in recorder.handled if g == grid] == [1, 3]
    async with asyncio.timeout(5):
        while (await async_client.get_subscription_info(group)).parked_message_count != 1:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    await async_client.delete_subscription(group)


async def test_a_redelivery_after_a_crash_is_acked_not_reapplied(
    example: Any, async_client: AsyncEventStoreDBClient, unique: str
) -> None:
    grid = f"g{unique}"
    group = await _group(async_client, unique)
    history = grid_history(grid, moves=0)  # GridCreated, RoverCreated
    await publish(async_client, history)
    recorder = Recorder(grid)
    dedupe = example.InMemoryDeduplicator()
    consumer = example.Consumer(recorder, dedupe)

    # First run: the handler's effects happen but the process "crashes" before acking.
    subscription = await async_client.read_subscription_to_all(group)
    async with asyncio.timeout(10):
        async for event in subscription:
            await consumer.decide(event)
            if len(recorder.handled) == len(history):
                break
    await subscription.stop()  # disconnect without acks: the server redelivers both

    await _run_until(consumer, async_client, group, lambda: consumer.counts["duplicate"] == 2)
    assert recorder.handled == [(grid, 1), (grid, 2)]  # not applied twice
    assert all(dedupe.seen(str(e.event_id)) for e in history)
    await async_client.delete_subscription(group)
