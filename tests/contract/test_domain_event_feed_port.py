"""The DomainEventFeed port's contract, on InMemoryEventStore and EsdbDomainEventFeed.

The publisher reads every grid's domain events in store order from its checkpoint and
resumes from the position of the last item it handled: a resumed feed must continue with
exactly the events after that position, and carry nothing but ``grid-`` stream events (plus
bare checkpoints).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from esdbclient import AsyncEventStoreDBClient

from domain.events import GridEvent
from services.command.adapters.esdb_feed import EsdbDomainEventFeed
from services.command.adapters.esdb_publishing import (
    EsdbCheckpointStore,
    EsdbIntegrationLog,
)
from services.command.adapters.esdb_store import EsdbEventStore, EsdbSnapshotStore
from services.command.adapters.memory import InMemoryEventStore
from services.command.application.errors import StoreUnavailableError
from services.command.application.ports import (
    DomainEventFeed,
    DomainFeedItem,
    EventMetadata,
    EventStore,
    FeedCheckpoint,
    PendingEvent,
    StoredEvent,
    StoredSnapshot,
)
from services.common.parked import PoisonEvent
from tests.contract.test_snapshot_store_port import snapshot_at
from tests.support.streams import read_until
from tests.unit.query.seed import rover_walk

_WHEN = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


@dataclass
class Harness:
    """The feed, the event store it follows, and a writer of the store's other streams."""

    feed: DomainEventFeed
    store: EventStore
    write_other_streams: Callable[[str], Awaitable[None]]


@pytest.fixture(params=["memory", "esdb"])
def harness(request: pytest.FixtureRequest) -> Harness:
    if request.param == "memory":
        memory = InMemoryEventStore()

        async def nothing_else(grid_id: str) -> None:
            """The fake keeps domain events only."""

        return Harness(memory, memory, nothing_else)
    esdb: AsyncEventStoreDBClient = request.getfixturevalue("esdb")
    appender = request.getfixturevalue("appender")

    async def write_other_streams(grid_id: str) -> None:
        await EsdbSnapshotStore(esdb).save(grid_id, StoredSnapshot(snapshot_at(grid_id, 2)))
        log = EsdbIntegrationLog(esdb, appender=appender)
        await log.append(grid_id, rover_walk(grid_id, 1, 2)[:2])
        checkpoints = EsdbCheckpointStore(esdb, f"$publisher-{grid_id}")
        assert await checkpoints.acquire()
        await checkpoints.save(1)

    store = EsdbEventStore(esdb, timeout=5.0, appender=appender)
    return Harness(EsdbDomainEventFeed(esdb), store, write_other_streams)


def pending(events: list[GridEvent], command: str = "Test") -> list[PendingEvent]:
    metadata = EventMetadata(occurred_at=_WHEN, command=command, request_id="r", fingerprint="f")
    return [PendingEvent(event_id=uuid.uuid4(), event=e, metadata=metadata) for e in events]


async def write(store: EventStore, grid_id: str, count: int, after: int = 0) -> None:
    """Events ``after + 1 .. after + count`` of a one-rover walk on ``grid_id``."""
    walk = [e.event for e in rover_walk(grid_id, 1, after + count)][after : after + count]
    await store.append(grid_id, after, pending(walk, command=f"{grid_id}-{after}"))


def events(items: list[DomainFeedItem]) -> list[StoredEvent]:
    return [i for i in items if isinstance(i, StoredEvent)]


def reached(grid_id: str, version: int) -> Callable[[list[DomainFeedItem]], bool]:
    """Stop once the feed delivered ``grid_id`` at ``version``."""

    def done(items: list[DomainFeedItem]) -> bool:
        last = items[-1]
        return isinstance(last, StoredEvent) and (last.grid_id, last.version) == (grid_id, version)

    return done


