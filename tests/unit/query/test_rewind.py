"""A read model that lost writes heals itself: the projector re-projects from its checkpoint."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.query.adapters.memory import InMemoryEventFeed, InMemoryReadModel
from services.query.application.errors import ReadModelRewoundError, ReadModelUnavailableError
from services.query.application.ports import FeedItem
from services.query.application.projector import Projector
from services.query.bootstrap import build
from services.query.settings import QuerySettings
from tests.unit.query.seed import rover_walk, seed_history
from tests.unit.query.test_projector import eventually, project_all


class CountingFeed(InMemoryEventFeed):
    """Counts the subscriptions (each one is a start from the stored checkpoint)."""

    subscriptions = 0

    async def subscribe(self, after: int | None, max_batch: int) -> AsyncIterator[list[FeedItem]]:
        self.subscriptions += 1
        async for batch in super().subscribe(after, max_batch):
            yield batch


class FlakyModel(InMemoryReadModel):
    """Counts instance checks; ``down`` makes them fail as an unreachable Redis does."""

    def __init__(self, *, tells: bool = True) -> None:
        super().__init__()
        self.checks = 0
        self.down = False
        self.tells = tells

    async def instance(self) -> str:
        self.checks += 1
        if self.down:
            raise ReadModelUnavailableError("the read model is unavailable")
        return await super().instance() if self.tells else ""


async def equal_eventually(model: InMemoryReadModel, reference: InMemoryReadModel) -> None:
    """Wait until ``model``'s active generation holds what ``reference``'s first one does."""
    expected = await reference.generation_rows(1)
    for _ in range(2_000):
        if await model.generation_rows(await model.active_generation()) == expected:
            return
        await asyncio.sleep(0.005)
    assert await model.generation_rows(await model.active_generation()) == expected


def running(projector: Projector) -> asyncio.Task[None]:
    return asyncio.create_task(projector.run())


async def caught_up(projector: Projector, feed: InMemoryEventFeed) -> None:
    last = feed.stored[-1].position
    await eventually(lambda: (projector.checkpoint.position if projector.checkpoint else 0) >= last)


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_an_idle_projector_notices_the_restart_and_re_projects_what_was_lost() -> None:
    feed, model = InMemoryEventFeed(), InMemoryReadModel()
    a, b = seed_history("a"), rover_walk("b", rovers=2, moves=6)
    feed.append(a[:3])
    feed.append(b[:4])
    projector = Projector(feed, model, batch_size=3, rewind_check_seconds=0.01)
    task = running(projector)
    await caught_up(projector, feed)
    dump = model.dump()
    feed.append(a[3:])
    feed.append(b[4:])
    await caught_up(projector, feed)
    model.restore(dump)  # Redis back from the older dump; no event follows
    reference = InMemoryReadModel()
    await project_all(feed, reference)
    await equal_eventually(model, reference)
    await stop(task)


async def test_a_store_that_cannot_tell_its_instance_has_its_commits_counted_every_time() -> None:
    feed, model = InMemoryEventFeed(), FlakyModel(tells=False)
    a = seed_history("a")
    feed.append(a[:3])
    projector = Projector(feed, model, batch_size=3, rewind_check_seconds=0.01)
    task = running(projector)
    await caught_up(projector, feed)
    dump = model.dump()
    feed.append(a[3:])
    await caught_up(projector, feed)
    model.restore(dump)
    reference = InMemoryReadModel()
    await project_all(feed, reference)
    await equal_eventually(model, reference)
    await stop(task)


async def test_a_commit_after_the_rewind_re_projects_the_grids_it_does_not_touch() -> None:
    feed, model = InMemoryEventFeed(), InMemoryReadModel()
    a, b = rover_walk("a", rovers=1, moves=8), rover_walk("b", rovers=2, moves=6)
    feed.append(a[:3])
    feed.append(b[:4])
    projector = Projector(feed, model, batch_size=3, rewind_check_seconds=3_600)  # no checks
    task = running(projector)
    await caught_up(projector, feed)
    dump = model.dump()
    feed.append(a[3:6])
    feed.append(b[4:])
    await caught_up(projector, feed)
    model.restore(dump)
    feed.append(a[6:])  # only grid a gets events; b must be re-projected all the same
    reference = InMemoryReadModel()
    await project_all(feed, reference)
    await equal_eventually(model, reference)
    await stop(task)


async def test_a_restart_that_lost_nothing_re_projects_nothing() -> None:
    feed, model = CountingFeed(), FlakyModel()
    feed.append(seed_history("a"))
    projector = Projector(feed, model, batch_size=3, rewind_check_seconds=0.01)
    task = running(projector)
    await caught_up(projector, feed)
    model.restore(model.dump())  # a new instance with every write
    checks = model.checks
    await eventually(lambda: model.checks > checks + 2)
    assert feed.subscriptions == 1
    await stop(task)


async def test_an_unreachable_model_during_a_check_is_checked_again_later() -> None:
    feed, model = InMemoryEventFeed(), FlakyModel()
    feed.append(seed_history("a")[:3])
    projector = Projector(feed, model, batch_size=3, rewind_check_seconds=0.01)
    task = running(projector)
    await caught_up(projector, feed)
    dump = model.dump()
    feed.append(seed_history("a")[3:])
    await caught_up(projector, feed)
    model.down = True
    checks = model.checks
    await eventually(lambda: model.checks > checks + 2)
    assert not task.done()
    model.restore(dump)
    model.down = False
    reference = InMemoryReadModel()
    await project_all(feed, reference)
    await equal_eventually(model, reference)
    await stop(task)


async def test_a_writer_that_read_a_lost_version_is_refused_before_it_commits_past_it() -> None:
    feed, model = InMemoryEventFeed(), InMemoryReadModel()
    a, h = rover_walk("a", rovers=1, moves=5), seed_history("h")
    first, grid_h, later = feed.append(a[:3]), feed.append(h[:2]), feed.append(a[3:4])
    writer, other = Projector(feed, model), Projector(feed, model)  # two query services
    generation = await model.active_generation()
    await writer.process(generation, first)
    dump = model.dump()
    await writer.process(generation, grid_h)
    other.checkpoint = await model.checkpoint(generation)  # started after h was projected
    outcome = await other.process(generation, grid_h)  # h redelivered: read at 2, nothing written
    assert (outcome.duplicates, model.commits) == (2, 2)
    model.restore(dump)  # h is gone again
    for projector in (other, writer):  # neither may move the checkpoint past the lost h
        with pytest.raises(ReadModelRewoundError):
            await projector.process(generation, later)
    assert await model.grid_versions(generation, ["a", "h"]) == {"a": 3, "h": 0}


def test_the_service_checks_as_often_as_its_setting_says() -> None:
    settings = QuerySettings(query_rewind_check_seconds=7.5)
    app = build(settings, read_model=InMemoryReadModel(), feed=InMemoryEventFeed())
    assert app.parts.projector.rewind_check_seconds == 7.5


class OutageModel(InMemoryReadModel):
    """Unreachable (ReadModelUnavailableError) for the next ``outage`` commits and reads of
    the active generation, as Redis is during a failover."""

    def __init__(self) -> None:
        super().__init__()
        self.outage = 0

    def _maybe_down(self) -> None:
        if self.outage:
            self.outage -= 1
            raise ReadModelUnavailableError("the read model is unavailable")

    async def active_generation(self) -> int:
        self._maybe_down()
        return await super().active_generation()

    async def commit(self, *args: Any, **kwargs: Any) -> int:
        self._maybe_down()
        return await super().commit(*args, **kwargs)


async def test_an_outage_is_waited_out_and_projection_resumes_from_the_stored_checkpoint() -> None:
    feed, model = CountingFeed(), OutageModel()
    walk = rover_walk("a", rovers=2, moves=12)
    feed.append(walk[:6])
    projector = Projector(feed, model, batch_size=3)
    task = asyncio.create_task(projector.run(retry_seconds=0.01))
    try:
        await eventually(
            lambda: projector.checkpoint is not None and projector.checkpoint.events == 6
        )
        model.outage = 3  # the next commit fails, then the restarts' first reads
        feed.append(walk[6:])
        last = walk[-1].sequence
        await eventually(
            lambda: projector.checkpoint is not None and projector.checkpoint.events == last
        )
        view = await model.grid("a")
        assert view is not None
        assert view.version == last
        assert feed.subscriptions >= 2  # started over from the checkpoint after the outage
        assert model.outage == 0
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
