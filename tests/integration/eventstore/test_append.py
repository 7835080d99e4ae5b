"""Appends: expected versions, ESDB's idempotent re-append, atomicity and append errors."""

from __future__ import annotations

import asyncio

import pytest
from esdbclient import AsyncEventStoreDBClient, EventStoreDBClient, NewEvent, StreamState
from esdbclient.exceptions import (
    FailedPrecondition,
    MaximumAppendSizeExceededError,
    StreamIsDeleted,
    WrongCurrentVersion,
)

from tests.integration.eventstore.helpers import events, types_of

pytestmark = pytest.mark.slow


def test_no_stream_creates_then_refuses(client: EventStoreDBClient, stream_name: str) -> None:
    first = client.append_event(
        stream_name, current_version=StreamState.NO_STREAM, event=events("A")[0]
    )
    assert first > 0
    with pytest.raises(WrongCurrentVersion, match="Stream position of last event is 0"):
        client.append_event(
            stream_name, current_version=StreamState.NO_STREAM, event=events("B")[0]
        )


def test_exact_version_on_missing_stream(client: EventStoreDBClient, stream_name: str) -> None:
    with pytest.raises(WrongCurrentVersion, match="does not exist"):
        client.append_event(stream_name, current_version=1, event=events("A")[0])


def test_exists_any_and_exact(client: EventStoreDBClient, stream_name: str) -> None:
    with pytest.raises(WrongCurrentVersion):
        client.append_to_stream(stream_name, current_version=StreamState.EXISTS, events=events("A"))
    p1 = client.append_to_stream(stream_name, current_version=StreamState.ANY, events=events("A"))
    p2 = client.append_to_stream(
        stream_name, current_version=StreamState.EXISTS, events=events("B")
    )
    p3 = client.append_to_stream(stream_name, current_version=1, events=events("C", "D"))
    assert 0 < p1 < p2 < p3
    with pytest.raises(WrongCurrentVersion):
        client.append_to_stream(stream_name, current_version=1, events=events("E"))
    with pytest.raises(WrongCurrentVersion):
        client.append_to_stream(stream_name, current_version=9, events=events("E"))
    assert types_of(client.get_stream(stream_name)) == ["A", "B", "C", "D"]
    assert client.get_current_version(stream_name) == 3


def test_positions_are_positive_and_strictly_increasing(
    client: EventStoreDBClient, stream_name: str
) -> None:
    last = client.append_to_stream(stream_name, current_version=StreamState.ANY, events=events("A"))
    positions = [e.commit_position for e in client.get_stream(stream_name)]
    for _ in range(3):
        last_before = last
        last = client.append_to_stream(
            stream_name, current_version=StreamState.ANY, events=events("X", "Y", "Z")
        )
        assert last > last_before
    positions = [e.commit_position for e in client.get_stream(stream_name)]
    assert all(p is not None and p > 0 for p in positions)
    assert positions == sorted(set(positions))  # type: ignore[type-var]
    assert positions[-1] == last


def test_idempotent_reappend_by_position(client: EventStoreDBClient, stream_name: str) -> None:
    e1, e2, e3, e4 = events("E1", "E2", "E3", "E4")
    client.append_to_stream(stream_name, current_version=StreamState.NO_STREAM, events=[e1, e2, e3])
    recorded = client.get_stream(stream_name)
    pos = {e.id: e.commit_position for e in recorded}
    assert (
        client.append_to_stream(stream_name, current_version=StreamState.NO_STREAM, events=[e1])
        == pos[e1.id]
    )
    assert (
        client.append_to_stream(stream_name, current_version=StreamState.NO_STREAM, events=[e1, e2])
        == pos[e2.id]
    )
    assert client.append_to_stream(stream_name, current_version=0, events=[e2, e3]) == pos[e3.id]
    with pytest.raises(WrongCurrentVersion):
        client.append_to_stream(stream_name, current_version=0, events=[e2, e3, e4])
    assert types_of(client.get_stream(stream_name)) == ["E1", "E2", "E3"]


