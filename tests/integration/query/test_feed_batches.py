"""EsdbEventFeed batches: catching up, a short batch lingers for more; nothing is lost."""

from __future__ import annotations

from esdbclient import AsyncEventStoreDBClient

from services.query.adapters.esdb_feed import EsdbEventFeed
from services.query.application.projector import projected
from tests.integration.query.conftest import publish
from tests.unit.query.seed import rover_walk


async def _read_all(feed: EsdbEventFeed, total: int) -> list[list[int]]:
    batches: list[list[int]] = []
    seen = 0
    async for batch in feed.subscribe(None, 50):
        sequences = [u.sequence for u in map(projected, batch) if u is not None]
        batches.append(sequences)
        seen += len(sequences)
        if seen >= total:
            break
    return batches


async def test_catching_up_delivers_every_event_once_in_order(
    esdb: AsyncEventStoreDBClient,
) -> None:
    history = rover_walk("g", 3, 120)
    await publish(esdb, history)
    for feed in (
        EsdbEventFeed(esdb, linger_seconds=0.002, catchup_after_ms=0),  # always lingers
        EsdbEventFeed(esdb, linger_seconds=0),  # never lingers
    ):
        batches = await _read_all(feed, len(history))
        assert [s for b in batches for s in b] == [e.sequence for e in history]
        assert all(len(b) <= 50 for b in batches)
