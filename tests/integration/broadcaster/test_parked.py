"""A poison integration event meets the broadcaster: parked in ``rover-parked-broadcaster``,
the feed goes on for the other grids, health says so (real event store and gRPC)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from esdbclient import NewEvent, StreamState
from grpc_health.v1 import health_pb2

from services.broadcaster.bootstrap import PARKED_HEALTH
from services.common.esdb_parked import EsdbParkedEvents
from services.common.parked import BROADCASTER, ParkedEvent
from services.query.adapters.esdb_feed import EsdbEventFeed
from services.query.adapters.memory import InMemoryReadModel
from services.query.application.parked import ParkedReplays
from tests.integration.broadcaster.conftest import StartBroadcaster
from tests.integration.broadcaster.helpers import Appender, Watcher, new_grid_id
from tests.support.health import eventually, health_status
from tests.unit.broadcaster.scripts import GridScript

NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def test_a_garbage_event_is_parked_and_the_feed_goes_on(
    appender: Appender, start_broadcaster: StartBroadcaster
) -> None:
    broadcaster = await start_broadcaster()
    target = f"127.0.0.1:{broadcaster.port}"
    bystander, victim = GridScript(new_grid_id("beta")), new_grid_id("alpha")
    await appender.command(bystander, 3)
    watcher = asyncio.create_task(Watcher(target, str(bystander.grid_id), 0).run(until=8))
    garbage = NewEvent(
        type="GridCreated.v1", data=b"\x08\xff garbage", content_type="application/octet-stream"
    )
    await appender.client.append_to_stream(
        f"integration-{victim}", current_version=StreamState.NO_STREAM, events=garbage
    )
    await appender.command(bystander, 5)  # after the poison: still delivered
    watched = await watcher
    assert watched.error is None
    assert watched.sequences() == [1, 2, 3, 4, 5, 6, 7, 8]

    parked = EsdbParkedEvents(appender.client)

    async def victim_parked() -> list[ParkedEvent]:
        return [p for p in await parked.unresolved(BROADCASTER) if p.event.grid_id == victim]

    await eventually(lambda: _nonempty(victim_parked()))
    [record] = await victim_parked()
    assert record.event.stream == f"integration-{victim}"
    assert record.event.revision == 0
    assert record.event.event_type == "GridCreated.v1"
    assert record.event.reason
    await eventually(lambda: _parked_seen(broadcaster.parts.hub.count_parked()))
    assert broadcaster.parts.parked_count >= 1
    await eventually(lambda: _is(health_status(broadcaster.port, PARKED_HEALTH), NOT_SERVING))

    # A replay checks that the event now decodes: garbage does not, so it stays parked.
    replays = ParkedReplays(parked, EsdbEventFeed(appender.client), InMemoryReadModel())
    result = await replays.replay(record.parked_id, BROADCASTER)
    assert not result.resolved
    assert "not a rover.v1.IntegrationEvent" in result.reason


async def _nonempty(found: Awaitable[list[ParkedEvent]]) -> bool:
    return bool(await found)


async def _parked_seen(count: Awaitable[int]) -> bool:
    return await count >= 1


async def _is(status: Awaitable[int], wanted: int) -> bool:
    return await status == wanted