@contextlib.asynccontextmanager
async def subscribed(
    feed: DomainEventFeed, after: int | None
) -> AsyncIterator[AsyncIterator[DomainFeedItem]]:
    items = feed.subscribe(after)
    try:
        yield items
    finally:
        await items.aclose()  # type: ignore[attr-defined]


async def loaded(store: EventStore, *grid_ids: str) -> dict[tuple[str, int], StoredEvent]:
    return {(s.grid_id, s.version): s for g in grid_ids for s in await store.load(g)}


async def test_from_the_start_every_grid_event_in_store_order(harness: Harness) -> None:
    await write(harness.store, "g", 2)
    await write(harness.store, "h", 3)
    await write(harness.store, "g", 2, after=2)
    async with subscribed(harness.feed, None) as feed:
        items = await read_until(feed, reached("g", 4))
    delivered = events(items)
    order = [(s.grid_id, s.version) for s in delivered]
    assert order == [("g", 1), ("g", 2), ("h", 1), ("h", 2), ("h", 3), ("g", 3), ("g", 4)]
    stored = await loaded(harness.store, "g", "h")
    for event in delivered:  # the same event, id and metadata as a load reads back
        twin = stored[(event.grid_id, event.version)]
        assert (event.event_id, event.event, event.metadata) == (
            twin.event_id,
            twin.event,
            twin.metadata,
        )
    assert not [i for i in items if isinstance(i, PoisonEvent)]
    positions = [i.position for i in items if not isinstance(i, PoisonEvent)]
    assert positions == sorted(positions)
    assert len({s.position for s in delivered}) == len(delivered)


async def test_after_the_stored_events_come_the_live_ones(harness: Harness) -> None:
    await write(harness.store, "g", 2)
    async with subscribed(harness.feed, None) as feed:
        await read_until(feed, reached("g", 2))
        await write(harness.store, "g", 3, after=2)
        await write(harness.store, "h", 1)
        items = await read_until(feed, reached("h", 1))
    assert [(s.grid_id, s.version) for s in events(items)] == [
        ("g", 3),
        ("g", 4),
        ("g", 5),
        ("h", 1),
    ]


@pytest.mark.parametrize("resume_after", [0, 2, 4])
async def test_resuming_after_a_delivered_position_continues_with_the_next_event(
    harness: Harness, resume_after: int
) -> None:
    await write(harness.store, "g", 3)
    await write(harness.store, "h", 3)
    async with subscribed(harness.feed, None) as feed:
        first = events(await read_until(feed, reached("h", 3)))
    await write(harness.store, "k", 1)  # a marker: the resumed feed must reach it, no more
    async with subscribed(harness.feed, first[resume_after].position) as feed:
        resumed = events(await read_until(feed, reached("k", 1)))
    expected = [(s.grid_id, s.version) for s in first[resume_after + 1 :]] + [("k", 1)]
    assert [(s.grid_id, s.version) for s in resumed] == expected


async def test_only_grid_streams_are_in_the_feed(harness: Harness) -> None:
    await write(harness.store, "g", 2)
    await harness.write_other_streams("g")
    await write(harness.store, "k", 1)
    async with subscribed(harness.feed, None) as feed:
        items = await read_until(feed, reached("k", 1))
    assert all(isinstance(i, StoredEvent | FeedCheckpoint) for i in items)
    assert [(s.grid_id, s.version) for s in events(items)] == [("g", 1), ("g", 2), ("k", 1)]


async def test_an_unreachable_store_is_unavailable() -> None:
    client = AsyncEventStoreDBClient("esdb://127.0.0.1:1?Tls=false")
    await client.connect()
    try:
        with pytest.raises(StoreUnavailableError):
            await anext(aiter(EsdbDomainEventFeed(client).subscribe(None)))
    finally:
        await client.close()
    memory = InMemoryEventStore()
    memory.available = False
    with pytest.raises(StoreUnavailableError):
        await anext(aiter(memory.subscribe(None)))
