"""The publisher: one integration event per stored event, in order, replays harmless."""

from __future__ import annotations

import asyncio

from domain.values import Direction, Position
from services.command.adapters.memory import InMemoryCheckpointStore
from services.command.application.commands import CreateGrid, CreateRover, TurnRoverLeft
from services.command.application.publisher import Publisher, PublisherSettings
from services.common.envelope import integration_event_id
from tests.unit.command.conftest import World


async def publish_until_caught_up(world: World, publisher: Publisher) -> None:
    task = asyncio.create_task(publisher.run())
    target = len(world.store.all_events())  # in-memory positions are 1, 2, 3 ...
    await asyncio.wait_for(publisher.wait_for(target), timeout=30)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def commands(world: World, grid_id: str, count: int) -> None:
    h = world.app.handlers
    await h.handle(CreateGrid(grid_id=grid_id, width=5, height=5))
    await h.handle(
        CreateRover(grid_id=grid_id, rover_id="r", position=Position(1, 1), facing=Direction.N)
    )
    for _ in range(count):
        await h.handle(TurnRoverLeft(grid_id=grid_id, rover_id="r"))


def assert_published_exactly_once(world: World) -> None:
    by_grid: dict[str, list[object]] = {}
    for stored in world.store.all_events():
        by_grid.setdefault(stored.grid_id, []).append(integration_event_id(stored.event_id))
    published = {
        grid_id: [e.event_id for e in envelopes]
        for grid_id, envelopes in world.integration.streams.items()
    }
    assert published == by_grid
    for envelopes in world.integration.streams.values():
        assert [e.sequence for e in envelopes] == list(range(1, len(envelopes) + 1))


async def test_every_stored_event_is_published_once_in_order(world: World) -> None:
    await commands(world, "a", 5)
    await commands(world, "b", 3)
    await publish_until_caught_up(world, world.app.publisher)
    assert_published_exactly_once(world)
    assert world.checkpoints.position == len(world.store.all_events())


async def test_a_replay_from_an_old_checkpoint_publishes_nothing_twice(world: World) -> None:
    await commands(world, "a", 5)
    await publish_until_caught_up(world, world.app.publisher)
    await commands(world, "b", 4)
    world.checkpoints.cell.position = 3  # as if the process died long before its last save
    fresh = Publisher(
        world.store,
        world.integration,
        world.checkpoints,
        PublisherSettings(max_batch=4),
    )
    await publish_until_caught_up(world, fresh)
    assert_published_exactly_once(world)


class _SaveNoticed(InMemoryCheckpointStore):
    """Sets ``saved`` at each checkpoint save."""

    def __init__(self) -> None:
        super().__init__()
        self.saved = asyncio.Event()

    async def save(self, position: int) -> None:
        await super().save(position)
        self.saved.set()


async def test_the_first_publication_is_checkpointed_at_once_not_at_the_next_period(
    world: World,
) -> None:
    """Admin status reads the checkpoint: without one it can only say "catching up" from the
    very start, however much is published (the periodic save is an hour away here)."""
    await commands(world, "a", 3)
    checkpoints = _SaveNoticed()
    publisher = Publisher(
        world.store,
        world.integration,
        checkpoints,
        PublisherSettings(checkpoint_interval=3600, checkpoint_every=1_000_000),
    )
    task = asyncio.create_task(publisher.run())
    try:
        await asyncio.wait_for(checkpoints.saved.wait(), timeout=10)  # not an hour later
        assert checkpoints.position is not None
        assert 1 <= checkpoints.position <= len(world.store.all_events())
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
