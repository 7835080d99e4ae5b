"""Test helpers: a one-off gRPC health check, and polling until a condition holds."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

__all__ = ["eventually", "health_status"]


async def health_status(port: int, name: str) -> int:
    """``grpc.health.v1.Health/Check`` of ``name`` on 127.0.0.1:``port``."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
        return int(reply.status)


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``check`` until it holds (a hang guard, not a timing assertion)."""
    for _ in range(1_000):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition never became true")
