"""The IntegrationLog port's contract, run on InMemoryIntegrationLog and EsdbIntegrationLog.

The publisher appends each grid's integration events at their sequences and, after a crash,
re-sends what it may already have appended: an exact re-send must succeed and change
nothing, while a gap or different events at a taken place are a ConcurrencyError.
"""

from __future__ import annotations

import pytest
from esdbclient import AsyncEventStoreDBClient

from services.command.adapters.esdb_publishing import EsdbIntegrationLog
from services.command.adapters.memory import InMemoryIntegrationLog
from services.command.application.errors import ConcurrencyError
from services.command.application.ports import IntegrationLog
from services.common.envelope import Envelope
from tests.unit.query.seed import rover_walk


@pytest.fixture(params=["memory", "esdb"])
def log(request: pytest.FixtureRequest) -> IntegrationLog:
    if request.param == "memory":
        return InMemoryIntegrationLog()
    esdb: AsyncEventStoreDBClient = request.getfixturevalue("esdb")
    appender = request.getfixturevalue("appender")
    return EsdbIntegrationLog(esdb, timeout=5.0, appender=appender)


def walk(grid_id: str = "g", length: int = 12) -> list[Envelope]:
    """Sequences 1..length of one grid (GridCreated, two RoverCreated, then moves)."""
    return rover_walk(grid_id, 2, length)[:length]


def ids(envelopes: list[Envelope]) -> list[object]:
    return [e.event_id for e in envelopes]


async def test_a_grid_without_integration_events(log: IntegrationLog) -> None:
    assert await log.last_sequence("g") == 0
    assert await log.event_ids("g", 0, 10) == []


async def test_appends_continue_at_the_next_sequence(log: IntegrationLog) -> None:
    events = walk()
    await log.append("g", events[:1])
    await log.append("g", events[1:5])
    await log.append("g", events[5:])
    assert await log.last_sequence("g") == 12
    assert await log.event_ids("g", 0, 100) == ids(events)


async def test_event_ids_page_after_a_sequence(log: IntegrationLog) -> None:
    events = walk()
    await log.append("g", events)
    assert await log.event_ids("g", 0, 3) == ids(events[:3])
    assert await log.event_ids("g", 3, 4) == ids(events[3:7])
    assert await log.event_ids("g", 10, 5) == ids(events[10:])
    assert await log.event_ids("g", 12, 5) == []


async def test_grids_have_their_own_logs(log: IntegrationLog) -> None:
    g, h = walk("g", 5), walk("h", 3)
    await log.append("g", g)
    await log.append("h", h)
    assert (await log.last_sequence("g"), await log.last_sequence("h")) == (5, 3)
    assert await log.event_ids("h", 0, 10) == ids(h)


@pytest.mark.parametrize(("start", "stop"), [(0, 6), (0, 2), (2, 6), (5, 6)])
async def test_an_exact_resend_succeeds_and_changes_nothing(
    log: IntegrationLog, start: int, stop: int
) -> None:
    events = walk(length=6)
    await log.append("g", events)
    await log.append("g", events[start:stop])
    assert await log.last_sequence("g") == 6
    assert await log.event_ids("g", 0, 100) == ids(events)


async def test_a_gap_is_a_concurrency_error_and_stores_nothing(log: IntegrationLog) -> None:
    events = walk()
    await log.append("g", events[:3])
    with pytest.raises(ConcurrencyError):
        await log.append("g", events[4:6])
    assert await log.event_ids("g", 0, 100) == ids(events[:3])


async def test_a_first_append_must_start_at_sequence_one(log: IntegrationLog) -> None:
    with pytest.raises(ConcurrencyError):
        await log.append("g", walk()[1:3])
    assert await log.last_sequence("g") == 0


async def test_other_events_at_a_taken_place_are_a_concurrency_error(log: IntegrationLog) -> None:
    mine, theirs = walk("g", 6), walk("other", 6)
    await log.append("g", mine[:4])
    impostors = [
        Envelope(
            event_id=t.event_id, grid_id=m.grid_id, sequence=m.sequence,
            occurred_at=m.occurred_at, event=m.event,
        )
        for m, t in zip(mine[2:4], theirs[2:4], strict=True)
    ]  # fmt: skip
    with pytest.raises(ConcurrencyError):
        await log.append("g", impostors)
    assert await log.event_ids("g", 0, 100) == ids(mine[:4])


async def test_a_resend_running_past_the_end_is_a_concurrency_error(log: IntegrationLog) -> None:
    events = walk(length=6)
    await log.append("g", events[:4])
    with pytest.raises(ConcurrencyError):
        await log.append("g", events[2:6])
    assert await log.event_ids("g", 0, 100) == ids(events[:4])
