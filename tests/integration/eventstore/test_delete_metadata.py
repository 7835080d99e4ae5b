"""Soft delete, re-creation, tombstone, and stream metadata ($tb, $maxCount, $maxAge)."""

from __future__ import annotations

import time

import pytest
from esdbclient import AsyncEventStoreDBClient, EventStoreDBClient, StreamState
from esdbclient.exceptions import NotFound, StreamIsDeleted, WrongCurrentVersion

from tests.integration.eventstore.helpers import events, types_of

pytestmark = pytest.mark.slow
MAX = 9223372036854775807


def test_delete_missing_stream_is_not_found(client: EventStoreDBClient, stream_name: str) -> None:
    for version in (StreamState.ANY, StreamState.NO_STREAM):
        with pytest.raises(NotFound):
            client.delete_stream(stream_name, current_version=version)
    with pytest.raises(NotFound):
        client.delete_stream(stream_name, current_version=StreamState.EXISTS)


def test_soft_delete_hides_the_stream(client: EventStoreDBClient, stream_name: str) -> None:
    client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=events("A", "B")
    )
    with pytest.raises(WrongCurrentVersion):
        client.delete_stream(stream_name, current_version=0)
    client.delete_stream(stream_name, current_version=1)
    with pytest.raises(NotFound):
        client.get_stream(stream_name)
    assert client.get_current_version(stream_name) is StreamState.NO_STREAM
    metadata, _ = client.get_stream_metadata(stream_name)
    assert metadata["$tb"] == MAX
    # Deleting again: ANY and the exact last revision succeed, EXISTS says "deleted".
    client.delete_stream(stream_name, current_version=StreamState.ANY)
    client.delete_stream(stream_name, current_version=1)
    with pytest.raises(StreamIsDeleted):
        client.delete_stream(stream_name, current_version=StreamState.EXISTS)
    with pytest.raises(WrongCurrentVersion):
        client.delete_stream(stream_name, current_version=5)


def test_soft_deleted_stream_is_recreated_by_an_append(
    client: EventStoreDBClient, stream_name: str
) -> None:
    client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=events("A", "B")
    )
    client.delete_stream(stream_name, current_version=StreamState.ANY)
    client.append_to_stream(stream_name, current_version=StreamState.NO_STREAM, events=events("C"))
    recorded = client.get_stream(stream_name)
    assert types_of(recorded) == ["C"]
    assert recorded[0].stream_position == 2  # revisions are never reused
    assert client.get_current_version(stream_name) == 2
    client.append_to_stream(stream_name, current_version=2, events=events("D"))
    assert types_of(client.get_stream(stream_name)) == ["C", "D"]


def test_soft_deleted_stream_recreated_with_any(
    client: EventStoreDBClient, stream_name: str
) -> None:
    client.append_to_stream(stream_name, current_version=StreamState.NO_STREAM, events=events("A"))
    client.delete_stream(stream_name, current_version=0)
    with pytest.raises(StreamIsDeleted):
        client.append_to_stream(stream_name, current_version=StreamState.EXISTS, events=events("B"))
    client.append_to_stream(stream_name, current_version=StreamState.ANY, events=events("B"))
    assert types_of(client.get_stream(stream_name)) == ["B"]


def test_soft_deleted_events_stay_in_all(client: EventStoreDBClient, stream_name: str) -> None:
    client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=events("Gone")
    )
    start = client.get_commit_position(filter_exclude=[])
    client.delete_stream(stream_name, current_version=0)
    found = [
        e.type
        for e in client.read_all(
            commit_position=0, filter_include=[stream_name], filter_by_stream_name=True
        )
    ]
    assert found == ["Gone"]
    assert start > 0


def test_tombstone(client: EventStoreDBClient, stream_name: str) -> None:
    client.append_to_stream(stream_name, current_version=StreamState.NO_STREAM, events=events("A"))
    with pytest.raises(WrongCurrentVersion):
        client.tombstone_stream(stream_name, current_version=3)
    client.tombstone_stream(stream_name, current_version=0)
    with pytest.raises(StreamIsDeleted):
        client.get_stream(stream_name)
    with pytest.raises(StreamIsDeleted):
        client.append_to_stream(
            stream_name, current_version=StreamState.ANY, events=events("B", "C")
        )
    for version in (StreamState.ANY, StreamState.EXISTS, 0):
        with pytest.raises(StreamIsDeleted):
            client.delete_stream(stream_name, current_version=version)
        with pytest.raises(StreamIsDeleted):
            client.tombstone_stream(stream_name, current_version=version)
    with pytest.raises(StreamIsDeleted):
        client.get_stream_metadata(stream_name)
    # Writing the metadata of a tombstoned stream still succeeds.
    client.set_stream_metadata(
        stream_name, metadata={"foo": "bar"}, current_version=StreamState.ANY
    )


