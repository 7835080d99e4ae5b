"""The query's EventFeed port's contract, on InMemoryEventFeed and EsdbEventFeed.

The projector folds batches from its checkpoint and resumes after the last position it
committed; it heals gaps with ``read_grid`` and measures its lag with ``head`` and
``count_after``. Events are written as the command side writes them (EsdbIntegrationLog).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

import pytest
from esdbclient import AsyncEventStoreDBClient

from services.command.adapters.esdb_publishing import EsdbIntegrationLog
from services.common.envelope import Envelope
from services.query.adapters.esdb_feed import EsdbEventFeed
from services.query.adapters.memory import InMemoryEventFeed
from services.query.application.ports import EventFeed, FeedItem, HashUpdate
from services.query.application.projection import project
from tests.support.streams import read_until
from tests.unit.query.seed import rover_walk, seed_history


@dataclass
class Harness:
    """The feed and a writer of integration events (whole runs of one grid)."""

    feed: EventFeed
    write: Callable[[Sequence[Envelope]], Awaitable[None]]


@pytest.fixture(params=["memory", "esdb", "esdb-plain"])
def harness(request: pytest.FixtureRequest) -> Harness:
    if request.param == "memory":
        memory = InMemoryEventFeed()

        async def write_memory(envelopes: Sequence[Envelope]) -> None:
            memory.append(envelopes)

        return Harness(memory, write_memory)
    esdb: AsyncEventStoreDBClient = request.getfixturevalue("esdb")
    log = EsdbIntegrationLog(esdb, appender=request.getfixturevalue("appender"))

    async def write_esdb(envelopes: Sequence[Envelope]) -> None:
        await log.append(envelopes[0].grid_id, envelopes)

    fast = request.param == "esdb"
    return Harness(EsdbEventFeed(esdb, fast_projection=fast, linger_seconds=0), write_esdb)


def update(item: FeedItem) -> HashUpdate | None:
    """What an item means to the projector: its update (None for a bare checkpoint)."""
    if item.update is not None:
        assert item.envelope is None
        return item.update
    return project(item.envelope) if item.envelope is not None else None


def events(batches: list[list[FeedItem]]) -> list[FeedItem]:
    return [i for batch in batches for i in batch if update(i) is not None]


def reached(grid_id: str, sequence: int) -> Callable[[list[list[FeedItem]]], bool]:
    def done(batches: list[list[FeedItem]]) -> bool:
        found = [update(i) for i in batches[-1]]
        return any(u is not None and (u.grid_id, u.sequence) == (grid_id, sequence) for u in found)

    return done


@contextlib.asynccontextmanager
async def subscribed(
    feed: EventFeed, after: int | None, max_batch: int = 100
) -> AsyncIterator[AsyncIterator[list[FeedItem]]]:
    batches = feed.subscribe(after, max_batch)
    try:
        yield batches
    finally:
        await batches.aclose()  # type: ignore[attr-defined]


def walk(grid_id: str, length: int) -> list[Envelope]:
    return rover_walk(grid_id, 1, length)[:length]


async def test_from_the_start_every_event_in_store_order(harness: Harness) -> None:
    g, h = walk("g", 6), seed_history("h")
    await harness.write(g[:3])
    await harness.write(h)
    await harness.write(g[3:])
    async with subscribed(harness.feed, None, max_batch=4) as feed:
        batches = await read_until(feed, reached("g", 6))
    assert all(0 < len(batch) <= 4 for batch in batches)
    assert [update(i) for i in events(batches)] == [project(e) for e in g[:3] + h + g[3:]]
    positions = [i.position for batch in batches for i in batch]
    assert positions == sorted(positions)


async def test_after_the_stored_events_come_the_live_ones(harness: Harness) -> None:
    g = walk("g", 8)
    await harness.write(g[:2])
    async with subscribed(harness.feed, None) as feed:
        await read_until(feed, reached("g", 2))
        await harness.write(g[2:5])
        await harness.write(g[5:])
        batches = await read_until(feed, reached("g", 8))
    assert [update(i) for i in events(batches)] == [project(e) for e in g[2:]]


@pytest.mark.parametrize("resume_after", [0, 3, 6])
async def test_resuming_after_a_delivered_position_continues_with_the_next_event(
    harness: Harness, resume_after: int
) -> None:
    g, marker = walk("g", 7), walk("k", 1)
    await harness.write(g)
    async with subscribed(harness.feed, None) as feed:
        first = events(await read_until(feed, reached("g", 7)))
    await harness.write(marker)  # the resumed feed must reach it, and deliver nothing else
    async with subscribed(harness.feed, first[resume_after].position) as feed:
        resumed = events(await read_until(feed, reached("k", 1)))
    assert [update(i) for i in resumed] == [project(e) for e in g[resume_after + 1 :] + marker]


async def test_read_grid_returns_the_stored_range(harness: Harness) -> None:
    g, h = walk("g", 9), walk("h", 3)
    await harness.write(g)
    await harness.write(h)
    assert await harness.feed.read_grid("g", 1, 9) == g
    assert await harness.feed.read_grid("g", 4, 6) == g[3:6]
    assert await harness.feed.read_grid("g", 8, 20) == g[7:]
    assert await harness.feed.read_grid("g", 10, 12) == []
    assert await harness.feed.read_grid("nobody", 1, 5) == []


async def test_head_is_the_newest_event(harness: Harness) -> None:
    assert await harness.feed.head() is None
    await harness.write(walk("g", 3))
    await harness.write(walk("h", 2))
    async with subscribed(harness.feed, None) as feed:
        delivered = events(await read_until(feed, reached("h", 2)))
    head = await harness.feed.head()
    assert head is not None
    assert (head.position, head.recorded_at_ms) == (
        delivered[-1].position,
        delivered[-1].recorded_at_ms,
    )


async def test_count_after_counts_up_to_the_cap_from_a_position(harness: Harness) -> None:
    assert await harness.feed.count_after(-1, 10) == (0, 0)
    await harness.write(walk("g", 6))
    async with subscribed(harness.feed, None) as feed:
        delivered = events(await read_until(feed, reached("g", 6)))
    first_ms = delivered[0].recorded_at_ms
    assert first_ms > 0
    assert await harness.feed.count_after(-1, 10) == (6, first_ms)
    assert await harness.feed.count_after(-1, 4) == (4, first_ms)
    assert await harness.feed.count_after(delivered[1].position, 10) == (
        4,
        delivered[2].recorded_at_ms,
    )
    assert await harness.feed.count_after(delivered[-1].position, 10) == (0, 0)
