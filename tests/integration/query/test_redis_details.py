"""RedisReadModel's stored GridDetails stay right when its in-process cache is stale."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from services.query.adapters.redis_read_model import RedisReadModel
from services.query.application.errors import VersionConflictError
from services.query.application.ports import Checkpoint
from services.query.application.projection import project
from services.query.dto import encode_view
from tests.support.redis_server import redis_server, redis_url  # noqa: F401
from tests.unit.query.seed import rover_walk


async def _details_match(model: RedisReadModel, grid_id: str) -> bool:
    view = await model.grid(grid_id)
    document = await model.grid_document(grid_id)
    assert view is not None
    assert document is not None
    return document.version == view.version and document.details == encode_view(view)


async def test_two_writers_taking_turns_keep_the_details_right(redis_url: str) -> None:  # noqa: F811
    first = RedisReadModel(Redis.from_url(redis_url, decode_responses=True), "d")
    second = RedisReadModel(Redis.from_url(redis_url, decode_responses=True), "d")
    try:
        generation = await first.active_generation()
        history = [project(e) for e in rover_walk("g", 3, 20)]
        writers = [first, second]
        for turn, start in enumerate(range(0, len(history), 4)):
            batch = history[start : start + 4]
            await writers[turn % 2].commit(
                generation, batch, Checkpoint(start + 4), must_be_active=True
            )
            assert await _details_match(first, "g")
        # ``first`` cached an older version: its next batch is refused, then it reloads.
        more = [project(e) for e in rover_walk("g", 3, 24)][len(history) :]
        await second.commit(generation, more[:1], Checkpoint(100), must_be_active=True)
        with pytest.raises(VersionConflictError):
            await first.commit(generation, more[:2], Checkpoint(101), must_be_active=True)
        await first.commit(generation, more[1:2], Checkpoint(101), must_be_active=True)
        await first.commit(generation, more[2:], Checkpoint(102), must_be_active=True)
        assert await _details_match(second, "g")
    finally:
        await first.close()
        await second.close()


async def test_a_model_without_stored_details_still_answers(redis_url: str) -> None:  # noqa: F811
    model = RedisReadModel(Redis.from_url(redis_url, decode_responses=True), "old")
    raw: Redis = Redis.from_url(redis_url)
    try:
        generation = await model.active_generation()
        history = [project(e) for e in rover_walk("g", 2, 6)]
        await model.commit(generation, history[:5], Checkpoint(5), must_be_active=True)
        await raw.delete(model.generation_prefix(generation) + "grid:g:details")
        assert await _details_match(model, "g")
        fresh = RedisReadModel(Redis.from_url(redis_url, decode_responses=True), "old")
        await fresh.commit(generation, history[5:], Checkpoint(9), must_be_active=True)
        assert await _details_match(model, "g")
        await fresh.close()
    finally:
        await model.close()
        await raw.aclose()


@pytest.mark.parametrize("coalesce", [True, False], ids=["coalesced", "plain"])
async def test_concurrent_reads_each_get_their_grid(
    redis_url: str,  # noqa: F811
    coalesce: bool,
) -> None:
    model = RedisReadModel(
        Redis.from_url(redis_url, decode_responses=True), "many", coalesce_reads=coalesce
    )
    try:
        generation = await model.active_generation()
        for grid_id in ("a", "b"):
            history = [project(e) for e in rover_walk(grid_id, 2, 3)]
            await model.commit(generation, history, Checkpoint(len(history)), must_be_active=True)
        views = {g: await model.grid(g) for g in ("a", "b")}
        asked = ["a", "b", "a", "missing", "b", "a"]
        found = await asyncio.gather(*(model.grid_document(g) for g in asked))
        for grid_id, document in zip(asked, found, strict=True):
            view = views.get(grid_id)
            if view is None:
                assert document is None
            else:
                assert document is not None
                assert (document.version, document.details) == (view.version, encode_view(view))
    finally:
        await model.close()


@pytest.mark.parametrize("coalesce", [True, False], ids=["coalesced", "plain"])
async def test_a_cancelled_read_leaves_the_others_answered(
    redis_url: str,  # noqa: F811
    coalesce: bool,
) -> None:
    model = RedisReadModel(
        Redis.from_url(redis_url, decode_responses=True), "cancel", coalesce_reads=coalesce
    )
    try:
        generation = await model.active_generation()
        history = [project(e) for e in rover_walk("g", 1, 2)]
        await model.commit(generation, history, Checkpoint(len(history)), must_be_active=True)
        reads = [asyncio.create_task(model.grid_document("g")) for _ in range(3)]
        await asyncio.sleep(0)
        reads[1].cancel()
        first, third = await reads[0], await reads[2]
        with pytest.raises(asyncio.CancelledError):
            await reads[1]
        assert first is not None
        assert third == first
        assert first.version == len(history)
    finally:
        await model.close()


@pytest.mark.parametrize("coalesce", [True, False], ids=["coalesced", "plain"])
async def test_a_read_after_a_commit_sees_it(
    redis_url: str,  # noqa: F811
    coalesce: bool,
) -> None:
    model = RedisReadModel(
        Redis.from_url(redis_url, decode_responses=True), "ryw", coalesce_reads=coalesce
    )
    try:
        generation = await model.active_generation()
        history = [project(e) for e in rover_walk("g", 1, 6)]
        for n, update in enumerate(history, start=1):
            background = asyncio.create_task(model.grid_document("g"))  # keeps a read in flight
            await model.commit(generation, [update], Checkpoint(n), must_be_active=True)
            document = await model.grid_document("g")
            assert document is not None
            assert document.version == update.sequence
            await background
    finally:
        await model.close()
