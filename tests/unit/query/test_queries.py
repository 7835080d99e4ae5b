"""Query use cases with fakes: not found, invalid input, paging, read-your-writes waits."""

from __future__ import annotations

import asyncio

import pytest

from domain.errors import GridNotFoundError, RoverNotFoundError
from services.query.adapters.memory import InMemoryEventFeed, InMemoryReadModel
from services.query.application.errors import InvalidQueryError, VersionNotReachedError
from services.query.application.lag import LagLog, ProjectionLag
from services.query.application.projector import Projector
from services.query.application.queries import Queries, decode_page_token, encode_page_token
from services.query.application.watch import VersionWatch
from tests.unit.query.seed import rover_walk, seed_history


async def projected(*histories: list) -> tuple[InMemoryEventFeed, InMemoryReadModel]:  # type: ignore[type-arg]
    feed, model = InMemoryEventFeed(), InMemoryReadModel()
    for history in histories:
        feed.append(history)
    if feed.stored:
        last = feed.stored[-1].position
        await Projector(feed, model).run(until=lambda cp: cp.position >= last)
    return feed, model


async def test_grid_details_rover_and_not_found() -> None:
    _, model = await projected(seed_history("g1"))
    queries = Queries(model)
    assert (await queries.grid_details("g1")).version == 7
    rover, version = await queries.rover("g1", "r1")
    assert (rover.x, rover.y, rover.facing, version) == (1, 4, "E", 7)
    with pytest.raises(GridNotFoundError):
        await queries.grid_details("nope")
    with pytest.raises(GridNotFoundError):
        await queries.rover("nope", "r1")
    with pytest.raises(RoverNotFoundError):
        await queries.rover("g1", "r2")


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda q: q.grid_details("bad id"), "grid_id"),
        (lambda q: q.grid_details(""), "grid_id"),
        (lambda q: q.grid_details("g", -1), "min_version"),
        (lambda q: q.rover("g", "x" * 65), "rover_id"),
        (lambda q: q.list_grids(-1, ""), "page_size"),
        (lambda q: q.list_grids(1, "garbage!"), "page_token"),
        (lambda q: q.list_grids(1, encode_page_token("ok")[:-2] + "__"), "page_token"),
    ],
)
async def test_malformed_input_is_invalid(call, field) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidQueryError) as raised:
        await call(Queries(InMemoryReadModel()))
    assert raised.value.field == field


async def test_list_grids_pages_in_id_order() -> None:
    _, model = await projected(*(seed_history(f"g{i:02d}")[:2] for i in range(7)))
    queries = Queries(model)
    seen, token = [], ""
    while True:
        page = await queries.list_grids(3, token)
        seen += [g.grid_id for g in page.grids]
        token = page.next_page_token
        if not token:
            break
    assert seen == [f"g{i:02d}" for i in range(7)]
    first = (await queries.list_grids(0, "")).grids[0]
    assert (first.rover_count, first.version, first.topology) == (1, 2, "BOUNDED")
    assert decode_page_token(encode_page_token("g03")) == "g03"


async def test_min_version_waits_for_the_projector() -> None:
    history = rover_walk("g", rovers=1, moves=3)
    feed, model = await projected(history[:2])
    watch = VersionWatch()
    queries = Queries(model, watch=watch, max_wait_seconds=30, poll_seconds=30)
    waiting = asyncio.create_task(queries.grid_details("g", 5))
    await asyncio.sleep(0)
    assert not waiting.done()
    feed.append(history[2:])
    projector = Projector(feed, model, watch=watch)
    await projector.run(until=lambda cp: cp.position >= 5)
    assert (await waiting).version == 5  # woken by the watch, not by the 30 s poll


async def test_min_version_never_answers_stale() -> None:
    _, model = await projected(seed_history("g"))
    queries = Queries(model, max_wait_seconds=0.05, poll_seconds=0.01)
    with pytest.raises(VersionNotReachedError) as limit:
        await queries.grid_details("g", 8)
    assert not limit.value.by_deadline
    assert limit.value.projected == 7
    with pytest.raises(VersionNotReachedError) as deadline:
        await queries.grid_details("g", 8, deadline_seconds=0.01)
    assert deadline.value.by_deadline
    with pytest.raises(VersionNotReachedError):
        await queries.grid_details("unknown", 1)  # not created yet: wait, then retry


def _lag(events_behind: int, generation: int = 1) -> ProjectionLag:
    return ProjectionLag(
        generation=generation,
        checkpoint=10,
        head=10 + events_behind,
        events_behind=events_behind,
        capped=False,
        lag_ms=0,
    )


def test_the_lag_is_logged_when_it_changes_or_after_the_slow_interval() -> None:
    now = [0.0]
    policy = LagLog(every=300, clock=lambda: now[0])
    assert policy.due(_lag(0))  # the first measurement
    now[0] = 2
    assert not policy.due(_lag(0))  # unchanged: no line every 2 s
    now[0] = 4
    assert policy.due(_lag(5))  # behind: logged
    now[0] = 6
    assert policy.due(_lag(0))  # caught up: logged
    now[0] = 200
    assert not policy.due(_lag(0))
    assert policy.due(_lag(0, generation=2))  # a rebuild swapped generations
    now[0] = 501
    assert policy.due(_lag(0, generation=2))  # still alive: once per interval
