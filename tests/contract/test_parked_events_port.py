"""The ParkedEvents port's contract, run on InMemoryParkedEvents and EsdbParkedEvents.

Parking the same event twice lists it once; a resolution removes it from the unresolved
list; consumers are apart; what was written survives a new connection (the real store).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from esdbclient import AsyncEventStoreDBClient

from services.common.esdb_parked import EsdbParkedEvents
from services.common.parked import (
    BROADCASTER,
    PROJECTOR,
    InMemoryParkedEvents,
    ParkedEvent,
    ParkedEvents,
    PoisonEvent,
    parked_id,
)
from tests.contract.conftest import Connect

Open = Callable[[], Awaitable[ParkedEvents]]


@pytest.fixture(params=["memory", "esdb"])
def open_parked(request: pytest.FixtureRequest) -> Open:
    """Opens the port again over the same storage (for the real one: a new connection)."""
    if request.param == "memory":
        shared = InMemoryParkedEvents()

        async def same() -> ParkedEvents:
            return shared

        return same
    connect: Connect = request.getfixturevalue("connect")

    async def fresh() -> ParkedEvents:
        client: AsyncEventStoreDBClient = await connect()
        return EsdbParkedEvents(client)

    return fresh


def poison(event_id: str, grid_id: str = "g", revision: int = 2) -> PoisonEvent:
    return PoisonEvent(
        stream=f"integration-{grid_id}",
        revision=revision,
        commit_position=1234,
        event_id=event_id,
        event_type="RoverMovedForward.v1",
        grid_id=grid_id,
        reason="not a rover.v1.IntegrationEvent: Error parsing message",
    )


def parked(event_id: str, consumer: str = PROJECTOR, at: int = 1_000) -> ParkedEvent:
    return ParkedEvent.of(consumer, poison(event_id), at)


async def test_nothing_parked(open_parked: Open) -> None:
    port = await open_parked()
    assert await port.unresolved(PROJECTOR) == []
    assert await port.count(PROJECTOR) == 0
    assert not await port.resolve(PROJECTOR, parked_id(PROJECTOR, "e1"), "replayed")


async def test_a_parked_event_is_kept_with_every_field(open_parked: Open) -> None:
    port = await open_parked()
    record = parked("e1")
    assert await port.park(record)
    again = await open_parked()
    assert await again.unresolved(PROJECTOR) == [record]
    assert await again.count(PROJECTOR) == 1
    assert record.parked_id == parked_id(PROJECTOR, "e1")


async def test_parking_the_same_event_twice_lists_it_once(open_parked: Open) -> None:
    first = await open_parked()
    assert await first.park(parked("e1", at=1_000))
    second = await open_parked()  # a restarted instance meets the same event again
    assert not await second.park(parked("e1", at=2_000))
    assert [p.parked_at_ms for p in await second.unresolved(PROJECTOR)] == [1_000]


async def test_resolved_events_leave_the_list_in_order(open_parked: Open) -> None:
    port = await open_parked()
    for event_id in ("e1", "e2", "e3"):
        await port.park(parked(event_id))
    assert await port.resolve(PROJECTOR, parked_id(PROJECTOR, "e2"), "replayed")
    assert not await port.resolve(PROJECTOR, parked_id(PROJECTOR, "e2"), "replayed")
    again = await open_parked()
    listed = await again.unresolved(PROJECTOR)
    assert [p.event.event_id for p in listed] == ["e1", "e3"]
    assert await again.count(PROJECTOR) == 2


async def test_an_event_parked_again_after_its_resolution_is_listed_again(
    open_parked: Open,
) -> None:
    port = await open_parked()
    await port.park(parked("e1"))
    await port.resolve(PROJECTOR, parked_id(PROJECTOR, "e1"), "replayed")
    assert await port.park(parked("e1", at=5_000))
    assert [p.parked_at_ms for p in await port.unresolved(PROJECTOR)] == [5_000]


async def test_consumers_are_apart(open_parked: Open) -> None:
    port = await open_parked()
    await port.park(parked("e1", PROJECTOR))
    await port.park(parked("e1", BROADCASTER))
    assert parked_id(PROJECTOR, "e1") != parked_id(BROADCASTER, "e1")
    assert not await port.resolve(BROADCASTER, parked_id(PROJECTOR, "e1"), "replayed")
    assert await port.resolve(BROADCASTER, parked_id(BROADCASTER, "e1"), "replayed")
    assert await port.count(PROJECTOR) == 1
    assert await port.count(BROADCASTER) == 0
