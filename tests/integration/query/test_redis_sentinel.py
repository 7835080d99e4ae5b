"""The read model behind Redis Sentinel: the master is killed under load, the sentinels promote
a replica that missed the last writes, and the query service follows it: every write is read
back (min_version), and the model heals to equal a rebuild without one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc
import pytest
from esdbclient import AsyncEventStoreDBClient

from protos.rover.v1 import query_pb2, query_pb2_grpc
from services.common.envelope import Envelope
from tests.integration.query.conftest import ServiceFactory, publish
from tests.integration.query.test_redis_rewind import equals_a_rebuild
from tests.support.redis_sentinel import SentinelGroup
from tests.unit.query.seed import rover_walk

pytestmark = pytest.mark.slow

Stubs = Callable[[int], "query_pb2_grpc.RoverQueryServiceAsyncStub"]
_STEP = 3  # events published at a time, each step read back before the next
_COMMITS = "rover:query:commits"  # the read model's commit counter (docs/read-model.md)


async def read_back(
    stub: query_pb2_grpc.RoverQueryServiceAsyncStub, grid_id: str, version: int
) -> None:
    """GetGridDetails(min_version) until it answers (UNAVAILABLE while there is no master)."""
    request = query_pb2.GetGridDetailsRequest(grid_id=grid_id, min_version=version)
    for _ in range(300):
        try:
            reply = await stub.GetGridDetails(request, timeout=10)
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            await asyncio.sleep(0.1)
            continue
        assert reply.version >= version, (grid_id, reply.version, version)
        return
    raise AssertionError(f"{grid_id} never read back at version {version}")


async def write_and_read(
    esdb: AsyncEventStoreDBClient,
    stub: query_pb2_grpc.RoverQueryServiceAsyncStub,
    history: list[Envelope],
) -> None:
    """Publish ``history`` a few events at a time, reading each step back before the next."""
    for start in range(0, len(history), _STEP):
        step = history[start : start + _STEP]
        await publish(esdb, step)
        await read_back(stub, step[0].grid_id, step[-1].sequence)


async def test_queries_follow_a_failover_and_the_lost_writes_are_projected_again(
    esdb: AsyncEventStoreDBClient, query_service: ServiceFactory, stub_factory: Stubs
) -> None:
    a, b, c = (rover_walk(grid_id, rovers=2, moves=40) for grid_id in ("a", "b", "c"))
    with SentinelGroup() as group:
        first = group.master.port
        async with query_service(redis_url=group.url, query_rewind_check_seconds=0.2) as running:
            stub = stub_factory(running.port)
            await write_and_read(esdb, stub, a[:9])
            await asyncio.to_thread(group.freeze_replica)
            await write_and_read(esdb, stub, a[9:15])  # on the master only
            background = asyncio.ensure_future(
                asyncio.gather(write_and_read(esdb, stub, b), write_and_read(esdb, stub, c))
            )
            await read_back(stub, "b", 2 * _STEP)  # under load
            seen = await asyncio.to_thread(group.commits, first, _COMMITS)
            await asyncio.to_thread(group.kill_master)
            await asyncio.to_thread(group.thaw_replica)
            assert group.replica is not None
            kept = await asyncio.to_thread(group.commits, group.replica.port, _COMMITS)
            assert kept < seen  # the replica missed writes the queries had read
            promoted = await asyncio.to_thread(group.wait_for_failover, first)
            assert promoted == group.replica.port
            await write_and_read(esdb, stub, a[15:])
            await background
            await equals_a_rebuild(f"redis://127.0.0.1:{promoted}/0", esdb)
