"""Forged integration events against the real event store, Redis and gRPC: with integration
keys configured, an event our publisher did not sign never changes a read model.

Three forgeries, each appended straight to a grid's ``integration-*`` stream at its next
revision: one unsigned, one signed with another key, one carrying a genuine signature copied
from another grid's event. Each is parked with its reason (and counted), its grid stays at the
version its genuine events give, and a bystander grid keeps projecting. A replay of a parked
forgery checks the signature again and leaves it parked.
"""

from __future__ import annotations

import dataclasses
import json

from esdbclient import AsyncEventStoreDBClient
from pydantic import SecretStr
from redis.asyncio import Redis
from structlog.testing import capture_logs

from domain.events import RoverMovedForward
from domain.values import Position
from services.common.envelope import Envelope, integration_stream
from services.common.esdb_parked import EsdbParkedEvents
from services.common.integration import INTEGRATION_CONTENT_TYPE
from services.common.integration_signing import IntegrationKeys
from services.common.parked import PROJECTOR
from services.query.adapters.esdb_feed import EsdbEventFeed
from services.query.adapters.redis_read_model import RedisReadModel
from services.query.application.parked import ParkedReplays
from services.query.bootstrap import QueryApp
from services.query.settings import QuerySettings
from tests.integration.query.conftest import ServiceFactory, publish
from tests.support.forgery import forge
from tests.support.health import eventually
from tests.unit.query.seed import rover_walk, seed_history

KEY = "integration-key-of-this-test-0123456789"
OTHER_KEY = "a-key-the-attacker-made-up-0123456789"


async def publish_signed(
    client: AsyncEventStoreDBClient, history: list[Envelope], key: str = KEY
) -> None:
    """Append as our publisher does, signing with ``key``."""
    await publish(client, history, keys=IntegrationKeys([key.encode()]))


def far_away(envelope: Envelope) -> Envelope:
    """The same move, to a place its domain events never took the rover."""
    assert isinstance(envelope.event, RoverMovedForward)
    moved = dataclasses.replace(envelope.event, to_position=Position(999, 999_999))
    return dataclasses.replace(envelope, event=moved)


async def version(running: QueryApp, grid_id: str) -> int:
    view = await running.parts.read_model.grid(grid_id)
    return view.version if view is not None else 0


async def test_a_forged_integration_event_does_not_change_a_read_model(
    esdb: AsyncEventStoreDBClient, settings: QuerySettings, query_service: ServiceFactory
) -> None:
    unsigned, wrong_key, copied = (rover_walk(g, rovers=1, moves=6) for g in ("al", "ga", "de"))
    bystander = seed_history("beta")
    for history in (unsigned, wrong_key, copied):
        await publish_signed(esdb, history[:4])
    await forge(esdb, far_away(unsigned[4]))  # no signature at all
    await publish_signed(esdb, [far_away(wrong_key[4])], key=OTHER_KEY)
    # a genuine signature, lifted from another grid's event at the same place
    [genuine] = await esdb.get_stream(integration_stream("al"), stream_position=3, limit=1)
    await forge(esdb, far_away(copied[4]), metadata=genuine.metadata)

    with capture_logs() as logs:
        async with query_service(integration_keys=SecretStr(KEY)) as running:
            await publish_signed(esdb, bystander)
            await eventually(lambda: _at(running, "beta", len(bystander)))
            await eventually(lambda: _parked(running, 3))
            for grid_id in ("al", "ga", "de"):
                assert await version(running, grid_id) == 4  # its genuine events, nothing more
                rover = await running.parts.read_model.rover(grid_id, "r0000")
                assert rover is not None
                assert rover[0] is not None
                assert (rover[0].x, rover[0].y) == (0, 2)  # two genuine moves
            records = {p.event.grid_id: p for p in await running.parts.parked.unresolved(PROJECTOR)}
            assert "not signed" in records["al"].event.reason
            assert "unknown key" in records["ga"].event.reason
            assert "does not match" in records["de"].event.reason
            assert all(r.event.revision == 4 for r in records.values())
            await eventually(lambda: _counted(running, 3))  # rover_parked_events{projector}
    untrusted = [r for r in logs if r["event"] == "untrusted integration event"]
    assert {r["stream"] for r in untrusted} == {
        "integration-al",
        "integration-ga",
        "integration-de",
    }
    assert all(r["reason"] and r["log_level"] == "warning" for r in untrusted)

    read_model = RedisReadModel(Redis.from_url(settings.redis_url, decode_responses=True))
    keys = IntegrationKeys([KEY.encode()])
    replays = ParkedReplays(EsdbParkedEvents(esdb), EsdbEventFeed(esdb, keys=keys), read_model)
    result = await replays.replay(records["al"].parked_id)  # verified again: still forged
    await read_model.close()
    assert not result.resolved
    assert "not signed" in result.reason


async def test_signed_events_carry_the_fields_foreign_consumers_read(
    esdb: AsyncEventStoreDBClient,
) -> None:
    history = seed_history("sig")
    await publish_signed(esdb, history[:1])
    [stored] = await esdb.get_stream(integration_stream("sig"))
    metadata = json.loads(stored.metadata)
    assert metadata["$causationId"] == ""  # the seed's envelopes name no cause
    assert metadata["roverSignature"].startswith("v1.")
    assert stored.content_type == INTEGRATION_CONTENT_TYPE


async def _at(running: QueryApp, grid_id: str, wanted: int) -> bool:
    return await version(running, grid_id) >= wanted


async def _counted(running: QueryApp, wanted: int) -> bool:
    return running.parts.parked_count == wanted


async def _parked(running: QueryApp, wanted: int) -> bool:
    return len(await running.parts.parked.unresolved(PROJECTOR)) >= wanted
