"""The projector parks an event whose projection fails, holds its grid, and a replay after
the fix applies the held events in order (in-memory fakes; the store-backed forms are in
tests/integration/query/test_parked_events.py)."""

from __future__ import annotations

import pytest

from services.common.envelope import Envelope
from services.common.parked import PROJECTOR, InMemoryParkedEvents, parked_id
from services.query.adapters.memory import InMemoryEventFeed, InMemoryReadModel
from services.query.application.errors import ParkedEventNotFoundError
from services.query.application.parked import ParkedReplays, ReplayResult
from services.query.application.poison import Projection
from services.query.application.ports import HashUpdate
from services.query.application.projection import project
from services.query.application.projector import Projector
from tests.unit.query.seed import rover_walk, seed_history


def failing_at(grid_id: str, sequence: int) -> tuple[list[bool], Projection]:
    """A projection with a bug for one event; ``fixed[0] = True`` fixes it."""
    fixed = [False]

    def projection(envelope: Envelope) -> HashUpdate:
        if not fixed[0] and envelope.grid_id == grid_id and envelope.sequence == sequence:
            raise KeyError("a case the projection does not know")
        return project(envelope)

    return fixed, projection


async def version(model: InMemoryReadModel, grid_id: str) -> int:
    view = await model.grid(grid_id)
    return view.version if view is not None else 0


async def test_a_failing_projection_parks_the_event_and_holds_only_its_grid() -> None:
    feed, model, parked = InMemoryEventFeed(), InMemoryReadModel(), InMemoryParkedEvents()
    victim, bystander = rover_walk("alpha", rovers=2, moves=10), seed_history("beta")
    feed.append(victim[:6])
    feed.append(bystander)
    feed.append(victim[6:])
    fixed, projection = failing_at("alpha", 4)
    projector = Projector(feed, model, batch_size=3, parked=parked, projection=projection)
    last = feed.stored[-1].position
    await projector.run(until=lambda cp: cp.position >= last)

    assert await version(model, "alpha") == 3  # nothing after the poison, nothing out of order
    assert await version(model, "beta") == len(bystander)
    assert projector.checkpoint is not None
    assert projector.checkpoint.position == last
    assert projector.held_events == len(victim) - 4
    [record] = await parked.unresolved(PROJECTOR)
    assert record.parked_id == parked_id(PROJECTOR, str(victim[3].event_id))
    assert (record.event.grid_id, record.event.sequence) == ("alpha", 4)
    assert record.event.stream == "integration-alpha"
    assert record.event.revision == 3
    assert "projection failed" in record.event.reason

    replays = ParkedReplays(parked, feed, model, projection=projection)
    still = await replays.replay(record.parked_id)
    assert not still.resolved
    assert "projection failed" in still.reason
    assert await parked.count(PROJECTOR) == 1

    fixed[0] = True  # the fix is deployed
    done: ReplayResult = await replays.replay(record.parked_id)
    assert done.resolved
    assert done.how == "replayed"
    assert done.applied == len(victim) - 3
    assert await version(model, "alpha") == len(victim)
    assert await parked.count(PROJECTOR) == 0

    reference = InMemoryReadModel()  # the same grid projected without a fault
    clean = InMemoryEventFeed()
    clean.append(victim)
    await Projector(clean, reference).run(until=lambda cp: cp.position >= len(victim))
    assert await model.grid("alpha") == await reference.grid("alpha")


async def test_the_live_projector_goes_on_with_a_grid_once_it_is_replayed() -> None:
    feed, model, parked = InMemoryEventFeed(), InMemoryReadModel(), InMemoryParkedEvents()
    victim = rover_walk("alpha", rovers=1, moves=8)
    feed.append(victim[:5])
    fixed, projection = failing_at("alpha", 3)
    projector = Projector(feed, model, batch_size=2, parked=parked, projection=projection)
    await projector.run(until=lambda cp: cp.position >= 5)
    assert await version(model, "alpha") == 2
    fixed[0] = True
    [record] = await parked.unresolved(PROJECTOR)
    await ParkedReplays(parked, feed, model).replay(record.parked_id)
    assert await version(model, "alpha") == 5
    feed.append(victim[5:])
    await projector.run(until=lambda cp: cp.position >= len(victim))
    assert await version(model, "alpha") == len(victim)


async def test_an_unknown_parked_id_is_not_found() -> None:
    replays = ParkedReplays(InMemoryParkedEvents(), InMemoryEventFeed(), InMemoryReadModel())
    with pytest.raises(ParkedEventNotFoundError, match="nope"):
        await replays.replay("nope")
