"""Duplicates, reordering and gaps from a real subscription; crash and resume; rebuild under
load; read-your-writes. Redis, the event store and gRPC are real."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence

import pytest
from esdbclient import AsyncEventStoreDBClient
from redis.asyncio import Redis

from protos.rover.v1 import query_pb2, query_pb2_grpc
from services.query.adapters.esdb_feed import EsdbEventFeed
from services.query.adapters.redis_read_model import RedisReadModel
from services.query.application.ports import Checkpoint, FeedItem, HashUpdate
from services.query.application.projector import BatchOutcome, Projector, projected
from services.query.application.rebuild import rebuild
from services.query.settings import QuerySettings
from tests.integration.query.conftest import ServiceFactory, publish
from tests.unit.query.seed import rover_walk, seed_history

Stubs = Callable[[int], "query_pb2_grpc.RoverQueryServiceAsyncStub"]


def histories() -> list[list]:  # type: ignore[type-arg]
    return [seed_history("alpha"), rover_walk("beta", rovers=4, moves=40), seed_history("gamma")]


async def publish_all(esdb: AsyncEventStoreDBClient) -> int:
    total = 0
    for history in histories():
        for start in range(0, len(history), 5):  # interleave nothing, but several appends
            await publish(esdb, history[start : start + 5])
        total += len(history)
    return total


class ScrambledFeed(EsdbEventFeed):
    """The real subscription, delivered badly: duplicated, pairwise swapped, some dropped.

    The last event of each grid (``finals``) is delivered untouched: a lost LAST event has
    no successor to reveal the gap (a live projector heals it at the grid's next event).
    """

    finals: dict[str, int] = {}

    async def subscribe(self, after: int | None, max_batch: int) -> AsyncIterator[list[FeedItem]]:
        count = 0
        held: FeedItem | None = None
        async for batch in super().subscribe(after, max_batch):
            out: list[FeedItem] = []
            for item in batch:
                count += 1
                update = projected(item)
                if update is None or update.sequence >= self.finals[update.grid_id]:
                    out += [i for i in (held, item) if i is not None]
                    held = None
                    continue
                if count % 7 == 0:
                    continue  # lost: a later event of the grid must heal it
                if count % 5 == 0:
                    out += [item, item]  # delivered twice
                elif count % 3 == 0 and held is None:
                    held = item  # delivered after the next one
                    continue
                else:
                    out.append(item)
                if held is not None and item is not held:
                    out.append(held)
                    held = None
            yield out


def redis_model(url: str, prefix: str = "rover:query") -> RedisReadModel:
    return RedisReadModel(Redis.from_url(url, decode_responses=True), prefix)


async def rows_after_rebuild(settings: QuerySettings, esdb: AsyncEventStoreDBClient) -> dict:  # type: ignore[type-arg]
    """Rows of a from-scratch rebuild into a separate key prefix (the reference)."""
    reference = redis_model(settings.redis_url, "reference")
    result = await rebuild(EsdbEventFeed(esdb), reference)
    rows = await reference.generation_rows(result.generation)
    await reference.close()
    return rows


async def test_duplicates_reordering_and_gaps_end_equal_to_a_clean_projection(
    esdb: AsyncEventStoreDBClient, settings: QuerySettings
) -> None:
    total = await publish_all(esdb)
    model = redis_model(settings.redis_url)
    head = await EsdbEventFeed(esdb).head()
    assert head is not None
    scrambled = ScrambledFeed(esdb)
    scrambled.finals = {str(h[0].grid_id): len(h) for h in histories()}
    projector = Projector(scrambled, model, batch_size=4)
    outcomes: list[BatchOutcome] = []
    await projector.run(until=lambda cp: cp.position >= head.position, on_batch=outcomes.append)
    assert sum(o.applied + o.healed for o in outcomes) == total
    assert sum(o.healed for o in outcomes) > 0
    assert sum(o.duplicates for o in outcomes) > 0
    generation = await model.active_generation()
    rows = await model.generation_rows(generation)
    reference = await rows_after_rebuild(settings, esdb)
    rows.pop("checkpoint")
    reference.pop("checkpoint")
    assert rows == reference
    await model.close()


class KilledAfterWrite(RedisReadModel):
    """Dies right after the n-th commit landed in Redis, before the next event is handled."""

    kill_after = 0
    commits = 0

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
        KilledAfterWrite.commits += 1
        if KilledAfterWrite.commits == self.kill_after:
            raise SystemExit("killed between the Redis write and the next event")
        return count


@pytest.mark.parametrize("kill_after", [1, 4, 9])
async def test_killed_after_a_write_then_restarted_equals_a_rebuild(
    esdb: AsyncEventStoreDBClient, settings: QuerySettings, kill_after: int
) -> None:
    await publish_all(esdb)
    head = await EsdbEventFeed(esdb).head()
    assert head is not None
    KilledAfterWrite.commits = 0
    KilledAfterWrite.kill_after = kill_after
    victim = KilledAfterWrite(Redis.from_url(settings.redis_url, decode_responses=True))
    with pytest.raises(SystemExit):
        await Projector(EsdbEventFeed(esdb), victim, batch_size=5).run()
    await victim.close()
    restarted = redis_model(settings.redis_url)  # a new process: nothing in memory survives
    await Projector(EsdbEventFeed(esdb), restarted, batch_size=5).run(
        until=lambda cp: cp.position >= head.position
    )
    generation = await restarted.active_generation()
    rows = await restarted.generation_rows(generation)
    assert rows == await rows_after_rebuild(settings, esdb)  # checkpoint included
    assert rows["checkpoint"]["events"] == str(sum(len(h) for h in histories()))
    await restarted.close()


async def test_rebuild_while_queries_run_never_fails_or_shows_a_partial_model(
    esdb: AsyncEventStoreDBClient,
    settings: QuerySettings,
    query_service: ServiceFactory,
    stub_factory: Stubs,
) -> None:
    grids = [rover_walk(f"g{i:02d}", rovers=3, moves=30) for i in range(8)]
    for history in grids:
        await publish(esdb, history)
    final = {str(h[0].grid_id): len(h) for h in grids}
    async with query_service() as running:
        stub = stub_factory(running.port)
        for grid_id, version in final.items():
            await stub.GetGridDetails(
                query_pb2.GetGridDetailsRequest(grid_id=grid_id, min_version=version), timeout=30
            )
        before = await running.parts.read_model.active_generation()
        stop = asyncio.Event()
        answers = 0

        async def query_loop() -> None:
            nonlocal answers
            while not stop.is_set():
                for grid_id, version in final.items():
                    grid = await stub.GetGridDetails(
                        query_pb2.GetGridDetailsRequest(grid_id=grid_id)
                    )
                    assert grid.version == version
                    assert len(grid.rovers) == 3
                    answers += 1
                listed = await stub.ListGrids(query_pb2.ListGridsRequest())
                assert [(g.grid_id, g.version) for g in listed.grids] == list(final.items())

        loops = [asyncio.create_task(query_loop()) for _ in range(4)]
        feed = EsdbEventFeed(esdb)
        other = redis_model(settings.redis_url)  # the rebuild runs as its own client
        result = await rebuild(feed, other, batch_size=20)
        stop.set()
        await asyncio.gather(*loops)
        await other.close()
        assert result.replaced == before
        assert await running.parts.read_model.active_generation() == result.generation
        assert answers > 0
        more = rover_walk("g00", rovers=3, moves=31)[-1:]  # the live projector follows the swap
        await publish(esdb, more)
        grid = await stub.GetGridDetails(
            query_pb2.GetGridDetailsRequest(grid_id="g00", min_version=more[0].sequence),
            timeout=30,
        )
        assert grid.version == more[0].sequence


async def test_read_your_writes_with_min_version(
    esdb: AsyncEventStoreDBClient, query_service: ServiceFactory, stub_factory: Stubs
) -> None:
    history = seed_history("ryw")
    async with query_service() as running:
        stub = stub_factory(running.port)
        for event in history:
            await publish(esdb, [event])  # "the command is acknowledged" ...
            grid = await stub.GetGridDetails(  # ... and read at once
                query_pb2.GetGridDetailsRequest(grid_id="ryw", min_version=event.sequence),
                timeout=30,
            )
            assert grid.version == event.sequence
        assert running.parts.projector.checkpoint is not None
