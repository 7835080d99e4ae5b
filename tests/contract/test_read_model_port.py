"""The ReadModel port's contract, run on the in-memory fake and on RedisReadModel alike."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from protos.rover.v1 import common_pb2
from services.common.envelope import Envelope
from services.query.adapters.memory import InMemoryReadModel
from services.query.adapters.redis_cluster_model import RedisClusterReadModel
from services.query.adapters.redis_connect import connect
from services.query.adapters.redis_read_model import RedisReadModel
from services.query.application.errors import (
    GenerationChangedError,
    ReadModelRewoundError,
    VersionConflictError,
)
from services.query.application.ports import Checkpoint, HashUpdate, ReadModel, RoverView
from services.query.application.projection import project
from services.query.dto import encode_view, grid_details_message
from tests.support.redis_cluster import redis_cluster, redis_cluster_url  # noqa: F401
from tests.support.redis_server import redis_server, redis_url  # noqa: F401
from tests.unit.query.seed import rover_walk, seed_history


@pytest.fixture(params=["memory", "redis", "cluster"])
async def model(request: pytest.FixtureRequest) -> AsyncIterator[ReadModel]:
    if request.param == "memory":
        yield InMemoryReadModel()
        return
    if request.param == "cluster":
        clients = connect(request.getfixturevalue("redis_cluster_url"))
        assert isinstance(clients.text, RedisCluster)
        assert isinstance(clients.raw, RedisCluster)
        yield RedisClusterReadModel(clients.text, "t", raw=clients.raw)
        await clients.close()
        return
    url = request.getfixturevalue("redis_url")
    redis_model = RedisReadModel(Redis.from_url(url, decode_responses=True), "t")
    yield redis_model
    await redis_model.close()


def updates(history: list[Envelope]) -> list[HashUpdate]:
    return [project(e) for e in history]


async def test_an_empty_model_has_an_active_generation_and_nothing_in_it(model: ReadModel) -> None:
    generation = await model.active_generation()
    assert await model.active_generation() == generation
    assert await model.checkpoint(generation) is None
    assert await model.grid("g") is None
    assert await model.rover("g", "r") is None
    assert await model.list_grids("", 10) == []
    assert await model.grid_versions(generation, ["g"]) == {"g": 0}


async def test_commit_applies_in_order_and_reads_back(model: ReadModel) -> None:
    generation = await model.active_generation()
    await model.commit(
        generation, updates(seed_history("g")), Checkpoint(9, 5, 7), must_be_active=True
    )
    view = await model.grid("g")
    assert view is not None
    assert (view.width, view.height, view.topology, view.version) == (6, 6, "BOUNDED", 7)
    assert view.obstacles == ((0, 5), (4, 4))
    assert view.rovers == (RoverView("r1", 1, 4, "E"),)
    assert await model.rover("g", "r1") == (RoverView("r1", 1, 4, "E"), 7)
    assert await model.rover("g", "r9") == (None, 7)
    assert await model.checkpoint(generation) == Checkpoint(9, 5, 7)
    assert await model.grid_versions(generation, ["g", "h"]) == {"g": 7, "h": 0}


async def test_commit_is_all_or_nothing_on_a_version_conflict(model: ReadModel) -> None:
    generation = await model.active_generation()
    history = updates(seed_history("g"))
    await model.commit(generation, history[:2], Checkpoint(2), must_be_active=True)
    before = await model.generation_rows(generation)
    with pytest.raises(VersionConflictError) as conflict:
        await model.commit(
            generation, [*history[2:4], history[5]], Checkpoint(9), must_be_active=True
        )
    assert (conflict.value.grid_id, conflict.value.actual) == ("g", 4)
    with pytest.raises(VersionConflictError):
        await model.commit(generation, history[1:3], Checkpoint(9), must_be_active=True)
    assert await model.generation_rows(generation) == before


async def test_the_checkpoint_never_moves_back(model: ReadModel) -> None:
    generation = await model.active_generation()
    await model.commit(generation, [], Checkpoint(50, 1, 3), must_be_active=True)
    await model.commit(generation, [], Checkpoint(40, 1, 2), must_be_active=True)
    assert await model.checkpoint(generation) == Checkpoint(50, 1, 3)


async def test_rovers_are_counted_once_and_listed_by_id(model: ReadModel) -> None:
    generation = await model.active_generation()
    await model.commit(
        generation, updates(rover_walk("b", 3, 4)), Checkpoint(8), must_be_active=True
    )
    await model.commit(generation, updates(seed_history("a")), Checkpoint(15), must_be_active=True)
    grids = await model.list_grids("", 10)
    assert [(g.grid_id, g.rover_count, g.version) for g in grids] == [("a", 1, 7), ("b", 3, 8)]
    assert [g.grid_id for g in await model.list_grids("a", 10)] == ["b"]
    assert [g.grid_id for g in await model.list_grids("", 1)] == ["a"]
    view = await model.grid("b")
    assert view is not None
    assert [r.rover_id for r in view.rovers] == ["r0000", "r0001", "r0002"]


async def test_generations_swap_atomically_only_when_caught_up(model: ReadModel) -> None:
    active = await model.active_generation()
    await model.commit(active, updates(seed_history("g")), Checkpoint(7), must_be_active=True)
    fresh = await model.new_generation()
    assert fresh != active
    await model.commit(fresh, updates(seed_history("g"))[:3], Checkpoint(3), must_be_active=False)
    assert await model.swap(fresh) is None  # behind the active one: refused
    assert (await model.grid("g")).version == 7  # type: ignore[union-attr]
    await model.commit(fresh, updates(seed_history("g"))[3:], Checkpoint(7), must_be_active=False)
    assert await model.generation_rows(fresh) == await model.generation_rows(active)
    assert await model.swap(fresh) == active
    assert await model.active_generation() == fresh
    with pytest.raises(GenerationChangedError):
        await model.commit(active, [], Checkpoint(8), must_be_active=True)
    await model.drop_generation(active)
    assert await model.generation_rows(active) == {}
    assert (await model.grid("g")).version == 7  # type: ignore[union-attr]


async def test_grid_document_is_the_serialised_grid_details(model: ReadModel) -> None:
    generation = await model.active_generation()
    history = updates(rover_walk("g", 4, 30))
    assert await model.grid_document("g") is None
    for start in range(0, len(history), 7):  # several commits: the details follow each one
        await model.commit(
            generation, history[start : start + 7], Checkpoint(start + 7), must_be_active=True
        )
        view = await model.grid("g")
        document = await model.grid_document("g")
        assert view is not None
        assert document is not None
        assert document.version == view.version
        assert document.details == encode_view(view)
        assert common_pb2.GridDetails.FromString(document.details) == grid_details_message(view)


async def test_commits_are_counted_and_one_behind_a_count_seen_writes_nothing(
    model: ReadModel,
) -> None:
    generation = await model.active_generation()
    history = updates(seed_history("g"))
    assert await model.commit_count() == 0
    assert (
        await model.commit(generation, history[:2], Checkpoint(5, 1, 2), must_be_active=True) == 1
    )
    assert await model.commit(generation, [], Checkpoint(3), must_be_active=True, not_before=1) == 2
    fresh = await model.new_generation()  # one count for every generation
    assert await model.commit(fresh, [], Checkpoint(1), must_be_active=False) == 3
    assert await model.commit_count() == 3
    before = await model.generation_rows(generation)
    with pytest.raises(ReadModelRewoundError) as behind:
        await model.commit(
            generation, history[2:4], Checkpoint(9), must_be_active=True, not_before=4
        )
    assert (behind.value.generation, behind.value.stored, behind.value.seen) == (generation, 3, 4)
    with pytest.raises(ReadModelRewoundError):  # checked before the versions
        await model.commit(
            generation, history[5:], Checkpoint(9), must_be_active=True, not_before=4
        )
    assert await model.generation_rows(generation) == before
    assert await model.commit_count() == 3
    count = await model.commit(
        generation, history[2:4], Checkpoint(9, 2, 4), must_be_active=True, not_before=3
    )
    assert count == 4
    assert await model.grid_versions(generation, ["g"]) == {"g": 4}
    assert await model.checkpoint(generation) == Checkpoint(9, 2, 4)


async def test_the_instance_id_stays_the_same_while_the_store_runs(model: ReadModel) -> None:
    first = await model.instance()
    assert first
    generation = await model.active_generation()
    await model.commit(generation, updates(seed_history("g")), Checkpoint(7), must_be_active=True)
    assert await model.instance() == first


async def test_replace_grid_makes_the_entry_exactly_the_fold_of_its_events(
    model: ReadModel,
) -> None:
    generation = await model.active_generation()
    walk = updates(rover_walk("g", 3, 9))
    await model.commit(generation, walk, Checkpoint(9), must_be_active=True)
    await model.commit(generation, updates(seed_history("h")), Checkpoint(20), must_be_active=True)
    expected_h = {k: v for k, v in (await model.generation_rows(generation)).items() if ":h" in k}
    # a model that drifted: the replacement is a different, shorter history of "g"
    short = updates(rover_walk("g", 1, 4))
    version = (await model.grid_versions(generation, ["g"]))["g"]
    count = await model.replace_grid(generation, "g", short, expected_version=version)
    assert count == await model.commit_count()
    fresh = InMemoryReadModel()
    fresh_generation = await fresh.active_generation()
    await fresh.commit(fresh_generation, short, Checkpoint(1), must_be_active=True)
    rows = await model.generation_rows(generation)
    wanted = await fresh.generation_rows(fresh_generation)

    def of_g(found: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        # the details document is checked below (the fake keeps none)
        return {k: v for k, v in found.items() if k.startswith("grid:g") and "details" not in k}

    assert of_g(rows) == of_g(wanted)
    assert {k: v for k, v in rows.items() if ":h" in k} == expected_h  # other grids untouched
    view = await model.grid("g")
    document = await model.grid_document("g")
    assert view is not None
    assert document is not None
    assert (view.version, [r.rover_id for r in view.rovers]) == (len(short), ["r0000"])
    assert document.details == encode_view(view)
    assert [g.grid_id for g in await model.list_grids("", 10)] == ["g", "h"]
    assert await model.checkpoint(generation) == Checkpoint(20)  # the checkpoint is not moved


async def test_replace_grid_writes_nothing_when_the_grid_moved_or_the_generation_changed(
    model: ReadModel,
) -> None:
    generation = await model.active_generation()
    history = updates(seed_history("g"))
    await model.commit(generation, history[:5], Checkpoint(5), must_be_active=True)
    before = await model.generation_rows(generation)
    with pytest.raises(VersionConflictError) as conflict:
        await model.replace_grid(generation, "g", history, expected_version=4)
    assert (conflict.value.grid_id, conflict.value.actual) == ("g", 5)
    with pytest.raises(VersionConflictError):
        await model.replace_grid(generation, "new", history, expected_version=1)
    fresh = await model.new_generation()
    with pytest.raises(GenerationChangedError):
        await model.replace_grid(fresh, "g", history, expected_version=0)
    assert await model.generation_rows(generation) == before
    assert await model.generation_rows(fresh) == {}
    await model.replace_grid(generation, "g", history, expected_version=5)
    # the live projector's next event is then a duplicate: a commit of version 6 conflicts
    with pytest.raises(VersionConflictError):
        await model.commit(generation, history[5:6], Checkpoint(6), must_be_active=True)
    await model.replace_grid(generation, "g", [], expected_version=7)
    assert await model.grid("g") is None
    assert await model.list_grids("", 10) == []
