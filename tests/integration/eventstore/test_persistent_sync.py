"""Persistent subscriptions through esdbclient's synchronous client (EventStoreDB behaviour)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from esdbclient import EventStoreDBClient, NewEvent, RecordedEvent, StreamState
from esdbclient.common import AbstractPersistentSubscription
from esdbclient.exceptions import (
    AlreadyExists,
    GrpcError,
    InternalError,
    MaximumSubscriptionsReached,
    NotFound,
)

pytestmark = pytest.mark.slow


def append(client: EventStoreDBClient, stream: str, count: int) -> list[uuid.UUID]:
    events = [NewEvent(type="Happened", data=b"{}") for _ in range(count)]
    client.append_events(stream, current_version=StreamState.ANY, events=events)
    return [e.id for e in events]


def take(subscription: AbstractPersistentSubscription, count: int) -> list[RecordedEvent]:
    received = []
    for event in subscription:
        received.append(event)
        if len(received) == count:
            break
    return received


@pytest.fixture
def group() -> str:
    return f"group-{uuid.uuid4().hex}"


@pytest.fixture
def reading(client: EventStoreDBClient) -> Iterator[list[AbstractPersistentSubscription]]:
    """Subscriptions to stop after the test."""
    opened: list[AbstractPersistentSubscription] = []
    yield opened
    for subscription in opened:
        subscription.stop()


def test_settings_round_trip_and_start_from(
    client: EventStoreDBClient, stream_name: str, group: str
) -> None:
    client.create_subscription_to_stream(group, stream_name)
    info = client.get_subscription_info(group, stream_name)
    assert (info.event_source, info.group_name, info.start_from) == (stream_name, group, "0")
    assert (info.consumer_strategy, info.message_timeout, info.max_retry_count) == (
        "DispatchToSingle",
        30.0,
        10,
    )
    buffers = (info.history_buffer_size, info.read_batch_size, info.live_buffer_size)
    assert buffers == (500, 200, 500)
    changes: dict[str, Any] = {
        "resolve_links": True,
        "consumer_strategy": "RoundRobin",
        "message_timeout": 15.0,
        "max_retry_count": 5,
        "min_checkpoint_count": 7,
        "max_checkpoint_count": 12,
        "checkpoint_after": 1.0,
        "max_subscriber_count": 10,
        "live_buffer_size": 300,
        "read_batch_size": 250,
        "history_buffer_size": 400,
        "extra_statistics": True,
    }
    for name, value in changes.items():
        client.update_subscription_to_stream(group, stream_name, **{name: value})
        info = client.get_subscription_info(group, stream_name)
        assert getattr(info, name) == value, name
        assert info.start_from == "0"
    client.update_subscription_to_stream(group, stream_name, from_end=True)
    assert client.get_subscription_info(group, stream_name).start_from == "-1"
    client.update_subscription_to_stream(group, stream_name)
    assert client.get_subscription_info(group, stream_name).start_from == "-1"
    client.update_subscription_to_stream(group, stream_name, stream_position=3)
    assert client.get_subscription_info(group, stream_name).start_from == "3"
    client.update_subscription_to_stream(group, stream_name, from_end=False)
    info = client.get_subscription_info(group, stream_name)
    assert (info.start_from, info.consumer_strategy) == ("0", "RoundRobin")
    assert info.history_buffer_size == 400


def test_create_twice_and_invalid_settings(
    client: EventStoreDBClient, stream_name: str, group: str
) -> None:
    with pytest.raises(InternalError):
        client.create_subscription_to_stream(group, stream_name, history_buffer_size=100)
    with pytest.raises(InternalError):
        client.create_subscription_to_all(group, history_buffer_size=100)
    client.create_subscription_to_stream(group, stream_name)
    with pytest.raises(AlreadyExists):
        client.create_subscription_to_stream(group, stream_name)
    with pytest.raises(InternalError):
        client.update_subscription_to_stream(group, stream_name, history_buffer_size=100)


def test_missing_group_is_not_found_everywhere(
    client: EventStoreDBClient, stream_name: str, group: str
) -> None:
    with pytest.raises(NotFound):
        client.get_subscription_info(group, stream_name)
    with pytest.raises(NotFound):
        client.read_subscription_to_stream(group, stream_name)
    with pytest.raises(NotFound):
        client.update_subscription_to_stream(group, stream_name)
    with pytest.raises(NotFound):
        client.replay_parked_events(group, stream_name)
    with pytest.raises(NotFound):
        client.delete_subscription(group, stream_name)
    assert client.list_subscriptions_to_stream(stream_name) == []


def test_stream_start_revision_is_inclusive(
    client: EventStoreDBClient,
    stream_name: str,
    group: str,
    reading: list[AbstractPersistentSubscription],
) -> None:
    ids = append(client, stream_name, 4)
    client.create_subscription_to_stream(group, stream_name, stream_position=2)
    reading.append(subscription := client.read_subscription_to_stream(group, stream_name))
    received = take(subscription, 2)
    assert [e.id for e in received] == ids[2:]
    assert [e.retry_count for e in received] == [0, 0]
    assert all(e.commit_position for e in received)


def test_from_end_delivers_what_is_appended_after_create(
    client: EventStoreDBClient,
    stream_name: str,
    group: str,
    reading: list[AbstractPersistentSubscription],
) -> None:
    append(client, stream_name, 2)
    client.create_subscription_to_stream(group, stream_name, from_end=True)
    later = append(client, stream_name, 2)
    reading.append(subscription := client.read_subscription_to_stream(group, stream_name))
    assert [e.id for e in take(subscription, 2)] == later
    assert client.get_subscription_info(group, stream_name).start_from == "-1"


def test_max_subscriber_count(
    client: EventStoreDBClient,
    stream_name: str,
    group: str,
    reading: list[AbstractPersistentSubscription],
) -> None:
    client.create_subscription_to_stream(group, stream_name, max_subscriber_count=2)
    reading.append(client.read_subscription_to_stream(group, stream_name))
    reading.append(client.read_subscription_to_stream(group, stream_name))
    with pytest.raises(MaximumSubscriptionsReached):
        client.read_subscription_to_stream(group, stream_name)


def test_message_timeout_with_buffer_one_redelivers_the_first_event(
    client: EventStoreDBClient,
    stream_name: str,
    group: str,
    reading: list[AbstractPersistentSubscription],
) -> None:
    ids = append(client, stream_name, 3)
    client.create_subscription_to_stream(group, stream_name, message_timeout=1.0)
    subscription = client.read_subscription_to_stream(group, stream_name, event_buffer_size=1)
    reading.append(subscription)
    received = []
    for event in subscription:
        received.append((event.id, event.retry_count))
        if len(received) > 1:
            subscription.ack(event)
        if len(received) == 4:
            break
    assert received == [(ids[0], 0), (ids[0], 1), (ids[1], 0), (ids[2], 0)]


def test_max_retry_count_parks_then_replay_brings_it_back(
    client: EventStoreDBClient,
    stream_name: str,
    group: str,
    reading: list[AbstractPersistentSubscription],
) -> None:
    ids = append(client, stream_name, 3)
    client.create_subscription_to_stream(group, stream_name, message_timeout=0.1, max_retry_count=3)
    subscription = client.read_subscription_to_stream(group, stream_name, event_buffer_size=1)
    reading.append(subscription)
    received = []
    for event in subscription:
        received.append((event.id, event.retry_count))
        if event.id != ids[0]:
            subscription.ack(event)
        if {ids[1], ids[2]} <= {i for i, _ in received}:
            break
    # e1 is tried max_retry_count + 1 times, then parked; the acks of e2 and e3 are batched by
    # the client for longer than the 0.1 s timeout, so those two may come twice.
    assert received[:5] == [(ids[0], n) for n in range(4)] + [(ids[1], 0)]
    assert ids[0] not in [i for i, _ in received[4:]]
    assert client.get_subscription_info(group, stream_name).parked_message_count == 1
    client.replay_parked_events(group, stream_name)
    [again] = take(subscription, 1)
    assert (again.id, again.retry_count) == (ids[0], 0)


def test_update_drops_connected_consumers_and_delete_ends_them_with_not_found(
    client: EventStoreDBClient, stream_name: str, group: str
) -> None:
    append(client, stream_name, 1)
    client.create_subscription_to_stream(group, stream_name)
    subscription = client.read_subscription_to_stream(group, stream_name)
    try:
        take(subscription, 1)
        client.update_subscription_to_stream(group, stream_name, max_retry_count=2)
        with pytest.raises(GrpcError):
            take(subscription, 1)
    finally:
        subscription.stop()
    subscription = client.read_subscription_to_stream(group, stream_name)
    try:
        client.delete_subscription(group, stream_name)
        with pytest.raises(NotFound):
            take(subscription, 10)  # perhaps the unacknowledged event again, then the error
    finally:
        subscription.stop()
    assert client.list_subscriptions_to_stream(stream_name) == []


def test_all_group_with_a_stream_filter_and_list(
    client: EventStoreDBClient,
    stream_name: str,
    group: str,
    reading: list[AbstractPersistentSubscription],
) -> None:
    prefix = f"only-{uuid.uuid4().hex}"
    client.create_subscription_to_all(
        group, filter_include=[f"{prefix}-.*"], filter_by_stream_name=True
    )
    append(client, stream_name, 2)
    wanted = append(client, f"{prefix}-1", 1) + append(client, f"{prefix}-2", 1)
    reading.append(subscription := client.read_subscription_to_all(group))
    assert [e.id for e in take(subscription, 2)] == wanted
    listed = [(i.event_source, i.group_name) for i in client.list_subscriptions()]
    assert ("$all", group) in listed
    info = client.get_subscription_info(group)
    assert (info.event_source, info.start_from) == ("$all", "C:0/P:0")
    subscription.stop()
    client.delete_subscription(group)
    listed = [(i.event_source, i.group_name) for i in client.list_subscriptions()]
    assert ("$all", group) not in listed
