"""ensure_consumer_groups against our event store through esdbclient: create, keep, update."""

from __future__ import annotations

import asyncio
import json

import pytest
from esdbclient import AsyncEventStoreDBClient, NewEvent, StreamState
from pydantic import ValidationError

from services.command.consumer_groups import (
    ConsumerGroupSettings,
    ConsumerGroupsSettings,
    ensure_consumer_groups,
    load_consumer_groups,
)
from tests.integration.interop.publishing import grid_history, publish


async def _groups_named(client: AsyncEventStoreDBClient, name: str) -> list[object]:
    return [info for info in await client.list_subscriptions() if info.group_name == name]


def test_default_is_one_group_named_downstream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROVER_CONSUMER_GROUPS", raising=False)
    assert load_consumer_groups() == (ConsumerGroupSettings(name="downstream"),)


def test_groups_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    value = [{"name": "billing", "consumer_strategy": "RoundRobin", "max_retry_count": 2}, "audit"]
    monkeypatch.setenv("ROVER_CONSUMER_GROUPS", json.dumps(value))
    billing, audit = load_consumer_groups()
    assert (billing.name, billing.consumer_strategy, billing.max_retry_count) == (
        "billing",
        "RoundRobin",
        2,
    )
    assert audit == ConsumerGroupSettings(name="audit")


@pytest.mark.parametrize(
    "value",
    [
        '["a", "a"]',
        '[{"name": "a", "consumer_strategy": "Random"}]',
        '[{"name": "a", "read_batch_size": 600}]',
        '[{"name": "a", "colour": "red"}]',
        '[{"name": ""}]',
        "not json",
    ],
)
def test_invalid_settings_are_rejected(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ROVER_CONSUMER_GROUPS", value)
    with pytest.raises((ValidationError, ValueError)):
        ConsumerGroupsSettings()


async def test_creates_a_group_on_the_integration_streams_only(
    async_client: AsyncEventStoreDBClient, unique: str
) -> None:
    group = ConsumerGroupSettings(name=f"g-{unique}")
    await ensure_consumer_groups(async_client, [group])

    info = await async_client.get_subscription_info(group.name)
    assert info.event_source == "$all"
    assert info.consumer_strategy == "DispatchToSingle"
    assert info.max_retry_count == 5
    assert info.message_timeout == pytest.approx(30.0)

    await async_client.append_to_stream(
        f"grid-{unique}",
        current_version=StreamState.NO_STREAM,
        events=[NewEvent(type="GridCreated.v1", data=b"{}")],
    )
    await publish(async_client, grid_history(f"g{unique}", moves=1))
    subscription = await async_client.read_subscription_to_all(group.name)
    seen: list[tuple[str, str]] = []
    async with asyncio.timeout(10):
        async for event in subscription:
            await subscription.ack(event)
            if event.stream_name.endswith(unique):
                seen.append((event.stream_name, event.type))
            if len(seen) == 3:
                break
    await subscription.stop()
    assert seen == [
        (f"integration-g{unique}", "rover.v1.GridCreated"),
        (f"integration-g{unique}", "rover.v1.RoverCreated"),
        (f"integration-g{unique}", "rover.v1.RoverMovedForward"),
    ]
    await async_client.delete_subscription(group.name)


async def test_is_idempotent(async_client: AsyncEventStoreDBClient, unique: str) -> None:
    group = ConsumerGroupSettings(name=f"g-{unique}", start_from="end")
    await ensure_consumer_groups(async_client, [group])
    before = await async_client.get_subscription_info(group.name)
    await ensure_consumer_groups(async_client, [group])
    await ensure_consumer_groups(async_client, [group, group])
    after = await async_client.get_subscription_info(group.name)
    assert len(await _groups_named(async_client, group.name)) == 1
    assert after.start_from == before.start_from == "C:-1/P:-1"
    await async_client.delete_subscription(group.name)


async def test_concurrent_starts_create_one_group(
    async_client: AsyncEventStoreDBClient, esdb_uri: str, unique: str
) -> None:
    group = ConsumerGroupSettings(name=f"g-{unique}")
    other = AsyncEventStoreDBClient(esdb_uri)
    await other.connect()
    try:
        await asyncio.gather(
            ensure_consumer_groups(async_client, [group]),
            ensure_consumer_groups(other, [group]),
        )
    finally:
        await other.close()
    assert len(await _groups_named(async_client, group.name)) == 1
    await async_client.delete_subscription(group.name)


async def test_changed_settings_update_the_group_in_place(
    async_client: AsyncEventStoreDBClient, unique: str
) -> None:
    name = f"g-{unique}"
    await ensure_consumer_groups(async_client, [ConsumerGroupSettings(name=name)])
    changed = ConsumerGroupSettings(
        name=name,
        consumer_strategy="RoundRobin",
        max_retry_count=2,
        message_timeout=5.5,
        max_subscriber_count=3,
        start_from="end",
    )
    await ensure_consumer_groups(async_client, [changed])

    info = await async_client.get_subscription_info(name)
    assert len(await _groups_named(async_client, name)) == 1
    assert info.consumer_strategy == "RoundRobin"
    assert info.max_retry_count == 2
    assert info.message_timeout == pytest.approx(5.5)
    assert info.max_subscriber_count == 3
    assert info.start_from == "C:-1/P:-1"
    await async_client.delete_subscription(name)
