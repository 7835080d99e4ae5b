"""Catch-up subscriptions: start points, caught-up, filters, checkpoints, history-to-live."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from esdbclient import AsyncEventStoreDBClient, EventStoreDBClient, RecordedEvent, StreamState
from esdbclient.exceptions import StreamIsDeleted

from tests.integration.eventstore.helpers import events

pytestmark = pytest.mark.slow
SAFETY = 60  # a client-side deadline so a broken server fails the test instead of hanging it


def take(subscription: Iterator[RecordedEvent], count: int) -> list[RecordedEvent]:
    return [next(subscription) for _ in range(count)]


def test_stream_subscription_from_start_then_live(
    client: EventStoreDBClient, stream_name: str
) -> None:
    client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=events("A", "B")
    )
    with client.subscribe_to_stream(stream_name, include_caught_up=True, timeout=SAFETY) as sub:
        first = take(sub, 3)
        assert [e.type for e in first[:2]] == ["A", "B"]
        assert first[2].is_caught_up
        client.append_to_stream(stream_name, current_version=1, events=events("C"))
        (live,) = take(sub, 1)
        assert (live.type, live.stream_position) == ("C", 2)


def test_stream_subscription_from_revision_is_exclusive(
    client: EventStoreDBClient, stream_name: str
) -> None:
    client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=events("A", "B", "C")
    )
    with client.subscribe_to_stream(stream_name, stream_position=1, timeout=SAFETY) as sub:
        assert [e.type for e in take(sub, 1)] == ["C"]


def test_stream_subscription_from_end_and_before_creation(
    client: EventStoreDBClient, stream_name: str
) -> None:
    with client.subscribe_to_stream(stream_name, include_caught_up=True, timeout=SAFETY) as early:
        assert take(early, 1)[0].is_caught_up  # nothing yet: caught up at once
        client.append_to_stream(
            stream_name, current_version=StreamState.NO_STREAM, events=events("A")
        )
        with client.subscribe_to_stream(stream_name, from_end=True, timeout=SAFETY) as late:
            client.append_to_stream(stream_name, current_version=0, events=events("B"))
            assert [e.type for e in take(late, 1)] == ["B"]
        assert [e.type for e in take(early, 2)] == ["A", "B"]


def test_stream_subscription_to_tombstoned_stream(
    client: EventStoreDBClient, stream_name: str
) -> None:
    client.tombstone_stream(stream_name, current_version=StreamState.ANY)
    with pytest.raises(StreamIsDeleted):
        _first_of(client, stream_name)


def _first_of(client: EventStoreDBClient, stream_name: str) -> RecordedEvent:
    with client.subscribe_to_stream(stream_name, timeout=SAFETY) as sub:
        return next(sub)


def test_all_subscription_from_position_is_exclusive(
    client: EventStoreDBClient, stream_name: str
) -> None:
    client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=events("A", "B")
    )
    position = client.get_stream(stream_name)[0].commit_position
    with client.subscribe_to_all(
        commit_position=position,
        filter_include=[stream_name],
        filter_by_stream_name=True,
        timeout=SAFETY,
    ) as sub:
        assert [e.type for e in take(sub, 1)] == ["B"]


def test_all_subscription_from_end_sees_only_new_events(
    client: EventStoreDBClient, stream_name: str
) -> None:
    client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=events("Old")
    )
    with client.subscribe_to_all(from_end=True, include_caught_up=True, timeout=SAFETY) as sub:
        client.append_to_stream(stream_name, current_version=0, events=events("New"))
        received = [e for e in take(sub, 2) if not e.is_caught_up]
        while not received:
            received = [e for e in take(sub, 1)]
        assert received[0].type == "New"
        assert received[0].stream_name == stream_name


def test_all_subscription_caught_up_and_default_filter(
    client: EventStoreDBClient, stream_name: str
) -> None:
    before = client.get_commit_position(filter_exclude=[])  # a position is no number to count on
    client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=events("$X", "Y")
    )
    with client.subscribe_to_all(
        commit_position=before, include_caught_up=True, timeout=SAFETY
    ) as sub:
        first = take(sub, 1)[0]
        assert (first.type, first.stream_name) == ("Y", stream_name)  # `$` types excluded
        while not next(sub).is_caught_up:
            pass


def test_all_subscription_filter_exclude_nothing_starts_with_system_event(
    client: EventStoreDBClient,
) -> None:
    with client.subscribe_to_all(filter_exclude=[], timeout=SAFETY) as sub:
        assert take(sub, 1)[0].type.startswith("$")


def test_all_subscription_filters_and_checkpoints(
    client: EventStoreDBClient, stream_name: str
) -> None:
    start = client.get_commit_position(filter_exclude=[])
    client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=events("Skip")
    )
    client.append_to_stream(stream_name, current_version=0, events=events("Keep"))
    with client.subscribe_to_all(
        commit_position=start,
        filter_include=["Keep"],
        include_checkpoints=True,
        window_size=1,
        checkpoint_interval_multiplier=1,
        timeout=SAFETY,
    ) as sub:
        seen: list[RecordedEvent] = []
        while not any(e.type == "Keep" for e in seen):
            seen.append(next(sub))
        checkpoints = [e for e in seen if e.is_checkpoint]
        assert checkpoints, "a checkpoint per considered event with window 1 x 1"
        keep = next(e for e in seen if e.type == "Keep")
        assert all(c.commit_position <= keep.commit_position for c in checkpoints)  # type: ignore[operator]
        # A checkpoint is a safe resume point: resuming after it still delivers "Keep".
        resume = checkpoints[0].commit_position
    with client.subscribe_to_all(
        commit_position=resume, filter_include=["Keep"], timeout=SAFETY
    ) as again:
        assert next(again).id == keep.id


async def test_history_to_live_switch_misses_and_repeats_nothing(
    async_client: AsyncEventStoreDBClient, stream_name: str
) -> None:
    total = 300

    async def writer() -> None:
        for n in range(total):
            await async_client.append_to_stream(
                stream_name, current_version=StreamState.ANY, events=events(f"N{n}")
            )

    await async_client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=events("First")
    )
    writing = asyncio.create_task(writer())
    received: list[str] = []
    async with await async_client.subscribe_to_stream(stream_name, timeout=SAFETY) as sub:
        async for event in sub:
            received.append(event.type)
            if len(received) == total + 1:
                break
    await writing
    assert received == ["First"] + [f"N{n}" for n in range(total)]


async def test_all_subscription_from_end_with_concurrent_appends(
    async_client: AsyncEventStoreDBClient, stream_name: str
) -> None:
    positions: list[int] = []
    async with await async_client.subscribe_to_all(
        from_end=True,
        filter_include=[stream_name + ".*"],
        filter_by_stream_name=True,
        timeout=SAFETY,
    ) as sub:

        async def writer(index: int) -> None:
            for n in range(20):
                positions.append(
                    await async_client.append_to_stream(
                        f"{stream_name}-{index}",
                        current_version=StreamState.ANY,
                        events=events(f"W{index}-{n}"),
                    )
                )

        writing = asyncio.gather(*(writer(i) for i in range(5)))
        received: list[int] = []
        async for event in sub:
            assert event.commit_position is not None
            received.append(event.commit_position)
            if len(received) == 100:
                break
        await writing
    assert received == sorted(positions)


async def test_async_subscription_caught_up_on_empty_stream(
    async_client: AsyncEventStoreDBClient, stream_name: str
) -> None:
    async with await async_client.subscribe_to_stream(
        stream_name, include_caught_up=True, timeout=SAFETY
    ) as sub:
        async for event in sub:
            assert event.is_caught_up
            break
