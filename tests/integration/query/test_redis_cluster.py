"""The query service on a three-master Redis Cluster: projection, queries, rebuild and swap
work; each grid's keys sit in one slot, the grids spread over the nodes, the replaced
generation is dropped on every node, and the rows equal a single Redis's. A dead master is an
outage (UNAVAILABLE) for its grids, then for all once the cluster declares itself down."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from esdbclient import AsyncEventStoreDBClient
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot as _key_slot

from protos.rover.v1 import admin_pb2, query_pb2
from services.common.lease import LeaseLostError
from services.query.adapters.esdb_feed import EsdbEventFeed
from services.query.adapters.redis_cluster_model import RedisClusterReadModel
from services.query.adapters.redis_connect import connect
from services.query.adapters.redis_lease import RedisLease
from services.query.adapters.redis_read_model import RedisReadModel, lease_key
from services.query.application.errors import GenerationChangedError
from services.query.application.ports import Checkpoint
from services.query.application.projection import project
from services.query.application.rebuild import rebuild
from tests.integration.query.admin_support import admin_stub, projected
from tests.integration.query.conftest import ServiceFactory, publish
from tests.support.redis_cluster import (  # noqa: F401
    RedisClusterGroup,
    redis_cluster,
    redis_cluster_url,
)
from tests.unit.query.seed import rover_walk, seed_history

pytestmark = pytest.mark.slow

_GRIDS = [f"g{n}" for n in range(12)]
_TAG = re.compile(r"\{([^}]*)\}")


def key_slot(grid_id: str) -> int:
    """The slot of a grid's keys: its id's, the hash tag."""
    return _key_slot(grid_id.encode())


def _keys_by_node(cluster: RedisClusterGroup) -> list[list[str]]:
    found = []
    for node in cluster.nodes:
        with SyncRedis(port=node.port, decode_responses=True) as client:
            found.append(list(client.scan_iter(match="rover:query:*", count=1000)))
    return found


async def test_projection_queries_rebuild_and_swap_on_a_cluster(
    esdb: AsyncEventStoreDBClient,
    query_service: ServiceFactory,
    redis_cluster: RedisClusterGroup,  # noqa: F811
    redis_cluster_url: str,  # noqa: F811
    redis_url: str,
) -> None:
    walks = [rover_walk(grid_id, rovers=2, moves=6) for grid_id in _GRIDS]
    for walk in walks:
        await publish(esdb, walk)
    await publish(esdb, seed_history("plateau"))
    async with (
        query_service(redis_url=redis_cluster_url) as running,
        admin_stub(running) as (admin, queries),
    ):
        for grid_id, walk in zip(_GRIDS, walks, strict=True):
            await projected(queries, grid_id, len(walk))
        await projected(queries, "plateau", 7)
        listed = await queries.ListGrids(query_pb2.ListGridsRequest(page_size=100))
        assert [g.grid_id for g in listed.grids] == sorted([*_GRIDS, "plateau"])
        rover = await queries.GetRover(query_pb2.GetRoverRequest(grid_id="plateau", rover_id="r1"))
        assert (rover.version, rover.rover.rover_id) == (7, "r1")

        # every key of a grid in one slot, the grids on every node
        slots: dict[str, set[int]] = defaultdict(set)
        nodes_of_grids = set()
        for index, keys in enumerate(_keys_by_node(redis_cluster)):
            with SyncRedis(port=redis_cluster.nodes[index].port) as client:
                for key in keys:
                    tag = _TAG.search(key)
                    assert tag is not None, key  # no key outside a hash tag
                    slots[tag.group(1)].add(int(client.cluster("KEYSLOT", key)))
                    if tag.group(1) != "meta":
                        nodes_of_grids.add(index)
        assert set(slots) == {*_GRIDS, "plateau", "meta"}
        assert all(len(found) == 1 for found in slots.values()), slots
        assert nodes_of_grids == {0, 1, 2}

        before = await running.parts.read_model.active_generation()
        steps = [s async for s in admin.Rebuild(admin_pb2.RebuildRequest())]
        assert steps[-1].done
        assert steps[-1].replaced == before
        after = await running.parts.read_model.active_generation()
        assert after != before
        leftovers = [k for keys in _keys_by_node(redis_cluster) for k in keys]
        assert not [k for k in leftovers if k.startswith(f"rover:query:g{before}:")]
        details = await queries.GetGridDetails(query_pb2.GetGridDetailsRequest(grid_id="g3"))
        assert details.version == len(walks[3])
        audits = [a async for a in admin.AuditGrids(admin_pb2.AuditGridsRequest())]
        assert len(audits) == len(_GRIDS) + 1
        assert not [a.grid_id for a in audits if a.drifted]
        rows = await running.parts.read_model.generation_rows(after)

    # the same rows as a rebuild into one Redis (the flat layout), but for the checkpoint
    flat = RedisReadModel(Redis.from_url(redis_url, decode_responses=True), "rover:query")
    try:
        expected = await flat.generation_rows((await rebuild(EsdbEventFeed(esdb), flat)).generation)
    finally:
        await flat.close()
    assert rows.pop("checkpoint")["events"] == expected.pop("checkpoint")["events"]
    assert rows == expected


async def test_a_dead_master_makes_its_grids_unavailable_then_the_whole_cluster(
    esdb: AsyncEventStoreDBClient, query_service: ServiceFactory
) -> None:
    with RedisClusterGroup(node_timeout_ms=3000) as cluster:
        for grid_id in _GRIDS:
            await publish(esdb, seed_history(grid_id))
        async with (
            query_service(redis_url=cluster.url) as running,
            admin_stub(running) as (_, queries),
        ):
            for grid_id in _GRIDS:
                await projected(queries, grid_id, 7)
            dead = cluster.nodes[2]
            with SyncRedis(port=dead.port) as client:
                served = {g for g in _GRIDS if client.cluster("COUNTKEYSINSLOT", key_slot(g))}
            alive = sorted(set(_GRIDS) - served)
            assert served
            assert alive
            dead.kill()
            for grid_id in alive:  # before the cluster notices (its node timeout)
                request = query_pb2.GetGridDetailsRequest(grid_id=grid_id)
                assert (await queries.GetGridDetails(request, timeout=30)).version == 7
            request = query_pb2.GetGridDetailsRequest(grid_id=min(served))
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await queries.GetGridDetails(request, timeout=30)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            # past the node timeout the cluster fails (CLUSTERDOWN): every read is an outage
            request = query_pb2.GetGridDetailsRequest(grid_id=alive[0])
            codes = []
            for _ in range(100):
                try:
                    await queries.GetGridDetails(request, timeout=30)
                except grpc.aio.AioRpcError as error:
                    codes.append(error.code())
                    break
                await asyncio.sleep(0.1)
            assert codes == [grpc.StatusCode.UNAVAILABLE]


@contextlib.asynccontextmanager
async def cluster_model(
    url: str, lease: bool = False
) -> AsyncIterator[tuple[RedisClusterReadModel, RedisCluster, RedisLease | None]]:
    """A read model on the cluster at ``url`` (prefix "t"), fenced by a lease when asked;
    its client and that lease."""
    clients = connect(url)
    assert isinstance(clients.text, RedisCluster)
    assert isinstance(clients.raw, RedisCluster)
    fence = RedisLease(clients.text, lease_key("t", tagged=True)) if lease else None
    try:
        model = RedisClusterReadModel(clients.text, "t", raw=clients.raw, lease=fence)
        yield model, clients.text, fence
    finally:
        await clients.close()


async def test_on_a_cluster_a_commit_after_the_lease_moved_on_writes_nothing(
    redis_cluster_url: str,  # noqa: F811
) -> None:
    async with cluster_model(redis_cluster_url, lease=True) as (model, client, first):
        assert first is not None
        generation = await model.active_generation()
        walks = [[project(e) for e in rover_walk(g, rovers=1, moves=3)] for g in _GRIDS]
        assert await first.acquire()
        batch = [u for walk in walks for u in walk[:2]]
        await model.commit(generation, batch, Checkpoint(10, 0, 2), must_be_active=True)
        await first.release()
        second = RedisLease(client, lease_key("t", tagged=True))
        assert await second.acquire()
        count = await model.commit_count()
        later = [u for walk in walks for u in walk[2:]]
        with pytest.raises(LeaseLostError):
            await model.commit(generation, later, Checkpoint(20, 0, 3), must_be_active=True)
        assert await model.commit_count() == count
        assert await model.checkpoint(generation) == Checkpoint(10, 0, 2)
        assert set((await model.grid_versions(generation, _GRIDS)).values()) == {2}


async def test_a_batch_a_swap_overtook_leaves_nothing_in_the_dropped_generation(
    redis_cluster_url: str,  # noqa: F811
) -> None:
    async with cluster_model(redis_cluster_url) as (model, _, _):
        old = await model.active_generation()
        walk = [project(e) for e in rover_walk("a", rovers=2, moves=3)]
        await model.commit(old, walk[:3], Checkpoint(10, 0, 3), must_be_active=True)
        new = await model.new_generation()
        await model.commit(new, walk[:3], Checkpoint(10, 0, 3), must_be_active=False)
        write_grids: Any = model._each_grid  # the race, made certain: checked, then swapped
        swapped: list[int | None] = []

        async def overtaken(*call: Any) -> Any:
            swapped.append(await model.swap(new))
            await model.drop_generation(old)
            return await write_grids(*call)

        model._each_grid = overtaken  # type: ignore[method-assign,assignment]
        batch = [*walk[3:], *(project(e) for e in seed_history("b"))]  # "b" is new
        with pytest.raises(GenerationChangedError):
            await model.commit(old, batch, Checkpoint(20, 0, 12), must_be_active=True)
        assert swapped == [old]
        assert await model.generation_rows(old) == {}
        assert (await model.grid_versions(new, ["a"]))["a"] == 3


async def test_a_node_that_lost_its_scripts_gets_them_and_no_grid_is_written_twice(
    redis_cluster: RedisClusterGroup,  # noqa: F811
    redis_cluster_url: str,  # noqa: F811
) -> None:
    async with cluster_model(redis_cluster_url) as (model, _, _):
        generation = await model.active_generation()
        walks = [[project(e) for e in rover_walk(g, rovers=1, moves=4)] for g in _GRIDS]
        await model.commit(
            generation, [u for w in walks for u in w[:3]], Checkpoint(1), must_be_active=True
        )
        with SyncRedis(port=redis_cluster.nodes[1].port) as client:
            client.script_flush()  # what a restarted or promoted node is like
        await model.commit(
            generation, [u for w in walks for u in w[3:]], Checkpoint(2), must_be_active=True
        )
        versions = await model.grid_versions(generation, _GRIDS)
        assert versions == {g: len(w) for g, w in zip(_GRIDS, walks, strict=True)}