def test_tombstone_of_unused_stream(client: EventStoreDBClient, stream_name: str) -> None:
    with pytest.raises(NotFound):
        client.tombstone_stream(stream_name, current_version=StreamState.EXISTS)
    client.tombstone_stream(stream_name, current_version=StreamState.ANY)
    with pytest.raises(StreamIsDeleted):
        client.get_stream(stream_name)
    client.tombstone_stream(stream_name + "-2", current_version=StreamState.NO_STREAM)


def test_tombstone_after_soft_delete(client: EventStoreDBClient, stream_name: str) -> None:
    client.append_to_stream(stream_name, current_version=StreamState.NO_STREAM, events=events("A"))
    client.delete_stream(stream_name, current_version=0)
    client.tombstone_stream(stream_name, current_version=StreamState.ANY)
    with pytest.raises(StreamIsDeleted):
        client.append_to_stream(
            stream_name, current_version=StreamState.NO_STREAM, events=events("B")
        )


def test_stream_metadata_round_trip(client: EventStoreDBClient, stream_name: str) -> None:
    assert client.get_stream_metadata(stream_name) == ({}, StreamState.NO_STREAM)
    client.set_stream_metadata(stream_name, metadata={"custom": [1, 2]})
    metadata, version = client.get_stream_metadata(stream_name)
    assert metadata == {"custom": [1, 2]}
    assert version == 0
    with pytest.raises(WrongCurrentVersion):
        client.set_stream_metadata(stream_name, metadata={"x": 1}, current_version=5)
    client.set_stream_metadata(stream_name, metadata={"x": 1}, current_version=0)
    assert client.get_stream_metadata(stream_name) == ({"x": 1}, 1)


def test_set_metadata_after_soft_delete(client: EventStoreDBClient, stream_name: str) -> None:
    client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=events("A", "B")
    )
    client.delete_stream(stream_name, current_version=1)
    client.set_stream_metadata(stream_name, metadata={"foo": "bar"})
    metadata, _ = client.get_stream_metadata(stream_name)
    assert metadata["foo"] == "bar"
    assert metadata.get("$tb") in (2, MAX)


def test_truncate_before(client: EventStoreDBClient, stream_name: str) -> None:
    client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=events("A", "B", "C", "D")
    )
    client.set_stream_metadata(stream_name, metadata={"$tb": 2})
    assert types_of(client.get_stream(stream_name)) == ["C", "D"]
    assert types_of(client.get_stream(stream_name, backwards=True)) == ["D", "C"]
    assert client.get_current_version(stream_name) == 3


def test_max_count(client: EventStoreDBClient, stream_name: str) -> None:
    client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=events("A", "B", "C", "D")
    )
    client.set_stream_metadata(stream_name, metadata={"$maxCount": 2})
    assert types_of(client.get_stream(stream_name)) == ["C", "D"]
    client.append_to_stream(stream_name, current_version=3, events=events("E"))
    assert types_of(client.get_stream(stream_name)) == ["D", "E"]
    assert types_of(client.get_stream(stream_name, stream_position=0, limit=1)) == ["D"]


def test_max_age_hides_old_events(client: EventStoreDBClient, stream_name: str) -> None:
    client.append_to_stream(stream_name, current_version=StreamState.NO_STREAM, events=events("A"))
    client.set_stream_metadata(stream_name, metadata={"$maxAge": 3600})
    assert types_of(client.get_stream(stream_name)) == ["A"]  # recent events stay visible


def test_max_age_hides_expired_events_but_keeps_the_version(
    client: EventStoreDBClient, stream_name: str
) -> None:
    """What the command service's request log relies on: an event older than ``$maxAge``
    seconds is not read any more, while the stream's version stays for appends."""
    client.append_to_stream(stream_name, current_version=StreamState.NO_STREAM, events=events("A"))
    client.set_stream_metadata(stream_name, metadata={"$maxAge": 1})
    time.sleep(1.2)  # A is now older than $maxAge (a wait, not a timing assertion)
    client.append_to_stream(stream_name, current_version=0, events=events("B"))
    assert types_of(client.get_stream(stream_name)) == ["B"]
    assert types_of(client.get_stream(stream_name, backwards=True)) == ["B"]


async def test_async_delete_and_metadata(
    async_client: AsyncEventStoreDBClient, stream_name: str
) -> None:
    await async_client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=events("A")
    )
    await async_client.set_stream_metadata(stream_name, metadata={"k": "v"})
    assert (await async_client.get_stream_metadata(stream_name))[0] == {"k": "v"}
    await async_client.delete_stream(stream_name, current_version=0)
    with pytest.raises(NotFound):
        await async_client.get_stream(stream_name)
    await async_client.tombstone_stream(stream_name, current_version=StreamState.ANY)
    with pytest.raises(StreamIsDeleted):
        await async_client.append_to_stream(
            stream_name, current_version=StreamState.ANY, events=events("B")
        )
