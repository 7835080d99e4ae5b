"""The publisher's lanes: grids appended concurrently, each in order, the checkpoint held back
by the slowest grid, failed appends retried, and restarts replaying harmlessly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from services.command.application.commands import TurnRoverLeft
from services.command.application.errors import StoreUnavailableError
from services.command.application.ports import DomainFeedItem, StoredEvent
from services.command.application.publisher import Publisher, PublisherSettings
from tests.unit.command.conftest import World
from tests.unit.command.publishing import (
    CheckedCheckpoints,
    ScriptedIntegrationLog,
    running,
)
from tests.unit.command.test_publisher import assert_published_exactly_once, commands


def publisher_for(
    world: World,
    log: ScriptedIntegrationLog,
    checkpoints: CheckedCheckpoints,
    **settings: int | float,
) -> Publisher:
    options: dict[str, int | float] = {"checkpoint_every": 1, "retry_delay": 0.0} | settings
    return Publisher(
        world.store,
        log,
        checkpoints,
        PublisherSettings(**options),  # type: ignore[arg-type]
    )


def scripted(world: World) -> tuple[ScriptedIntegrationLog, CheckedCheckpoints]:
    log = ScriptedIntegrationLog()
    world.fakes.integration = log  # assert_published_exactly_once reads world.integration
    return log, CheckedCheckpoints(world.store, log)


def positions_of(world: World, grid_id: str) -> list[int]:
    return [e.position for e in world.store.all_events() if e.grid_id == grid_id]


def assert_in_order_one_at_a_time(log: ScriptedIntegrationLog) -> None:
    assert log.most_per_grid == 1
    following: dict[str, int] = {}
    for call in log.calls:  # successful appends, in the order they completed
        expected = following.get(call.grid_id, 1)
        assert call.sequences == list(range(expected, expected + len(call.sequences)))
        following[call.grid_id] = expected + len(call.sequences)


async def test_grids_are_appended_concurrently_each_in_order(world: World) -> None:
    for grid_id in ("a", "b", "c"):
        await commands(world, grid_id, 3)
    log, checkpoints = scripted(world)
    log.gates = {g: asyncio.Event() for g in ("a", "b", "c")}
    publisher = publisher_for(world, log, checkpoints)
    async with running(publisher):
        await log.until(lambda: log.busy_grids() == 3)  # all three wait in the store at once
        for gate in log.gates.values():
            gate.set()
        await publisher.wait_for(len(world.store.all_events()))
    assert_published_exactly_once(world)
    assert_in_order_one_at_a_time(log)


async def test_concurrency_is_bounded(world: World) -> None:
    for grid_id in ("a", "b", "c", "d"):
        await commands(world, grid_id, 1)
    log, checkpoints = scripted(world)
    log.gates = {g: asyncio.Event() for g in ("a", "b", "c", "d")}
    publisher = publisher_for(world, log, checkpoints, concurrency=2)
    async with running(publisher):
        await log.until(lambda: log.busy_grids() == 2)
        for gate in log.gates.values():
            gate.set()
        await publisher.wait_for(len(world.store.all_events()))
    assert log.most_in_flight == 2
    assert_published_exactly_once(world)


async def test_interleaved_events_of_a_grid_are_batched_in_order(world: World) -> None:
    await commands(world, "a", 0)
    await commands(world, "b", 0)
    h = world.app.handlers
    for _ in range(5):  # a, b, a, b ... in the feed
        await h.handle(TurnRoverLeft(grid_id="a", rover_id="r"))
        await h.handle(TurnRoverLeft(grid_id="b", rover_id="r"))
    log, checkpoints = scripted(world)
    publisher = publisher_for(world, log, checkpoints, max_batch=3)
    async with running(publisher):
        await publisher.wait_for(len(world.store.all_events()))
    assert_published_exactly_once(world)
    assert_in_order_one_at_a_time(log)
    assert [len(c.sequences) for c in log.calls if c.grid_id == "a"] == [3, 3, 1]


async def test_a_stuck_grid_holds_the_checkpoint_while_others_proceed(world: World) -> None:
    await commands(world, "b", 2)  # positions 1..4
    await commands(world, "a", 2)  # 5..8: stuck
    for _ in range(3):  # and b has 3 more after a's
        await world.app.handlers.handle(TurnRoverLeft(grid_id="b", rover_id="r"))
    first_of_a = positions_of(world, "a")[0]
    log, checkpoints = scripted(world)
    log.gates = {"a": asyncio.Event()}
    publisher = publisher_for(world, log, checkpoints)
    async with running(publisher):
        await log.until(lambda: len(log.streams.get("b", [])) == len(positions_of(world, "b")))
        await checkpoints.until(first_of_a - 1)
        assert publisher.position == first_of_a - 1  # b is done beyond it, a is not
        assert "a" not in log.streams
        log.gates["a"].set()
        await publisher.wait_for(len(world.store.all_events()))
        await checkpoints.until(len(world.store.all_events()))
    assert_published_exactly_once(world)
    assert checkpoints.history == sorted(checkpoints.history)  # never backwards
    assert max(checkpoints.history) == len(world.store.all_events())


async def test_a_failed_append_is_retried_in_order(world: World) -> None:
    await commands(world, "a", 3)
    await commands(world, "b", 3)
    log, checkpoints = scripted(world)
    log.failures = {"a": 3}
    log.lost_replies = {"b": 1}  # stored, reported failed: the retry is an idempotent no-op
    publisher = publisher_for(world, log, checkpoints, append_attempts=5)
    async with running(publisher):
        await publisher.wait_for(len(world.store.all_events()))
    assert_published_exactly_once(world)
    assert_in_order_one_at_a_time(log)


async def test_exhausted_retries_fail_the_run_and_a_restart_replays(world: World) -> None:
    await commands(world, "b", 2)
    await commands(world, "a", 2)
    await commands(world, "c", 2)
    first_of_a = positions_of(world, "a")[0]
    log, checkpoints = scripted(world)
    log.lost_replies = {"a": 2}  # a's events are stored, but the publisher never learns it
    publisher = publisher_for(world, log, checkpoints, append_attempts=2)
    async with running(publisher) as task:
        with pytest.raises(StoreUnavailableError):
            await task
    assert checkpoints.position is not None
    assert checkpoints.position < first_of_a  # the checkpoint did not pass a's events

    restarted = publisher_for(world, log, checkpoints)  # the process comes back
    async with running(restarted):
        await restarted.wait_for(len(world.store.all_events()))
    assert_published_exactly_once(world)
    assert_in_order_one_at_a_time(log)


async def test_a_crash_mid_append_replays_without_duplicates(world: World) -> None:
    await commands(world, "a", 2)
    await commands(world, "b", 4)
    log, checkpoints = scripted(world)
    log.gates = {"b": asyncio.Event()}
    publisher = publisher_for(world, log, checkpoints)
    async with running(publisher):  # "a" is published, "b" hangs in the store: then a crash
        await log.until(lambda: len(log.streams.get("a", [])) == len(positions_of(world, "a")))
        await log.until(lambda: log.busy_grids() == 1)
    assert "b" not in log.streams
    checkpoints.cell.position = None  # as if no checkpoint had ever been saved: replay it all
    log.gates = {}
    restarted = publisher_for(world, log, checkpoints, max_batch=2)
    async with running(restarted):
        await restarted.wait_for(len(world.store.all_events()))
    assert_published_exactly_once(world)
    assert_in_order_one_at_a_time(log)


class SwallowingFeed:
    """A feed whose client library ends quietly when cancelled (as esdbclient's does)."""

    def __init__(self, world: World) -> None:
        self._inner = world.store

    async def subscribe(self, after_position: int | None) -> AsyncIterator[DomainFeedItem]:
        try:
            async for item in self._inner.subscribe(after_position):
                yield item
        except asyncio.CancelledError:
            return

    async def read_grid(self, grid_id: str, after_version: int, limit: int) -> list[StoredEvent]:
        return await self._inner.read_grid(grid_id, after_version, limit)

    async def head(self) -> int | None:
        return await self._inner.head()


async def test_a_stop_is_a_stop_even_when_the_feed_swallows_the_cancellation(
    world: World,
) -> None:
    await commands(world, "a", 1)
    log, checkpoints = scripted(world)
    publisher = Publisher(SwallowingFeed(world), log, checkpoints)
    task = asyncio.create_task(publisher.run_forever())
    await publisher.wait_for(len(world.store.all_events()))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=30)  # not: restarted from the checkpoint
    assert checkpoints.position == len(world.store.all_events())  # saved on the way out
