"""The publisher and a poison event, in memory: the grid is held (its integration stream stays
gapless), the other grids go on, the checkpoint passes; a release publishes the held events
in order, also when the release happened while no publisher ran."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from services.command.adapters.memory import InMemoryEventStore
from services.command.application.commands import TurnRoverLeft
from services.command.application.errors import CheckpointUntrustedError
from services.command.application.ports import DomainFeedItem, StoredEvent
from services.command.application.publisher import Publisher, PublisherSettings
from services.common.parked import PUBLISHER, InMemoryParkedEvents, PoisonEvent, PoisonEventError
from tests.support.health import eventually
from tests.unit.command.conftest import World
from tests.unit.command.publishing import running
from tests.unit.command.test_publisher import assert_published_exactly_once, commands


class PoisoningFeed:
    """The store's feed with a decoder bug: one grid's event at one version is poison."""

    def __init__(self, store: InMemoryEventStore, grid_id: str, version: int) -> None:
        self._store = store
        self._bad = (grid_id, version)
        self.broken = True

    def _poison(self, event: StoredEvent) -> PoisonEvent | None:
        if not self.broken or (event.grid_id, event.version) != self._bad:
            return None
        return PoisonEvent(
            stream=f"grid-{event.grid_id}",
            revision=event.version - 1,
            commit_position=event.position,
            event_id=str(event.event_id),
            event_type=type(event.event).__name__,
            grid_id=event.grid_id,
            reason="cannot be decoded: a bug",
        )

    async def subscribe(self, after_position: int | None) -> AsyncIterator[DomainFeedItem]:
        async for item in self._store.subscribe(after_position):
            poison = self._poison(item) if isinstance(item, StoredEvent) else None
            yield poison or item

    async def read_grid(self, grid_id: str, after_version: int, limit: int) -> list[StoredEvent]:
        found = await self._store.read_grid(grid_id, after_version, limit)
        for index, event in enumerate(found):
            poison = self._poison(event)
            if poison is not None:
                raise PoisonEventError(poison, found[:index])
        return found

    async def head(self) -> int | None:
        return await self._store.head()


@contextlib.asynccontextmanager
async def publishing(
    world: World, feed: PoisoningFeed, parked: InMemoryParkedEvents
) -> AsyncIterator[Publisher]:
    settings = PublisherSettings(release_interval=0.01, checkpoint_interval=0.01)
    publisher = Publisher(feed, world.integration, world.checkpoints, settings, parked=parked)
    async with running(publisher):
        yield publisher


def sequences(world: World, grid_id: str) -> list[int]:
    return [e.sequence for e in world.integration.streams.get(grid_id, [])]


async def test_a_poison_event_holds_only_its_grid_until_released(world: World) -> None:
    await commands(world, "a", 5)  # versions 1..7; 4 is poison
    await commands(world, "b", 3)
    feed, parked = PoisoningFeed(world.store, "a", 4), InMemoryParkedEvents()
    async with publishing(world, feed, parked) as publisher:
        await publisher.wait_for(len(world.store.all_events()))  # the checkpoint passes all
        assert sequences(world, "a") == [1, 2, 3]
        assert sequences(world, "b") == [1, 2, 3, 4, 5]
        assert publisher.held.grids == {"a"}
        [record] = await parked.unresolved(PUBLISHER)
        assert (record.event.grid_id, record.event.sequence) == ("a", 4)

        await commands(world, "c", 1)  # others go on; a's own later events wait
        await world.app.handlers.handle(TurnRoverLeft(grid_id="a", rover_id="r"))
        await publisher.wait_for(len(world.store.all_events()))
        assert sequences(world, "c") == [1, 2, 3]
        assert sequences(world, "a") == [1, 2, 3]

        feed.broken = False  # the fix, then the operator's replay
        await parked.resolve(PUBLISHER, record.parked_id, "released")

        async def caught_up() -> bool:
            return sequences(world, "a") == list(range(1, 9))

        await eventually(caught_up)
        assert publisher.held.grids == set()
        assert publisher.held.count == 0
    assert_published_exactly_once(world)


async def test_a_grid_released_while_no_publisher_ran_catches_up_at_its_next_event(
    world: World,
) -> None:
    await commands(world, "a", 3)
    feed, parked = PoisoningFeed(world.store, "a", 3), InMemoryParkedEvents()
    async with publishing(world, feed, parked) as publisher:
        await publisher.wait_for(len(world.store.all_events()))
        assert sequences(world, "a") == [1, 2]
    [record] = await parked.unresolved(PUBLISHER)
    feed.broken = False
    await parked.resolve(PUBLISHER, record.parked_id, "released")

    async with publishing(world, feed, parked) as publisher:
        await world.app.handlers.handle(
            TurnRoverLeft(grid_id="a", rover_id="r")
        )  # version 6, after the checkpoint
        await publisher.wait_for(len(world.store.all_events()))
        assert sequences(world, "a") == [1, 2, 3, 4, 5, 6]
    assert_published_exactly_once(world)


async def test_a_checkpoint_beyond_the_store_is_not_trusted(world: World) -> None:
    await commands(world, "a", 1)
    assert await world.checkpoints.acquire()
    await world.checkpoints.save(10**12)
    publisher = Publisher(world.store, world.integration, world.checkpoints)
    with pytest.raises(CheckpointUntrustedError, match="beyond the newest event"):
        await publisher.run()
    assert sequences(world, "a") == []
    assert world.checkpoints.position == 10**12  # left for the operator to see and fix
