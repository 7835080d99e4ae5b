"""The projector with in-memory fakes: order, duplicates, gaps, crashes, conflicts, rebuild."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest

from services.query.adapters.memory import InMemoryEventFeed, InMemoryReadModel
from services.query.application.errors import GapNotHealableError, GenerationChangedError
from services.query.application.ports import Checkpoint, FeedItem, HashUpdate, RoverView
from services.query.application.projection import project
from services.query.application.projector import BatchOutcome, Projector
from services.query.application.rebuild import RebuildProgress, rebuild
from tests.unit.query.seed import rover_walk, seed_history


async def eventually(predicate: Callable[[], bool]) -> None:
    """Yield to the loop until ``predicate`` holds (a hang guard, not a timing assertion)."""
    for _ in range(2_000):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never became true")


async def project_all(feed: InMemoryEventFeed, model: InMemoryReadModel, batch: int = 3) -> None:
    projector = Projector(feed, model, batch_size=batch)
    last = feed.stored[-1].position
    await projector.run(until=lambda cp: cp.position >= last)


async def test_in_order_events_are_applied_and_checkpointed() -> None:
    feed, model = InMemoryEventFeed(), InMemoryReadModel()
    feed.append(seed_history())
    await project_all(feed, model)
    view = await model.grid("plateau")
    assert view is not None
    assert view.version == 7
    assert view.rovers == (RoverView("r1", 1, 4, "E"),)
    assert view.obstacles == ((0, 5), (4, 4))
    checkpoint = await model.checkpoint(await model.active_generation())
    assert checkpoint == Checkpoint(7, 7_000, 7)
    assert model.commits == 3  # batches of 3: one atomic commit each


async def test_duplicates_are_skipped() -> None:
    feed, model = InMemoryEventFeed(), InMemoryReadModel()
    items = feed.append(seed_history())
    feed.deliver([items[0], items[1], items[1], items[0], *items[2:], items[6], items[3]])
    projector = Projector(feed, model, batch_size=4)
    outcomes: list[BatchOutcome] = []
    await projector.run(until=lambda cp: cp.events >= 10, on_batch=outcomes.append)
    assert sum(o.applied for o in outcomes) == 7
    assert sum(o.duplicates for o in outcomes) == 4
    assert feed.grid_reads == []
    view = await model.grid("plateau")
    assert view is not None
    assert view.version == 7


async def test_out_of_order_delivery_heals_then_skips_the_late_one() -> None:
    feed, model = InMemoryEventFeed(), InMemoryReadModel()
    items = feed.append(seed_history())
    feed.deliver([items[0], items[1], items[3], items[2], *items[4:]])
    projector = Projector(feed, model, batch_size=1)
    outcomes: list[BatchOutcome] = []
    await projector.run(until=lambda cp: cp.events >= 7, on_batch=outcomes.append)
    assert feed.grid_reads == [("plateau", 3, 3)]
    assert [(o.applied, o.healed, o.duplicates) for o in outcomes[2:4]] == [(1, 1, 0), (0, 0, 1)]
    view = await model.grid("plateau")
    assert view is not None
    assert view.version == 7
    assert view.rovers == (RoverView("r1", 1, 4, "E"),)


async def test_a_gap_is_filled_from_the_store_before_going_on() -> None:
    feed, model = InMemoryEventFeed(), InMemoryReadModel()
    items = feed.append(seed_history())
    feed.deliver([items[0], items[1], items[5], items[6]])
    await Projector(feed, model, batch_size=10).run(until=lambda cp: cp.events >= 4)
    assert feed.grid_reads == [("plateau", 3, 5)]
    view = await model.grid("plateau")
    assert view is not None
    assert view.version == 7


async def test_an_unhealable_gap_writes_nothing() -> None:
    feed, model = InMemoryEventFeed(), InMemoryReadModel()
    history = seed_history()
    items = feed.append(history[:2])
    late = FeedItem(99, history[4], 0)  # sequence 5: 3 and 4 are not in the store
    projector = Projector(feed, model)
    generation = await model.active_generation()
    with pytest.raises(GapNotHealableError):
        await projector.process(generation, [*items, late])
    assert await model.generation_rows(generation) == {}


class CrashingReadModel(InMemoryReadModel):
    """Dies right after the n-th commit has landed (the process 'is killed')."""

    def __init__(self, crash_after: int) -> None:
        super().__init__()
        self.crash_after = crash_after

    async def commit(
        self,
        generation: int,
        updates: Sequence[HashUpdate],
        checkpoint: Checkpoint,
        *,
        must_be_active: bool,
        not_before: int | None = None,
    ) -> int:
        count = await super().commit(
            generation, updates, checkpoint, must_be_active=must_be_active, not_before=not_before
        )
        if self.commits == self.crash_after:
            raise SystemExit("killed between the Redis write and the next event")
        return count


@pytest.mark.parametrize("crash_after", [1, 2, 5, 9])
async def test_a_crash_after_any_commit_resumes_without_loss_or_double_apply(
    crash_after: int,
) -> None:
    feed = InMemoryEventFeed()
    feed.append(seed_history("a"))
    feed.append(rover_walk("b", rovers=3, moves=20))
    feed.append(seed_history("c"))
    model = CrashingReadModel(crash_after)
    with pytest.raises(SystemExit):
        await project_all(feed, model, batch=4)
    model.crash_after = -1
    await project_all(feed, model, batch=4)  # a fresh projector: nothing in memory survives
    reference = InMemoryReadModel()
    await project_all(feed, reference, batch=7)
    assert await model.generation_rows(1) == await reference.generation_rows(1)


async def test_a_commit_conflict_rereads_the_version_and_skips_what_is_there() -> None:
    feed, model = InMemoryEventFeed(), InMemoryReadModel()
    items = feed.append(seed_history())
    projector = Projector(feed, model, batch_size=10)
    generation = await model.active_generation()
    await projector.process(generation, items[:2])
    # another writer applies 3 and 4 behind this projector's back
    await model.commit(
        generation, [project(i.envelope) for i in items[2:4] if i.envelope], Checkpoint(4),
        must_be_active=True,
    )  # fmt: skip
    outcome = await projector.process(generation, items[2:])
    assert (outcome.applied, outcome.duplicates) == (3, 2)
    view = await model.grid("plateau")
    assert view is not None
    assert view.version == 7


async def test_rebuild_swaps_in_an_equal_model_and_drops_the_old_one() -> None:
    feed, model = InMemoryEventFeed(), InMemoryReadModel()
    feed.append(seed_history("a"))
    feed.append(rover_walk("b", rovers=2, moves=5))
    await project_all(feed, model)
    before = await model.generation_rows(1)
    progress: list[RebuildProgress] = []
    result = await rebuild(feed, model, batch_size=4, on_progress=progress.append)
    assert (result.generation, result.replaced, result.events) == (2, 1, 15)
    assert await model.active_generation() == 2
    assert await model.generation_rows(2) == before
    assert await model.generation_rows(1) == {}
    assert progress[-1].position == progress[-1].target == 15


async def test_a_live_projector_follows_a_swap_from_the_new_checkpoint() -> None:
    feed, model = InMemoryEventFeed(), InMemoryReadModel()
    feed.append(seed_history("a")[:3])
    live = Projector(feed, model, batch_size=2)
    task = asyncio.create_task(live.run())
    await eventually(lambda: live.checkpoint is not None and live.checkpoint.position == 3)
    await rebuild(feed, model)
    generation = await model.active_generation()
    assert generation == 2
    with pytest.raises(GenerationChangedError):
        await live.process(1, [FeedItem(100, None)])  # a write to the old generation is refused...
    feed.append(seed_history("a")[3:])  # ...and the live one carries on in the new one
    await eventually(lambda: live.checkpoint is not None and live.checkpoint.position == 7)
    task.cancel()
    view = await model.grid("a")
    assert view is not None
    assert view.version == 7


async def test_the_cached_versions_stay_bounded_and_the_model_stays_right(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("services.query.application.projector._MAX_CACHED_VERSIONS", 2)
    feed, model = InMemoryEventFeed(), InMemoryReadModel()
    for grid in ("a", "b", "c", "d"):
        feed.append(rover_walk(grid, rovers=1, moves=3))
    projector = Projector(feed, model, batch_size=2)
    last = feed.stored[-1].position
    sizes: list[int] = []
    await projector.run(
        until=lambda cp: cp.position >= last,
        on_batch=lambda _: sizes.append(len(projector._versions)),
    )
    assert max(sizes) <= 3  # cleared once above 2, then refilled by one batch
    for grid in ("a", "b", "c", "d"):
        view = await model.grid(grid)
        assert view is not None
        assert view.version == 5


async def test_a_rebuild_of_a_store_without_events_swaps_in_an_empty_generation() -> None:
    """Nothing to replay must not mean waiting for a first event that may never come."""
    model = InMemoryReadModel()
    before = await model.active_generation()
    result = await asyncio.wait_for(rebuild(InMemoryEventFeed(), model), timeout=30)
    assert (result.replaced, result.events) == (before, 0)
    assert await model.active_generation() == result.generation != before
    assert await model.checkpoint(result.generation) == Checkpoint(0)
