"""Redis back from an older dump (what a failover to a lagging replica does): the read model
catches up by itself to equal a rebuild, with the query service running or restarted."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from typing import Any

import pytest
from esdbclient import AsyncEventStoreDBClient
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from protos.rover.v1 import query_pb2, query_pb2_grpc
from services.query.adapters.esdb_feed import EsdbEventFeed
from services.query.adapters.redis_read_model import RedisReadModel
from services.query.application.errors import ReadModelUnavailableError
from services.query.application.rebuild import rebuild
from tests.integration.query.conftest import ServiceFactory, publish
from tests.support.redis_server import RedisServer
from tests.unit.query.seed import rover_walk, seed_history

pytestmark = pytest.mark.slow

Stubs = Callable[[int], "query_pb2_grpc.RoverQueryServiceAsyncStub"]


class RewindableRedis(RedisServer):
    """A private redis-server that can come back on its port from an older dump."""

    def __init__(self, *config: str) -> None:
        super().__init__(args=config)

    def save(self) -> None:
        """SAVE, then keep that dump aside."""
        with SyncRedis(port=self.port) as client:
            client.save()
        shutil.copy(self.dir / "dump.rdb", self.dir / "older.rdb")

    def rewind(self) -> None:
        """Stop, then start on the same port from the dump kept aside."""
        self.stop()
        shutil.copy(self.dir / "older.rdb", self.dir / "dump.rdb")
        self.start()


async def reached(stub: Any, grid_id: str, version: int) -> None:
    request = query_pb2.GetGridDetailsRequest(grid_id=grid_id, min_version=version)
    assert (await stub.GetGridDetails(request, timeout=30)).version >= version


async def equals_a_rebuild(url: str, esdb: AsyncEventStoreDBClient) -> None:
    """Wait (generously) until the live model holds what a rebuild of every event holds."""
    reference = RedisReadModel(Redis.from_url(url, decode_responses=True), "reference")
    live = RedisReadModel(Redis.from_url(url, decode_responses=True))
    try:
        expected = await reference.generation_rows(
            (await rebuild(EsdbEventFeed(esdb), reference)).generation
        )
        expected_position = _without_position(expected)
        rows: dict[str, dict[str, str]] = {}
        for _ in range(600):
            rows = await live.generation_rows(await live.active_generation())
            # The live checkpoint may lead: the filtered subscription's checkpoints move it over
            # other streams' events (the publisher's checkpoint, say) that a rebuild never sees.
            if _without_position(rows) >= expected_position and rows == expected:
                return
            await asyncio.sleep(0.1)
        differing = sorted(
            k for k in rows.keys() | expected.keys() if rows.get(k) != expected.get(k)
        )
        report = "\n".join(
            f"{k}:\n  live    {rows.get(k)}\n  rebuild {expected.get(k)}" for k in differing[:10]
        )
        raise AssertionError(f"{len(differing)} rows differ from a rebuild:\n{report}")
    finally:
        await reference.close()
        await live.close()


def _without_position(rows: dict[str, dict[str, str]]) -> int:
    """Take the checkpoint's position out of ``rows`` (returned: -1 if none)."""
    checkpoint = rows.get("checkpoint")
    return int(checkpoint.pop("position", -1)) if checkpoint is not None else -1


async def project_then_rewind(
    esdb: AsyncEventStoreDBClient, stub: Any, server: RewindableRedis
) -> None:
    """Grids a and b projected, a dump, more of both projected, Redis back from the dump."""
    a, b = rover_walk("a", rovers=2, moves=20)[:12], seed_history("b")
    await publish(esdb, a[:5])
    await publish(esdb, b[:3])
    await reached(stub, "a", 5)
    await reached(stub, "b", 3)
    server.save()
    await publish(esdb, a[5:])
    await publish(esdb, b[3:])
    await reached(stub, "a", 12)
    await reached(stub, "b", 7)
    server.rewind()


async def test_the_running_service_heals_a_rewound_read_model(
    esdb: AsyncEventStoreDBClient, query_service: ServiceFactory, stub_factory: Stubs
) -> None:
    with RewindableRedis() as server:
        async with query_service(redis_url=server.url) as running:
            await project_then_rewind(esdb, stub_factory(running.port), server)
            await equals_a_rebuild(server.url, esdb)  # no event follows the rewind


async def test_a_restarted_service_heals_a_rewound_read_model_written_to_since(
    esdb: AsyncEventStoreDBClient, query_service: ServiceFactory, stub_factory: Stubs
) -> None:
    with RewindableRedis() as server:
        async with query_service(redis_url=server.url) as running:
            stub = stub_factory(running.port)
            await project_then_rewind(esdb, stub, server)
            await publish(esdb, rover_walk("a", rovers=2, moves=20)[12:])  # a moves on, b not
            await reached(stub, "a", 22)
        async with query_service(redis_url=server.url):
            await equals_a_rebuild(server.url, esdb)


async def test_the_instance_is_the_run_id_and_a_restart_from_a_dump_changes_it() -> None:
    with RewindableRedis() as server:
        model = RedisReadModel(Redis.from_url(server.url, decode_responses=True))
        try:
            before = await model.instance()
            assert len(before) == 40  # INFO server's run_id
            server.save()
            server.rewind()
            after = ""
            for _ in range(50):  # the first call may still meet the connection Redis closed
                try:
                    after = await model.instance()
                    break
                except ReadModelUnavailableError:
                    await asyncio.sleep(0.1)
            assert after
            assert after != before
        finally:
            await model.close()


async def test_a_redis_that_does_not_answer_info_has_no_instance_to_tell() -> None:
    with RewindableRedis("--rename-command", "INFO", "") as server:
        model = RedisReadModel(Redis.from_url(server.url, decode_responses=True))
        try:
            assert await model.instance() == ""
        finally:
            await model.close()
