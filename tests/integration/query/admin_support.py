"""Helpers of the admin API's integration tests: a stub on a running query service, a drift
planted straight into Redis, and a wait for a grid's projected version."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import grpc
from redis.asyncio import Redis

from protos.rover.v1 import admin_pb2_grpc, query_pb2, query_pb2_grpc
from services.query.bootstrap import QueryApp
from services.query.settings import QuerySettings


@contextlib.asynccontextmanager
async def admin_stub(
    running: QueryApp,
) -> AsyncIterator[
    tuple[admin_pb2_grpc.RoverAdminServiceAsyncStub, query_pb2_grpc.RoverQueryServiceAsyncStub]
]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        admin: admin_pb2_grpc.RoverAdminServiceAsyncStub = admin_pb2_grpc.RoverAdminServiceStub(
            channel
        )
        queries: query_pb2_grpc.RoverQueryServiceAsyncStub = query_pb2_grpc.RoverQueryServiceStub(
            channel
        )
        yield admin, queries


async def projected(
    queries: query_pb2_grpc.RoverQueryServiceAsyncStub, grid_id: str, version: int
) -> None:
    """Wait until the read model has ``grid_id`` at ``version`` (read-your-writes)."""
    await queries.GetGridDetails(
        query_pb2.GetGridDetailsRequest(grid_id=grid_id, min_version=version), timeout=30
    )


async def plant_drift(running: QueryApp, settings: QuerySettings, grid_id: str) -> None:
    """What no event says: the grid's width in its hash, and a phantom rover."""
    generation = await running.parts.read_model.active_generation()
    key = f"{settings.redis_key_prefix}:g{generation}:grid:{grid_id}"
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        await redis.hset(key, "width", "99")
        await redis.zadd(f"{key}:rovers", {"ghost": 0})
        await redis.hset(f"{key}:rover:ghost", mapping={"x": "0", "y": "0", "facing": "N"})
    finally:
        await redis.aclose()