def test_idempotent_reappend_with_any(client: EventStoreDBClient, stream_name: str) -> None:
    batch = events("A", "B")
    first = client.append_to_stream(stream_name, current_version=StreamState.ANY, events=batch)
    again = client.append_to_stream(stream_name, current_version=StreamState.ANY, events=batch)
    assert again == first
    single = events("C")[0]
    p = client.append_event(stream_name, current_version=StreamState.ANY, event=single)
    assert client.append_event(stream_name, current_version=StreamState.ANY, event=single) == p
    assert types_of(client.get_stream(stream_name)) == ["A", "B", "C"]


def test_same_event_id_in_two_streams(client: EventStoreDBClient, stream_name: str) -> None:
    shared = events("Shared")
    client.append_to_stream(
        stream_name + "-a", current_version=StreamState.NO_STREAM, events=shared
    )
    client.append_to_stream(
        stream_name + "-b", current_version=StreamState.NO_STREAM, events=shared
    )
    assert client.get_stream(stream_name + "-b")[0].id == shared[0].id


def test_event_fields_round_trip(client: EventStoreDBClient, stream_name: str) -> None:
    binary = NewEvent(
        type="Bin", data=b"\x00\x01", metadata=b"meta", content_type="application/octet-stream"
    )
    client.append_to_stream(stream_name, current_version=StreamState.NO_STREAM, events=[binary])
    (recorded,) = client.get_stream(stream_name)
    assert recorded.id == binary.id
    assert (recorded.type, recorded.data, recorded.metadata) == ("Bin", b"\x00\x01", b"meta")
    assert recorded.content_type == "application/octet-stream"
    assert recorded.stream_name == stream_name
    assert recorded.stream_position == 0
    assert recorded.recorded_at is not None


def test_system_streams_accept_events(client: EventStoreDBClient, stream_name: str) -> None:
    name = "$" + stream_name
    client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=events("$sys"))
    assert types_of(client.get_stream(name)) == ["$sys"]


def test_too_big_append_is_refused_atomically(client: EventStoreDBClient, stream_name: str) -> None:
    big = [NewEvent(type="Big", data=b"x" * 600_000) for _ in range(2)]
    with pytest.raises(MaximumAppendSizeExceededError):
        client.append_to_stream(stream_name, current_version=StreamState.ANY, events=big)
    assert client.get_current_version(stream_name) is StreamState.NO_STREAM


def test_append_to_tombstoned_stream(client: EventStoreDBClient, stream_name: str) -> None:
    client.append_to_stream(stream_name, current_version=StreamState.NO_STREAM, events=events("A"))
    client.tombstone_stream(stream_name, current_version=StreamState.ANY)
    with pytest.raises(StreamIsDeleted):
        client.append_to_stream(
            stream_name, current_version=StreamState.ANY, events=events("B", "C")
        )
    with pytest.raises(FailedPrecondition, match="is deleted"):  # single event: Append RPC
        client.append_event(stream_name, current_version=StreamState.ANY, event=events("B")[0])


async def test_async_append_expected_versions(
    async_client: AsyncEventStoreDBClient, stream_name: str
) -> None:
    p1 = await async_client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=events("A")
    )
    with pytest.raises(WrongCurrentVersion):
        await async_client.append_to_stream(
            stream_name, current_version=StreamState.NO_STREAM, events=events("B")
        )
    p2 = await async_client.append_to_stream(stream_name, current_version=0, events=events("B"))
    assert 0 < p1 < p2
    recorded = await async_client.get_stream(stream_name)
    assert types_of(recorded) == ["A", "B"]


async def test_concurrent_appends_are_atomic_and_ordered(
    async_client: AsyncEventStoreDBClient, stream_name: str
) -> None:
    async def writer(index: int) -> int:
        batch = events(*(f"W{index}-{n}" for n in range(5)))
        return await async_client.append_to_stream(
            f"{stream_name}-{index % 4}", current_version=StreamState.ANY, events=batch
        )

    positions = await asyncio.gather(*(writer(i) for i in range(40)))
    assert len(set(positions)) == 40
    for shard in range(4):
        recorded = await async_client.get_stream(f"{stream_name}-{shard}")
        assert [e.stream_position for e in recorded] == list(range(50))
        writers = [e.type.split("-")[0] for e in recorded]
        # Each append's five events are contiguous: nothing interleaves inside an append.
        assert all(len(set(writers[i : i + 5])) == 1 for i in range(0, 50, 5))
