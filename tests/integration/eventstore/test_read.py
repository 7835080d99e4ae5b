"""Reads of a stream and of $all: directions, inclusive/exclusive boundaries, counts, filters."""

from __future__ import annotations

import pytest
from esdbclient import AsyncEventStoreDBClient, EventStoreDBClient, StreamState
from esdbclient.exceptions import NotFound

from tests.integration.eventstore.helpers import events, types_of

pytestmark = pytest.mark.slow


@pytest.fixture
def five(client: EventStoreDBClient, stream_name: str) -> str:
    client.append_to_stream(
        stream_name,
        current_version=StreamState.NO_STREAM,
        events=events("E0", "E1", "E2", "E3", "E4"),
    )
    return stream_name


def test_read_stream_forwards_from_revision_is_inclusive(
    client: EventStoreDBClient, five: str
) -> None:
    assert types_of(client.get_stream(five)) == ["E0", "E1", "E2", "E3", "E4"]
    assert types_of(client.get_stream(five, stream_position=2)) == ["E2", "E3", "E4"]
    assert types_of(client.get_stream(five, stream_position=1, limit=2)) == ["E1", "E2"]
    assert list(client.get_stream(five, stream_position=5)) == []


def test_read_stream_backwards_from_revision_is_inclusive(
    client: EventStoreDBClient, five: str
) -> None:
    assert types_of(client.get_stream(five, backwards=True)) == ["E4", "E3", "E2", "E1", "E0"]
    assert types_of(client.get_stream(five, stream_position=2, backwards=True)) == [
        "E2",
        "E1",
        "E0",
    ]
    assert types_of(client.get_stream(five, backwards=True, limit=2)) == ["E4", "E3"]


def test_read_missing_stream_is_not_found(client: EventStoreDBClient, stream_name: str) -> None:
    with pytest.raises(NotFound):
        client.get_stream(stream_name)
    with pytest.raises(NotFound):
        client.get_stream(stream_name, stream_position=1, limit=10)
    with pytest.raises(NotFound):
        client.get_stream(stream_name, backwards=True)
    assert client.get_current_version(stream_name) is StreamState.NO_STREAM


def test_stream_events_carry_their_all_positions(client: EventStoreDBClient, five: str) -> None:
    by_stream = client.get_stream(five)
    first = by_stream[0].commit_position
    assert first is not None
    from_all = [
        e for e in client.read_all(commit_position=first, limit=50) if e.stream_name == five
    ]
    assert [e.id for e in from_all] == [e.id for e in by_stream]
    assert [e.commit_position for e in from_all] == [e.commit_position for e in by_stream]


def test_read_all_forwards_is_inclusive_backwards_exclusive(
    client: EventStoreDBClient, five: str
) -> None:
    recorded = client.get_stream(five)
    middle = recorded[2].commit_position
    assert middle is not None
    forwards = client.read_all(commit_position=middle, limit=3, filter_include=["E.*"])
    assert types_of(forwards) == ["E2", "E3", "E4"]
    backwards = client.read_all(
        commit_position=middle, backwards=True, limit=2, filter_include=["E[0-4]"]
    )
    assert types_of(backwards) == ["E1", "E0"]


def test_read_all_backwards_from_end_and_commit_position(
    client: EventStoreDBClient, five: str
) -> None:
    last = client.get_stream(five)[-1]
    newest = list(client.read_all(backwards=True, limit=1))
    assert newest[0].commit_position is not None
    assert newest[0].commit_position >= last.commit_position  # type: ignore[operator]
    assert client.get_commit_position() >= last.commit_position  # type: ignore[operator]


def test_read_all_default_filter_hides_system_events(
    client: EventStoreDBClient, stream_name: str
) -> None:
    client.append_to_stream(
        stream_name, current_version=StreamState.ANY, events=events("$Sys", "User")
    )
    start = client.get_stream(stream_name)[0].commit_position
    assert types_of(client.read_all(commit_position=start, limit=1)) == ["User"]
    unfiltered = client.read_all(commit_position=start, limit=2, filter_exclude=[])
    assert types_of(unfiltered) == ["$Sys", "User"]


def test_first_event_of_all_is_a_system_event(client: EventStoreDBClient) -> None:
    (first,) = client.read_all(limit=1, filter_exclude=[])
    assert first.type.startswith("$")
    assert first.commit_position is not None
    assert first.commit_position > 0


def test_read_all_filters_by_stream_name_and_type(
    client: EventStoreDBClient, stream_name: str
) -> None:
    a, b = f"{stream_name}-a", f"{stream_name}-b"
    client.append_to_stream(a, current_version=StreamState.ANY, events=events("Ta1", "Tb2"))
    client.append_to_stream(b, current_version=StreamState.ANY, events=events("Ta3", "Tb4"))
    start = client.get_stream(a)[0].commit_position

    def read(**kwargs: object) -> list[str]:
        found = client.read_all(commit_position=start, **kwargs)  # type: ignore[arg-type]
        return [e.type for e in found if e.stream_name in (a, b)]

    assert read(filter_include=[a], filter_by_stream_name=True) == ["Ta1", "Tb2"]
    assert read(filter_include=[f"{stream_name}-.*"], filter_by_stream_name=True) == [
        "Ta1",
        "Tb2",
        "Ta3",
        "Tb4",
    ]
    assert read(filter_exclude=[a], filter_by_stream_name=True) == ["Ta3", "Tb4"]
    assert read(filter_include=["Ta.*"]) == ["Ta1", "Ta3"]
    assert read(filter_exclude=["Ta.*"]) == ["Tb2", "Tb4"]
    assert read(filter_include=["Tb4"], limit=1) == ["Tb4"]  # count limits MATCHING events


def test_read_all_never_returns_position_zero(client: EventStoreDBClient) -> None:
    positions = [e.commit_position for e in client.read_all(limit=20, filter_exclude=[])]
    assert positions == sorted(positions)  # type: ignore[type-var]
    assert all(p and p > 0 for p in positions)


async def test_async_reads(async_client: AsyncEventStoreDBClient, stream_name: str) -> None:
    await async_client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=events("A", "B", "C")
    )
    assert types_of(await async_client.get_stream(stream_name, stream_position=1)) == ["B", "C"]
    backwards = await async_client.get_stream(stream_name, backwards=True, limit=1)
    assert types_of(backwards) == ["C"]
    start = backwards[0].commit_position
    read = await async_client.read_all(commit_position=start, limit=1)
    assert [e.type async for e in read] == ["C"]
    with pytest.raises(NotFound):
        await async_client.get_stream(stream_name + "-missing")
