"""Health follows the feed: NOT_SERVING while the event store is unreachable, SERVING again
once the feed is back, at start-up as after an outage; and no watcher misses anything."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from esdbclient import AsyncEventStoreDBClient
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.broadcaster.bootstrap import BroadcasterApp
from services.broadcaster.bootstrap import build as build_broadcaster
from services.broadcaster.grpc.servicer import SERVICE_NAME
from services.broadcaster.settings import BroadcasterSettings
from services.command.bootstrap import CommandApp, build
from services.command.settings import CommandSettings
from standins.eventstore.process import EventStoreProcess
from tests.integration.broadcaster.commands import GridDriver, command_stub
from tests.integration.broadcaster.helpers import SAFETY, Appender, Watcher, new_grid_id
from tests.unit.broadcaster.scripts import GridScript

pytestmark = pytest.mark.slow

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class HealthWatch:
    """A ``grpc.health.v1.Health/Watch`` call on the live service; ``until`` waits for a status."""

    def __init__(self, target: str) -> None:
        self._channel = grpc.aio.insecure_channel(target)
        self._stub = health_pb2_grpc.HealthStub(self._channel)
        self.seen: list[int] = []
        self._changed = asyncio.Condition()
        self._task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        request = health_pb2.HealthCheckRequest(service=SERVICE_NAME)
        async for response in self._stub.Watch(request, timeout=SAFETY):
            async with self._changed:
                self.seen.append(response.status)
                self._changed.notify_all()

    async def until(self, status: int) -> None:
        """Return once the latest status reported is ``status``."""
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self.seen) and self.seen[-1] == status)

    async def check(self) -> int:
        """A one-off ``Health/Check`` of the live service."""
        request = health_pb2.HealthCheckRequest(service=SERVICE_NAME)
        response = await self._stub.Check(request, timeout=SAFETY)
        return int(response.status)

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self._channel.close()


def _settings(uri: str) -> BroadcasterSettings:
    return BroadcasterSettings(
        broadcaster_address="127.0.0.1:0",
        eventstore_uri=uri,
        shutdown_grace_seconds=0.5,
        broadcaster_heartbeat_seconds=0.2,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStoreProcess]:
    """A store of this test's own, on disk, so that it can be stopped and started again."""
    with EventStoreProcess(db_path=str(tmp_path / "store.db")) as process:
        yield process


async def _command_service(uri: str) -> CommandApp:
    settings = CommandSettings(
        command_address="127.0.0.1:0", eventstore_uri=uri, shutdown_grace_seconds=0.5
    )
    service = build(settings)
    await service.start()
    return service


async def test_not_serving_while_the_store_is_down_and_watchers_miss_nothing(
    store: EventStoreProcess,
) -> None:
    broadcaster: BroadcasterApp = build_broadcaster(_settings(store.uri))
    target = f"127.0.0.1:{await broadcaster.start()}"
    health = HealthWatch(target)
    service = await _command_service(store.uri)
    try:
        await health.until(SERVING)
        async with grpc.aio.insecure_channel(service.address) as channel:
            driver = GridDriver(command_stub(channel), new_grid_id("outage"), rovers=2)
            await driver.run(10)
        finals: dict[str, int] = {}
        final: Callable[[], int | None] = lambda: finals.get(driver.grid_id)  # noqa: E731
        # One watcher stays connected through the outage; one leaves and resumes after it.
        staying = asyncio.create_task(Watcher(target, driver.grid_id, from_version=0).run(final))
        leaving = await Watcher(target, driver.grid_id, from_version=0).run(until=driver.version)

        await service.stop()
        store.terminate()
        await health.until(NOT_SERVING)
        assert await health.check() == NOT_SERVING

        store.restart()  # the same port and database
        await health.until(SERVING)
        assert await health.check() == SERVING
        service = await _command_service(store.uri)
        async with grpc.aio.insecure_channel(service.address) as channel:
            driver.stub = command_stub(channel)
            await driver.run(10)
        finals[driver.grid_id] = driver.version
        resumed = await Watcher(target, driver.grid_id, from_version=leaving.last).run(final)
        stayed = await staying
    finally:
        await service.stop()
        await health.close()
        await broadcaster.stop(grace=0.5)

    assert health.seen[-3:] == [SERVING, NOT_SERVING, SERVING]
    for watcher in (stayed, leaving, resumed):
        assert watcher.error is None, watcher.error
    assert stayed.sequences() == list(range(1, driver.version + 1))
    assert leaving.sequences() + resumed.sequences() == list(range(1, driver.version + 1))
    received = [u.event.event for u in stayed.updates if u.WhichOneof("update") == "event"]
    assert received == driver.events


async def test_starts_listening_not_serving_while_the_store_is_down() -> None:
    store = EventStoreProcess(db_path=None).start()
    store.kill()  # its port is known and nothing listens there
    broadcaster = build_broadcaster(_settings(store.uri))
    target = f"127.0.0.1:{await broadcaster.start()}"
    health = HealthWatch(target)
    try:
        assert await health.check() == NOT_SERVING
        store.restart()
        await health.until(SERVING)
        client = AsyncEventStoreDBClient(store.uri)
        await client.connect()
        appender = Appender(client)
        try:
            script = GridScript(new_grid_id("late"), rovers=1)
            await appender.command(script, 3)
        finally:
            appender.close()
            await client.close()
        watcher = await Watcher(target, script.grid_id, from_version=0).run(until=script.version)
    finally:
        await health.close()
        await broadcaster.stop(grace=0.5)
        store.kill()
    assert NOT_SERVING in health.seen
    assert health.seen[-1] == SERVING
    assert watcher.error is None, watcher.error
    assert watcher.sequences() == list(range(1, script.version + 1))
