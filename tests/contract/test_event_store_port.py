"""One contract for the EventStore port, run on InMemoryEventStore and EsdbEventStore alike."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from esdbclient import AsyncEventStoreDBClient

from domain.events import GridCreated, GridEvent, RoverCreated, RoverTurnedLeft
from domain.values import Direction, GridId, Position, RoverId, Topology
from services.command.adapters.esdb_store import EsdbEventStore
from services.command.adapters.memory import InMemoryEventStore
from services.command.application.errors import ConcurrencyError, StoreUnavailableError
from services.command.application.ports import EventMetadata, EventStore, PendingEvent

_WHEN = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture(params=["memory", "esdb"])
def store(request: pytest.FixtureRequest) -> EventStore:
    if request.param == "memory":
        return InMemoryEventStore()
    appender = request.getfixturevalue("appender")
    esdb: AsyncEventStoreDBClient = request.getfixturevalue("esdb")
    return EsdbEventStore(esdb, timeout=5.0, appender=appender)


def pending(event: GridEvent, request_id: str = "") -> PendingEvent:
    return PendingEvent(
        event_id=uuid.uuid4(),
        event=event,
        metadata=EventMetadata(
            occurred_at=_WHEN, command="Test", request_id=request_id, fingerprint="f" * 8
        ),
    )


def history(grid: str, turns: int = 0) -> list[PendingEvent]:
    gid, rid = GridId(grid), RoverId("r")
    events: list[GridEvent] = [
        GridCreated(
            grid_id=gid,
            width=3,
            height=3,
            topology=Topology.BOUNDED,
            obstacles=frozenset({Position(2, 2)}),
        ),
        RoverCreated(grid_id=gid, rover_id=rid, position=Position(0, 0), facing=Direction.N),
    ]
    facing = Direction.N
    for _ in range(turns):
        events.append(
            RoverTurnedLeft(
                grid_id=gid,
                rover_id=rid,
                position=Position(0, 0),
                from_facing=facing,
                to_facing=facing.left(),
            )
        )
        facing = facing.left()
    return [pending(e, request_id="req") for e in events]


def grid_name() -> str:
    return f"contract-{uuid.uuid4().hex[:10]}"


async def test_an_unknown_grid_loads_empty(store: EventStore) -> None:
    assert await store.load(grid_name()) == []


async def test_append_then_load_round_trips_events_ids_and_metadata(store: EventStore) -> None:
    grid = grid_name()
    written = history(grid, turns=2)
    assert await store.append(grid, 0, written) == 4
    loaded = await store.load(grid)
    assert [s.event for s in loaded] == [p.event for p in written]
    assert [s.event_id for s in loaded] == [p.event_id for p in written]
    assert [s.version for s in loaded] == [1, 2, 3, 4]
    assert all(s.grid_id == grid for s in loaded)
    assert loaded[0].metadata == written[0].metadata


async def test_load_from_a_version_with_a_limit(store: EventStore) -> None:
    grid = grid_name()
    await store.append(grid, 0, history(grid, turns=5))
    assert [s.version for s in await store.load(grid, after_version=3)] == [4, 5, 6, 7]
    assert [s.version for s in await store.load(grid, after_version=2, limit=2)] == [3, 4]
    assert await store.load(grid, after_version=7) == []


async def test_appends_continue_at_the_expected_version(store: EventStore) -> None:
    grid = grid_name()
    first = history(grid, turns=1)
    await store.append(grid, 0, first[:2])
    assert await store.append(grid, 2, first[2:]) == 3


@pytest.mark.parametrize("expected", [0, 1, 3])
async def test_a_wrong_expected_version_is_a_concurrency_error_and_stores_nothing(
    store: EventStore, expected: int
) -> None:
    grid = grid_name()
    await store.append(grid, 0, history(grid))
    extra = history(grid, turns=1)[2:]
    with pytest.raises(ConcurrencyError):
        await store.append(grid, expected, extra)
    assert len(await store.load(grid)) == 2


async def test_expecting_a_stream_that_does_not_exist_is_a_conflict(store: EventStore) -> None:
    grid = grid_name()
    with pytest.raises(ConcurrencyError):
        await store.append(grid, 2, history(grid)[:1])
    assert await store.load(grid) == []


async def test_an_unreachable_store_is_unavailable() -> None:
    client = AsyncEventStoreDBClient("esdb://127.0.0.1:1?Tls=false")
    await client.connect()
    store = EsdbEventStore(client, timeout=2.0)
    with pytest.raises(StoreUnavailableError):
        await store.load("anything")
    await client.close()
    memory = InMemoryEventStore()
    memory.available = False
    with pytest.raises(StoreUnavailableError):
        await memory.load("anything")
