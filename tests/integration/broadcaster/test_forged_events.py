"""A forged integration event meets a broadcaster with integration keys: no watcher receives
it, live or from the store; it is parked with its reason (real event store and gRPC)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Iterator

import grpc
import pytest
from pydantic import SecretStr

from domain.values import GridId
from services.broadcaster.bootstrap import BroadcasterApp
from services.common.esdb_parked import EsdbParkedEvents
from services.common.integration_signing import IntegrationKeys
from services.common.parked import BROADCASTER, ParkedEvent
from standins.eventstore.process import EventStoreProcess
from tests.integration.broadcaster.conftest import StartBroadcaster
from tests.integration.broadcaster.helpers import Appender, Watcher, new_grid_id
from tests.support.forgery import forge
from tests.support.health import eventually
from tests.unit.broadcaster.scripts import GridScript

KEY = "broadcaster-test-integration-key-0123"


@pytest.fixture(scope="module")
def esdb_uri() -> Iterator[str]:
    """A store of this module's own: its parked forgeries are not the other tests' to count."""
    with EventStoreProcess(db_path=None) as process:
        yield process.uri


@pytest.fixture
async def signed(appender: Appender) -> AsyncIterator[Appender]:
    """Appends as our publisher does, signing with ``KEY``."""
    signing = Appender(appender.client, IntegrationKeys([KEY.encode()]))
    try:
        yield signing
    finally:
        signing.close()


@pytest.fixture
async def broadcaster(start_broadcaster: StartBroadcaster) -> BroadcasterApp:
    """A broadcaster that verifies with ``KEY``."""
    return await start_broadcaster(integration_keys=SecretStr(KEY))


async def test_a_forged_event_is_not_delivered_to_watchers(
    appender: Appender, signed: Appender, broadcaster: BroadcasterApp
) -> None:
    target = f"127.0.0.1:{broadcaster.port}"
    victim, bystander = (GridScript(new_grid_id(p)) for p in ("alpha", "beta"))
    await signed.command(victim, 3)
    await signed.command(bystander, 1)
    victim_watcher = Watcher(target, str(victim.grid_id), 0)
    live = asyncio.create_task(victim_watcher.run(until=100))
    bystanding = asyncio.create_task(Watcher(target, str(bystander.grid_id), 0).run(until=4))
    await eventually(lambda: _has_watchers(broadcaster, 2))

    # A GridCreated again (valid protobuf, the next sequence), appended unsigned.
    genuine = GridScript(str(victim.grid_id)).next()
    await forge(appender.client, dataclasses.replace(genuine[0], sequence=victim.version + 1))
    await signed.command(bystander, 3)  # the feed is ordered: these come after the forgery
    watched = await bystanding
    assert watched.error is None
    assert watched.sequences() == [1, 2, 3, 4]

    live.cancel()
    await asyncio.gather(live, return_exceptions=True)
    assert victim_watcher.sequences() == list(range(1, victim.version + 1))

    parked = EsdbParkedEvents(appender.client)

    async def victim_parked() -> list[ParkedEvent]:
        return [
            p for p in await parked.unresolved(BROADCASTER) if p.event.grid_id == victim.grid_id
        ]

    await eventually(lambda: _nonempty(victim_parked()))
    [record] = await victim_parked()
    assert "not signed" in record.event.reason
    assert record.event.revision == victim.version

    # From the store: the history stops the watch before the forgery, with a reason.
    for from_version in (0, None):
        again = await Watcher(target, str(victim.grid_id), from_version).run(until=100)
        assert again.error is not None
        assert again.error.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "untrusted integration event" in str(again.error.details())
        assert victim.version + 1 not in again.sequences()


async def test_a_watch_never_receives_an_event_past_a_forgery(
    appender: Appender, signed: Appender, broadcaster: BroadcasterApp
) -> None:
    target = f"127.0.0.1:{broadcaster.port}"
    grid = GridScript(new_grid_id("gamma"))
    await signed.command(grid, 2)
    watcher = Watcher(target, str(grid.grid_id), 0)
    task = asyncio.create_task(watcher.run(until=100))
    await eventually(lambda: _has_watchers(broadcaster, 1))
    await signed.command(grid, 1)
    await eventually(lambda: _received(watcher, grid.version))
    await forge(appender.client, dataclasses.replace(grid.history[-1], sequence=grid.version + 1))
    parked = EsdbParkedEvents(appender.client)
    await eventually(lambda: _parked_for(parked, grid.grid_id))
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert watcher.sequences() == list(range(1, grid.version + 1))


async def _has_watchers(broadcaster: BroadcasterApp, wanted: int) -> bool:
    return broadcaster.parts.watch.watching >= wanted


async def _received(watcher: Watcher, sequence: int) -> bool:
    return sequence in watcher.sequences()


async def _parked_for(parked: EsdbParkedEvents, grid_id: GridId) -> bool:
    return any(p.event.grid_id == grid_id for p in await parked.unresolved(BROADCASTER))


async def _nonempty(found: Awaitable[list[ParkedEvent]]) -> bool:
    return bool(await found)
