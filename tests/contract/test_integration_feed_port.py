"""The broadcaster's IntegrationFeed port's contract, on InMemoryIntegrationLog and
EsdbIntegrationFeed (over our event store in a child process, which the suite kills).

The hub relies on: ``on_live`` before the first event, every event stored from then on
delivered, each grid's events in sequence order, none stored before the feed started, and
after a lost subscription ``on_down``, ``on_live`` again and no gap (a repeat is allowed).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from esdbclient import AsyncEventStoreDBClient

from services.broadcaster.adapters.esdb import EsdbIntegrationFeed
from services.broadcaster.adapters.memory import InMemoryIntegrationLog
from services.broadcaster.application.ports import FeedEvent, IntegrationFeed
from services.command.adapters.esdb_publishing import EsdbIntegrationLog
from services.command.application.errors import StoreUnavailableError
from services.common.envelope import Envelope
from services.common.parked import PoisonEvent
from standins.eventstore.process import EventStoreProcess
from tests.contract.conftest import closing_appender
from tests.support.eventstore import connected_async_client
from tests.support.streams import GUARD_SECONDS
from tests.unit.query.seed import rover_walk


@dataclass
class Harness:
    """The feed, a writer of integration events, and a way to drop its subscription."""

    feed: IntegrationFeed
    write: Callable[[Sequence[Envelope]], Awaitable[None]]
    interrupt: Callable[[], Awaitable[None]]


@dataclass
class Recorder:
    """The feed's callbacks, recorded in order: ("event", grid, sequence), ("live",), ("down",),
    ("poison", grid, sequence)."""

    calls: list[tuple[object, ...]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def on_event(self, event: FeedEvent) -> None:
        self._record("event", str(event.grid_id), event.sequence)

    def on_live(self) -> None:
        self._record("live")

    def on_down(self) -> None:
        self._record("down")

    def on_poison(self, poison: PoisonEvent) -> None:
        self._record("poison", poison.grid_id, poison.sequence)

    def _record(self, *call: object) -> None:
        self.calls.append(call)
        self.changed.set()

    async def until(self, *call: object) -> None:
        """Wait until ``call`` has been recorded."""
        async with asyncio.timeout(GUARD_SECONDS):
            while call not in self.calls:
                self.changed.clear()
                await self.changed.wait()

    def sequences(self, grid_id: str) -> list[int]:
        """The sequences delivered of ``grid_id``, in delivery order."""
        return [c[2] for c in self.calls if c[:2] == ("event", grid_id) and isinstance(c[2], int)]


@pytest.fixture
def store_process(tmp_path: Path) -> Iterator[EventStoreProcess]:
    with EventStoreProcess(db_path=str(tmp_path / "store.sqlite")) as process:
        yield process


@pytest.fixture
async def process_client(
    store_process: EventStoreProcess,
) -> AsyncIterator[AsyncEventStoreDBClient]:
    async with connected_async_client(store_process.uri) as client:
        yield client


@pytest.fixture
def process_appender(process_client: AsyncEventStoreDBClient) -> Iterator[object]:
    with closing_appender(process_client) as appender:
        yield appender


@pytest.fixture(params=["memory", "esdb"])
def harness(request: pytest.FixtureRequest) -> Harness:
    if request.param == "memory":
        memory = InMemoryIntegrationLog()

        async def write_memory(envelopes: Sequence[Envelope]) -> None:
            for envelope in envelopes:
                memory.append(envelope)

        async def interrupt_memory() -> None:
            memory.interrupt()

        return Harness(memory, write_memory, interrupt_memory)
    process: EventStoreProcess = request.getfixturevalue("store_process")
    client: AsyncEventStoreDBClient = request.getfixturevalue("process_client")
    log = EsdbIntegrationLog(client, appender=request.getfixturevalue("process_appender"))

    async def write_esdb(envelopes: Sequence[Envelope]) -> None:
        async with asyncio.timeout(GUARD_SECONDS):
            while True:  # the writer's connection may still be coming back after a restart
                try:
                    await log.append(envelopes[0].grid_id, envelopes)  # re-sends are no-ops
                    return
                except StoreUnavailableError:
                    await asyncio.sleep(0.05)

    async def restart_store() -> None:
        process.kill()
        await asyncio.to_thread(process.restart)

    feed = EsdbIntegrationFeed(client, retry_initial=0.05, retry_max=0.5)
    return Harness(feed, write_esdb, restart_store)


@contextlib.asynccontextmanager
async def running(feed: IntegrationFeed) -> AsyncIterator[Recorder]:
    """The feed running in a task (live once this yields), cancelled after the block."""
    recorder = Recorder()
    task = asyncio.create_task(
        feed.run(recorder.on_event, recorder.on_live, recorder.on_down, recorder.on_poison)
    )
    try:
        await recorder.until("live")
        yield recorder
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def walk(grid_id: str, length: int) -> list[Envelope]:
    return rover_walk(grid_id, 1, length)[:length]


async def test_events_stored_once_live_arrive_in_sequence_order(harness: Harness) -> None:
    g, h = walk("g", 6), walk("h", 4)
    async with running(harness.feed) as feed:
        await harness.write(g[:2])
        await harness.write(h[:3])
        await harness.write(g[2:])
        await harness.write(h[3:])
        await feed.until("event", "g", 6)
        await feed.until("event", "h", 4)
    assert feed.calls[0] == ("live",)
    assert feed.sequences("g") == [1, 2, 3, 4, 5, 6]
    assert feed.sequences("h") == [1, 2, 3, 4]
    assert ("down",) not in feed.calls


async def test_events_stored_before_the_feed_started_are_not_delivered(
    harness: Harness,
) -> None:
    await harness.write(walk("old", 3))
    async with running(harness.feed) as feed:
        await harness.write(walk("new", 2))  # the feed reaches these, and nothing before
        await feed.until("event", "new", 2)
    assert feed.sequences("old") == []
    assert feed.sequences("new") == [1, 2]


async def test_after_a_lost_subscription_it_is_back_without_a_gap(harness: Harness) -> None:
    g = walk("g", 7)
    async with running(harness.feed) as feed:
        await harness.write(g[:3])
        await feed.until("event", "g", 3)
        await harness.interrupt()
        await harness.write(g[3:])  # perhaps stored before the feed is back: never lost
        await feed.until("down")
        await feed.until("event", "g", 7)
    downs = [n for n, call in enumerate(feed.calls) if call == ("down",)]
    assert ("live",) in feed.calls[downs[0] :]
    sequences = feed.sequences("g")
    assert sequences == sorted(sequences)  # in order; a repeat after the reconnect is allowed
    assert sorted(set(sequences)) == [1, 2, 3, 4, 5, 6, 7]
