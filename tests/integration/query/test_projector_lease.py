"""One projector at a time among query instances: a Redis lease, and commits fenced by it."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from esdbclient import AsyncEventStoreDBClient
from redis.asyncio import Redis
from structlog.testing import capture_logs

from services.common.lease import LeaseLostError, new_holder_id
from services.query.adapters.redis_lease import RedisLease
from services.query.adapters.redis_read_model import RedisReadModel, lease_key
from services.query.application.ports import Checkpoint
from services.query.application.projection import project
from services.query.bootstrap import QueryApp
from tests.integration.query.conftest import ServiceFactory, publish
from tests.integration.query.test_redis_rewind import equals_a_rebuild, reached
from tests.unit.query.seed import rover_walk

Stubs = Callable[[int], Any]


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


def dead_holder() -> str:
    """The holder id of a process of this host that has exited."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return f"{new_holder_id().split(':')[0]}:{int(done.stdout)}:gone"


async def test_one_holder_at_a_time_and_release_hands_over(redis: Redis) -> None:
    first, second = RedisLease(redis, "t:lease"), RedisLease(redis, "t:lease")
    assert await first.acquire()
    assert await first.acquire()  # still ours
    assert not await second.acquire()
    assert second.current_holder() == first.holder
    assert await first.renew()
    assert not await second.renew()
    await first.release()
    assert await second.acquire()
    assert not await first.renew()


async def test_an_unrenewed_lease_expires_in_redis(redis: Redis) -> None:
    first = RedisLease(redis, "t:lease", ttl=0.2)
    second = RedisLease(redis, "t:lease", ttl=0.2)
    assert await first.acquire()
    assert not await second.acquire()
    await asyncio.sleep(0.3)  # Redis itself expires the key
    assert await second.acquire()
    assert not await first.renew()


async def test_a_holder_that_died_on_this_host_is_replaced_at_once(redis: Redis) -> None:
    dead = RedisLease(redis, "t:lease", holder=dead_holder(), ttl=60)
    assert await dead.acquire()
    alive = RedisLease(redis, "t:lease", ttl=60)
    assert await alive.acquire()


async def test_a_commit_after_the_lease_moved_on_is_refused_and_writes_nothing(
    redis: Redis,
) -> None:
    first = RedisLease(redis, lease_key("t"))
    model = RedisReadModel(redis, "t", lease=first)
    generation = await model.active_generation()
    walk = [project(e) for e in rover_walk("a", rovers=1, moves=3)]
    assert await first.acquire()
    await model.commit(generation, walk[:2], Checkpoint(10, 0, 2), must_be_active=True)
    await first.release()
    second = RedisLease(redis, lease_key("t"))
    assert await second.acquire()
    count = await model.commit_count()
    with pytest.raises(LeaseLostError):
        await model.commit(generation, walk[2:], Checkpoint(20, 0, 3), must_be_active=True)
    assert await model.commit_count() == count
    assert await model.checkpoint(generation) == Checkpoint(10, 0, 2)
    assert (await model.grid_versions(generation, ["a"]))["a"] == 2


@contextlib.asynccontextmanager
async def instances(start: ServiceFactory, count: int) -> AsyncIterator[list[QueryApp]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(start()) for _ in range(count)]


async def active(apps: list[QueryApp], within: float = 15.0) -> QueryApp:
    """The one instance projecting, once exactly one is."""
    for _ in range(round(within / 0.05)):
        projecting = [app for app in apps if app.parts.projecting]
        if len(projecting) == 1:
            return projecting[0]
        assert len(projecting) < 2, "two instances project at once"
        await asyncio.sleep(0.05)
    raise AssertionError(f"no instance became active within {within} s")


async def test_two_instances_project_once_and_the_standby_takes_over(
    esdb: AsyncEventStoreDBClient,
    query_service: ServiceFactory,
    stub_factory: Stubs,
    redis_url: str,
) -> None:
    walk = rover_walk("a", rovers=2, moves=40)
    with capture_logs() as logs:
        async with instances(query_service, 2) as apps:
            first = await active(apps)
            standby = next(app for app in apps if app is not first)
            await publish(esdb, walk[:20])
            for app in apps:  # both answer; the standby reads what the active one wrote
                await reached(stub_factory(app.port), "a", 20)
            assert not standby.parts.projecting
            await first.stop()  # releases the lease on the way out
            assert await active([standby], within=10.0) is standby
            await publish(esdb, walk[20:])
            await reached(stub_factory(standby.port), "a", len(walk))
            await equals_a_rebuild(redis_url, esdb)
    retries = [log for log in logs if log["event"] == "read model version differs; re-reading"]
    assert retries == []  # no two projectors wrote the same grids
