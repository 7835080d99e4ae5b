"""Persistent subscriptions through esdbclient's asyncio client (EventStoreDB behaviour)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from esdbclient import AsyncEventStoreDBClient, NewEvent, RecordedEvent, StreamState
from esdbclient.common import AbstractAsyncPersistentSubscription
from esdbclient.exceptions import (
    EventStoreDBClientException,
    ExceptionIteratingRequests,
    NotFound,
)

from standins.eventstore.server import EventStoreServer

pytestmark = pytest.mark.slow


async def append(client: AsyncEventStoreDBClient, stream: str, count: int = 1) -> list[uuid.UUID]:
    events = [NewEvent(type="Happened", data=b"{}") for _ in range(count)]
    await client.append_events(stream, current_version=StreamState.ANY, events=events)
    return [e.id for e in events]


async def read_until(
    subscription: AbstractAsyncPersistentSubscription,
    last: uuid.UUID,
    action: str = "ack",
    nack_ids: frozenset[uuid.UUID] = frozenset(),
) -> list[RecordedEvent]:
    """Read, ack (or nack ``nack_ids`` with ``action``), and stop after ``last``."""
    received = []
    async for event in subscription:
        received.append(event)
        if event.id in nack_ids:
            await subscription.nack(event, action)  # type: ignore[arg-type]
        else:
            await subscription.ack(event)
        if event.id == last:
            await subscription.stop()
    return received


async def ack_garbage(subscription: AbstractAsyncPersistentSubscription) -> None:
    async for _ in subscription:
        await subscription.ack("a")  # type: ignore[arg-type]


async def test_all_group_retry_park_replay_update_list_delete(
    async_client: AsyncEventStoreDBClient, stream_name: str
) -> None:
    group = str(uuid.uuid4())
    with pytest.raises(NotFound):
        await async_client.get_subscription_info(group)
    await async_client.create_subscription_to_all(group, from_end=True)
    [e1] = await append(async_client, f"{stream_name}-1")
    [e2] = await append(async_client, f"{stream_name}-2")

    # A failing request iterator ends the call; what it had in flight comes back.
    subscription = await async_client.read_subscription_to_all(group)
    with pytest.raises(ExceptionIteratingRequests):
        await ack_garbage(subscription)
    subscription = await async_client.read_subscription_to_all(group)
    assert [e.id for e in await read_until(subscription, e2)] == [e1, e2]

    [e3] = await append(async_client, f"{stream_name}-3")
    [e4] = await append(async_client, f"{stream_name}-4")
    both = frozenset({e3, e4})
    subscription = await async_client.read_subscription_to_all(group)
    assert [e.id for e in await read_until(subscription, e4, "retry", both)] == [e3, e4]
    subscription = await async_client.read_subscription_to_all(group)
    parked = await read_until(subscription, e4, "park", both)
    assert [e.id for e in parked] == [e3, e4]
    assert (await async_client.get_subscription_info(group)).parked_message_count == 2

    await async_client.replay_parked_events(group)
    subscription = await async_client.read_subscription_to_all(group)
    replayed = await read_until(subscription, e4)
    assert [(e.id, e.retry_count) for e in replayed] == [(e3, 0), (e4, 0)]

    info = await async_client.get_subscription_info(group)
    assert (info.group_name, info.resolve_links, info.start_from) == (group, False, "C:-1/P:-1")
    await async_client.update_subscription_to_all(group, resolve_links=True)
    assert (await async_client.get_subscription_info(group)).resolve_links is True
    assert group in [i.group_name for i in await async_client.list_subscriptions()]

    await async_client.delete_subscription(group)
    assert group not in [i.group_name for i in await async_client.list_subscriptions()]
    with pytest.raises(NotFound):
        await async_client.read_subscription_to_all(group)
    with pytest.raises(NotFound):
        await async_client.update_subscription_to_all(group)
    with pytest.raises(NotFound):
        await async_client.replay_parked_events(group)


async def test_acked_events_are_not_redelivered_after_reconnect(
    async_client: AsyncEventStoreDBClient, stream_name: str
) -> None:
    group = str(uuid.uuid4())
    await async_client.create_subscription_to_stream(group, stream_name)
    first = await append(async_client, stream_name, 2)
    subscription = await async_client.read_subscription_to_stream(group, stream_name)
    assert [e.id for e in await read_until(subscription, first[-1])] == first
    second = await append(async_client, stream_name, 2)
    subscription = await async_client.read_subscription_to_stream(group, stream_name)
    assert [e.id for e in await read_until(subscription, second[-1])] == second


async def test_round_robin_shares_events_equally(
    async_client: AsyncEventStoreDBClient, stream_name: str
) -> None:
    group = str(uuid.uuid4())
    await async_client.create_subscription_to_stream(
        group, stream_name, consumer_strategy="RoundRobin"
    )
    consumers = [
        await async_client.read_subscription_to_stream(group, stream_name) for _ in range(2)
    ]
    counts = [0, 0]
    done = asyncio.Event()

    async def consume(index: int) -> None:
        async for event in consumers[index]:
            counts[index] += 1
            await consumers[index].ack(event)
            if sum(counts) == 10:
                done.set()

    tasks = [asyncio.create_task(consume(i)) for i in range(2)]
    await append(async_client, stream_name, 10)
    await asyncio.wait_for(done.wait(), timeout=10)
    for consumer in consumers:
        await consumer.stop()
    await asyncio.gather(*tasks)
    assert abs(counts[0] - counts[1]) <= 1


async def test_all_group_start_from_round_trips(async_client: AsyncEventStoreDBClient) -> None:
    group = str(uuid.uuid4())
    await async_client.create_subscription_to_all(group)
    assert (await async_client.get_subscription_info(group)).start_from == "C:0/P:0"
    await async_client.update_subscription_to_all(group, consumer_strategy="Pinned")
    info = await async_client.get_subscription_info(group)
    assert (info.start_from, info.consumer_strategy) == ("C:0/P:0", "Pinned")
    await async_client.update_subscription_to_all(group, from_end=True)
    assert (await async_client.get_subscription_info(group)).start_from == "C:-1/P:-1"
    position = await async_client.get_commit_position()
    await async_client.update_subscription_to_all(group, commit_position=position)
    info = await async_client.get_subscription_info(group)
    assert info.start_from == f"C:{position}/P:{position}"
    await async_client.update_subscription_to_all(group)
    info = await async_client.get_subscription_info(group)
    assert (info.start_from, info.consumer_strategy) == (f"C:{position}/P:{position}", "Pinned")
    await async_client.delete_subscription(group)


async def test_all_group_from_a_position_is_inclusive(
    async_client: AsyncEventStoreDBClient, stream_name: str
) -> None:
    group = str(uuid.uuid4())
    await append(async_client, stream_name)
    position = await async_client.append_events(
        stream_name,
        current_version=StreamState.ANY,
        events=[NewEvent(type="Happened", data=b"{}")],
    )
    [after] = await append(async_client, stream_name)
    await async_client.create_subscription_to_all(
        group, commit_position=position, filter_include=[stream_name], filter_by_stream_name=True
    )
    subscription = await async_client.read_subscription_to_all(group)
    received = await read_until(subscription, after)
    assert [e.commit_position for e in received] == [position, received[1].commit_position]
    await async_client.delete_subscription(group)


async def test_a_stopping_server_ends_its_consumers_and_keeps_its_groups(tmp_path: Path) -> None:
    db = str(tmp_path / "es.sqlite")
    server = EventStoreServer(db_path=db)
    await server.start()
    client = AsyncEventStoreDBClient(server.uri)
    await client.connect()
    try:
        await client.create_subscription_to_stream("g", "s", message_timeout=7.0)
        [event_id] = await append(client, "s")
        subscription = await client.read_subscription_to_stream("g", "s")
        assert (await anext(subscription)).id == event_id
        await server.stop()  # returns although a consumer is still connected
        with pytest.raises(EventStoreDBClientException):
            await anext(subscription)
        await subscription.stop()
    finally:
        await client.close()
    async with EventStoreServer(db_path=db) as restarted:
        client = AsyncEventStoreDBClient(restarted.uri)
        await client.connect()
        try:
            info = await client.get_subscription_info("g", "s")
            assert info.message_timeout == 7.0
        finally:
            await client.close()
