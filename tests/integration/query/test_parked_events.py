"""Poison integration events against the real event store, Redis and gRPC: parked, not
skipped or stalling; replayed after a fix.

A garbage event appended straight to ``integration-alpha`` is parked in
``rover-parked-projector``; a bystander grid keeps projecting; alpha stays at its last good
version (nothing out of order); health ``.../parked`` is NOT_SERVING and ``parked_count`` 1;
a restart finds the hold again without a second record. An event the decoder refuses (a
decoder bug, injected) is replayed once the decoder is fixed, and the held events follow.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from esdbclient import AsyncEventStoreDBClient, NewEvent
from grpc_health.v1 import health_pb2
from redis.asyncio import Redis

from protos.rover.v1.events_pb2 import IntegrationEvent
from services.common.envelope import Envelope
from services.common.esdb_parked import PARKED_EVENT_TYPE, RESOLVED_EVENT_TYPE, EsdbParkedEvents
from services.common.integration import IntegrationDecodeError, from_proto
from services.common.parked import PROJECTOR, parked_stream
from services.query.adapters.esdb_feed import EsdbEventFeed
from services.query.adapters.redis_read_model import RedisReadModel
from services.query.application.parked import ParkedReplays
from services.query.application.rebuild import rebuild
from services.query.bootstrap import PARKED_HEALTH, QueryApp
from services.query.settings import QuerySettings
from tests.integration.query.conftest import ServiceFactory, publish
from tests.support.health import eventually, health_status
from tests.unit.query.seed import rover_walk, seed_history

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def model(settings: QuerySettings) -> RedisReadModel:
    return RedisReadModel(Redis.from_url(settings.redis_url, decode_responses=True))


async def version(running: QueryApp, grid_id: str) -> int:
    view = await running.parts.read_model.grid(grid_id)
    return view.version if view is not None else 0


async def append_garbage(esdb: AsyncEventStoreDBClient, grid_id: str, revision: int) -> None:
    garbage = NewEvent(
        type="RoverMovedForward.v1",
        data=b"\xff\xfe not protobuf",
        content_type="application/octet-stream",
    )
    await esdb.append_to_stream(
        f"integration-{grid_id}", current_version=revision - 1, events=garbage
    )


async def parked_records(esdb: AsyncEventStoreDBClient, kind: str = PARKED_EVENT_TYPE) -> int:
    events = await esdb.get_stream(parked_stream(PROJECTOR))
    return sum(e.type == kind for e in events)


async def test_a_garbage_event_is_parked_and_only_its_grid_waits(
    esdb: AsyncEventStoreDBClient, settings: QuerySettings, query_service: ServiceFactory
) -> None:
    victim, bystander = rover_walk("alpha", rovers=2, moves=12), seed_history("beta")
    await publish(esdb, victim[:5])
    await append_garbage(esdb, "alpha", 5)  # sequence 6 is not an event at all
    async with query_service() as running:
        await publish(esdb, victim[6:])  # alpha's later events wait behind sequence 6
        await publish(esdb, bystander[:3])
        await eventually(lambda: _at(running, "beta", 3))
        assert await version(running, "alpha") == 5  # nothing out of order, nothing skipped
        await eventually(lambda: _count_is(running, 1))
        assert await health_status(running.port, PARKED_HEALTH) == NOT_SERVING
        assert await health_status(running.port, "") == SERVING  # degraded: it still answers
        assert running.parts.projector.held_events == len(victim) - 6
        [record] = await running.parts.parked.unresolved(PROJECTOR)
        assert record.event.stream == "integration-alpha"
        assert record.event.revision == 5
        assert record.event.grid_id == "alpha"
        assert record.event.event_type == "RoverMovedForward.v1"
        assert "not a rover.v1.IntegrationEvent" in record.event.reason
        assert record.event.commit_position > 0

    async with query_service() as restarted:  # from the checkpoint, past the poison
        await publish(esdb, rover_walk("alpha", rovers=2, moves=13)[len(victim) :])
        await publish(esdb, bystander[3:])
        await eventually(lambda: _at(restarted, "beta", len(bystander)))
        assert await version(restarted, "alpha") == 5
        await eventually(lambda: _count_is(restarted, 1))
        assert await health_status(restarted.port, PARKED_HEALTH) == NOT_SERVING
    assert await parked_records(esdb) == 1  # the hold found again: no second record

    read_model = model(settings)
    replays = ParkedReplays(EsdbParkedEvents(esdb), EsdbEventFeed(esdb), read_model)
    result = await replays.replay(record.parked_id)  # garbage stays garbage
    await read_model.close()
    assert not result.resolved
    assert "not a rover.v1.IntegrationEvent" in result.reason
    assert [p.parked_id for p in await replays.unresolved()] == [record.parked_id]


async def _at(running: QueryApp, grid_id: str, wanted: int) -> bool:
    return await version(running, grid_id) >= wanted


async def _count_is(running: QueryApp, wanted: int) -> bool:
    return running.parts.parked_count == wanted


def refusing(event_id: str) -> Callable[[IntegrationEvent], Envelope]:
    """The codec with a bug that refuses one event (what a release with a bug does)."""

    def decode(message: IntegrationEvent) -> Envelope:
        if message.event_id == event_id:
            raise IntegrationDecodeError(f"integration event {event_id!r}: unsupported")
        return from_proto(message)

    return decode


@contextlib.asynccontextmanager
async def buggy_service(
    query_service: ServiceFactory, esdb: AsyncEventStoreDBClient, poison: Envelope
) -> AsyncIterator[QueryApp]:
    feed = EsdbEventFeed(esdb, fast_projection=False, decode=refusing(str(poison.event_id)))
    async with query_service(feed=feed, parked=EsdbParkedEvents(esdb)) as running:
        yield running


async def test_after_the_fix_a_replay_applies_the_held_events_in_order(
    esdb: AsyncEventStoreDBClient, settings: QuerySettings, query_service: ServiceFactory
) -> None:
    victim = rover_walk("alpha", rovers=2, moves=20)
    poison = victim[7]
    await publish(esdb, victim[:12])
    async with buggy_service(query_service, esdb, poison) as running:
        await publish(esdb, victim[12:])
        await publish(esdb, seed_history("beta"))
        await eventually(lambda: _at(running, "beta", 1))
        await eventually(lambda: _count_is(running, 1))
        assert await version(running, "alpha") == poison.sequence - 1
        [record] = await running.parts.parked.unresolved(PROJECTOR)
        assert record.event.event_id == str(poison.event_id)  # stored under its own id
        assert record.event.sequence == poison.sequence

        read_model = model(settings)
        fixed = ParkedReplays(EsdbParkedEvents(esdb), EsdbEventFeed(esdb), read_model)
        result = await fixed.replay(record.parked_id)  # the admin RPC of the fixed release
        await read_model.close()
        assert result.resolved
        assert result.how == "replayed"
        assert result.applied == len(victim) - poison.sequence + 1
        assert await version(running, "alpha") == len(victim)
        assert await parked_records(esdb, RESOLVED_EVENT_TYPE) == 1
        await eventually(lambda: _count_is(running, 0))
        assert await health_status(running.port, PARKED_HEALTH) == SERVING

        more = rover_walk("alpha", rovers=2, moves=21)[len(victim) :]
        await publish(esdb, more)  # the live projector goes on with alpha
        await eventually(lambda: _at(running, "alpha", len(victim) + len(more)))

    reference = RedisReadModel(Redis.from_url(settings.redis_url, decode_responses=True), "ref")
    await rebuild(EsdbEventFeed(esdb), reference)
    live = model(settings)
    assert await live.grid("alpha") == await reference.grid("alpha")
    await reference.close()
    await live.close()
